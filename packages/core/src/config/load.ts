/**
 * Reads YAML configuration files into one tree: `${env:NAME}` / `${env:NAME:-default}`
 * expansion, `$$` for a literal dollar, later files merged over earlier ones, and the file
 * and line of every key remembered so that errors can point at them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { ConfigIssue } from '../errors.js';

export interface Location {
  file: string;
  line: number;
}

export interface PluginSpec {
  /** A package name or a path, as written. */
  specifier: string;
  /** The folder of the file that named it: packages and relative paths resolve from here. */
  fromDir: string;
  location: Location | undefined;
}

export interface LoadedConfig {
  tree: Record<string, unknown>;
  issues: ConfigIssue[];
  /** The folder of the first file. */
  configDir: string;
  files: string[];
  plugins: PluginSpec[];
  /** The location of a path, or of its nearest ancestor that has one. */
  locate(path: readonly string[]): Location | undefined;
}

export const PATH_SEPARATOR = '::';

type Env = Record<string, string | undefined>;

const REFERENCE = /\$\$|\$\{([^}]*)\}/g;

/** Expands `${env:NAME}`, `${env:NAME:-default}` and `$$` in one string. */
export function expandEnv(text: string, env: Env): { value: string; problems: string[] } {
  const problems: string[] = [];
  const value = text.replace(REFERENCE, (whole, inner: string | undefined) => {
    if (whole === '$$') return '$';
    const match = /^env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(inner ?? '');
    if (!match) {
      problems.push(`"${whole}" is not a supported reference (use \${env:NAME} or \${env:NAME:-default}; write $$ for a literal $)`);
      return whole;
    }
    const [, name, fallback] = match;
    const found = env[name!];
    if (found !== undefined && found !== '') return found;
    if (fallback !== undefined) return fallback;
    problems.push(`environment variable ${name} is not set and no default is given (\${env:${name}:-default})`);
    return '';
  });
  return { value, problems };
}

interface FileTree {
  tree: unknown;
  locations: Map<string, Location>;
  issues: ConfigIssue[];
}

/** Parses one YAML text; `file` is used for messages and locations only. */
export function parseConfigText(text: string, file: string, env: Env = process.env): FileTree {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  const locations = new Map<string, Location>();
  for (const error of doc.errors) {
    const line = error.linePos?.[0]?.line ?? lineCounter.linePos(error.pos[0]).line;
    issues.push({ path: '', message: `YAML syntax error: ${error.message.split('\n')[0]}`, file, line });
  }
  if (doc.errors.length > 0) return { tree: {}, locations, issues };

  const lineOf = (node: Node | null | undefined): number | undefined => (node?.range ? lineCounter.linePos(node.range[0]).line : undefined);

  const convert = (node: unknown, at: string[]): unknown => {
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyPath = [...at, key];
        const line = lineOf(pair.key as Node) ?? lineOf(pair.value as Node);
        if (line !== undefined) locations.set(keyPath.join(PATH_SEPARATOR), { file, line });
        out[key] = convert(pair.value, keyPath);
      }
      return out;
    }
    if (isSeq(node)) {
      return node.items.map((item, index) => {
        const itemPath = [...at, String(index)];
        const line = lineOf(item as Node);
        if (line !== undefined) locations.set(itemPath.join(PATH_SEPARATOR), { file, line });
        return convert(item, itemPath);
      });
    }
    if (isScalar(node)) {
      if (typeof node.value !== 'string') return node.value;
      const { value, problems } = expandEnv(node.value, env);
      for (const message of problems) issues.push({ path: at.join(PATH_SEPARATOR), message, file, line: lineOf(node) });
      return value;
    }
    return node ?? null;
  };

  const tree = convert(doc.contents, []);
  if (tree !== null && (typeof tree !== 'object' || Array.isArray(tree))) {
    issues.push({ path: '', message: 'the configuration must be a YAML map at its top level', file, line: 1 });
    return { tree: {}, locations, issues };
  }
  return { tree: tree ?? {}, locations, issues };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Merges `over` onto `base`: maps key by key, everything else (lists too) replaced. */
export function mergeTrees(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = key in base ? mergeTrees(base[key], value) : value;
  return out;
}

/** Loads and merges configuration files in order. Reading problems become issues, never throws. */
export function loadConfigFiles(files: string[], env: Env = process.env): LoadedConfig {
  const issues: ConfigIssue[] = [];
  const locations = new Map<string, Location>();
  const plugins: PluginSpec[] = [];
  let tree: unknown = {};
  if (files.length === 0) issues.push({ path: '', message: 'no configuration file given (--config FILE)' });
  for (const file of files) {
    const absolute = path.resolve(file);
    let text: string;
    try {
      text = fs.readFileSync(absolute, 'utf8');
    } catch (error) {
      issues.push({ path: '', message: `cannot read configuration file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, file });
      continue;
    }
    const parsed = parseConfigText(text, file, env);
    issues.push(...parsed.issues);
    for (const [key, location] of parsed.locations) locations.set(key, location);
    const fileTree = parsed.tree as Record<string, unknown>;
    // Plugins accumulate across files and resolve from the file that names them.
    if ('plugins' in fileTree) {
      const list = fileTree.plugins;
      if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) {
        issues.push({ path: 'plugins', message: 'expected a list of package names or paths', ...(locations.get('plugins') ?? { file }) });
      } else {
        list.forEach((specifier, index) => plugins.push({ specifier, fromDir: path.dirname(absolute), location: parsed.locations.get(`plugins${PATH_SEPARATOR}${index}`) }));
      }
      delete fileTree.plugins;
    }
    tree = mergeTrees(tree, fileTree);
  }
  const locate = (at: readonly string[]): Location | undefined => {
    for (let n = at.length; n > 0; n--) {
      const found = locations.get(at.slice(0, n).join(PATH_SEPARATOR));
      if (found) return found;
    }
    return undefined;
  };
  return {
    tree: tree as Record<string, unknown>,
    issues,
    configDir: files[0] ? path.dirname(path.resolve(files[0])) : process.cwd(),
    files,
    plugins,
    locate,
  };
}
