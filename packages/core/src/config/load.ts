/**
 * Reads YAML configuration files into one tree: `${env:NAME}` / `${env:NAME:-default}`
 * expansion, `$$` for a literal dollar, anchors, aliases and `<<` merge keys, later files merged
 * over earlier ones, and the file and line of every key remembered so that errors can point
 * at them. Values that came from the environment are remembered too, so that no error message
 * echoes them (they are often secrets).
 */
import fs from 'node:fs';
import path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Alias, type Node } from 'yaml';
import type { ConfigIssue } from '../errors.js';
import { redactValues } from '../schema.js';

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
  /**
   * True when a file could not be read or parsed: the tree lacks what it holds, so checks of
   * the whole (is there a pipeline, is every referenced component defined) would only add noise.
   */
  incomplete: boolean;
  /** The folder of the first file. */
  configDir: string;
  files: string[];
  plugins: PluginSpec[];
  /** The location of a path, or of its nearest ancestor that has one. */
  locate(path: readonly string[]): Location | undefined;
  /**
   * `message` about the value at `path` with every value that came from `${env:...}` at or under
   * `path` replaced by a mention of its variable, so that an error never echoes a secret.
   */
  redact(path: readonly string[], message: string): string;
}

export const PATH_SEPARATOR = '::';

type Env = Record<string, string | undefined>;

const REFERENCE = /\$\$|\$\{([^}]*)\}/g;

/**
 * Expands `${env:NAME}`, `${env:NAME:-default}` and `$$` in one string; `variables` lists the
 * variables whose values went into it and `substituted` those values (defaults excluded).
 */
export function expandEnv(text: string, env: Env): { value: string; problems: string[]; variables: string[]; substituted: string[] } {
  const problems: string[] = [];
  const variables: string[] = [];
  const substituted: string[] = [];
  const value = text.replace(REFERENCE, (whole, inner: string | undefined) => {
    if (whole === '$$') return '$';
    const match = /^env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(inner ?? '');
    if (!match) {
      problems.push(`"${whole}" is not a supported reference (use \${env:NAME} or \${env:NAME:-default}; write $$ for a literal $)`);
      return whole;
    }
    const [, name, fallback] = match;
    variables.push(name!);
    const found = env[name!];
    if (found !== undefined && found !== '') {
      substituted.push(found);
      return found;
    }
    if (fallback !== undefined) return fallback;
    problems.push(`environment variable ${name} is not set and no default is given (\${env:${name}:-default})`);
    return '';
  });
  return { value, problems, variables, substituted };
}

/** A value made (in whole or in part) from environment variables: never shown in a message. */
interface EnvValue {
  /** The value after expansion, and each variable's own value. */
  texts: string[];
  /** How to mention it instead: `the value of ${env:API_KEY}`. */
  mention: string;
}

interface FileTree {
  tree: unknown;
  locations: Map<string, Location>;
  issues: ConfigIssue[];
  /** Values from the environment, by the path of the value. */
  envValues: Map<string, EnvValue>;
  /** False when the file could not be parsed (syntax error, alias bomb, not a map). */
  complete: boolean;
}

/**
 * Aliases may add at most ten times the values the file itself holds, and at least 10,000: room
 * for any configuration that reuses its sections, while a "billion laughs" document (nine levels
 * of ten aliases each: 10^9 values from 500 bytes) is refused after 10,000 values, in
 * milliseconds, and a larger hostile file costs what a file ten times its size would.
 */
const MIN_ALIAS_EXPANSION = 10_000;
const ALIAS_EXPANSION_PER_VALUE = 10;

/** Stops the conversion of a file at its first fatal problem. */
class FatalConfigProblem extends Error {
  constructor(readonly issue: ConfigIssue) {
    super(issue.message);
  }
}

/** Parses one YAML text; `file` is used for messages and locations only. */
export function parseConfigText(text: string, file: string, env: Env = process.env): FileTree {
  const lineCounter = new LineCounter();
  // Duplicate keys are found below, in one pass: the yaml library's own check (`uniqueKeys`)
  // compares every key of a map with every earlier one, and took 60 s for an 8 MB file.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, merge: true });
  const issues: ConfigIssue[] = [];
  const locations = new Map<string, Location>();
  const envValues = new Map<string, EnvValue>();
  for (const error of doc.errors) {
    const line = error.linePos?.[0]?.line ?? lineCounter.linePos(error.pos[0]).line;
    issues.push({ path: '', message: `YAML syntax error: ${error.message.split('\n')[0]}`, file, line });
  }
  if (doc.errors.length > 0) return { tree: {}, locations, issues, envValues, complete: false };

  const lineOf = (node: unknown): number | undefined => {
    const range = (node as Node | null | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };

  // An alias names the last node with its anchor before it, in document order. One pass finds
  // them all (the library's `Alias.resolve` walks the whole document for each alias).
  const aliasTargets = new Map<Alias, Node>();
  let fileValues = 0;
  {
    const anchors = new Map<string, Node>();
    visit(doc, {
      Node: (_key, node) => {
        fileValues++;
        if (isAlias(node)) {
          const target = anchors.get(node.source);
          if (target) aliasTargets.set(node, target);
        } else if (node.anchor) anchors.set(node.anchor, node);
      },
    });
  }
  const aliasLimit = Math.max(MIN_ALIAS_EXPANSION, ALIAS_EXPANSION_PER_VALUE * fileValues);
  let expandedValues = 0;
  /** The alias being expanded that is written in the file (not itself reached through an alias). */
  let outerAlias: Alias | undefined;
  const expanding = new Set<Node>();

  // Paths travel as `::`-joined keys: one string per value instead of an array.
  const child = (at: string, key: string) => (at === '' ? key : `${at}${PATH_SEPARATOR}${key}`);

  const fatal = (at: string, node: unknown, message: string): never => {
    throw new FatalConfigProblem({ path: at, message, file, line: lineOf(node) ?? 1 });
  };

  const resolveAlias = (alias: Alias, at: string): Node => {
    const target = aliasTargets.get(alias);
    if (!target) return fatal(at, alias, `alias *${alias.source} names no anchor before it (write &${alias.source} on the value to reuse, above this line)`);
    if (expanding.has(target)) return fatal(at, alias, `alias *${alias.source} is inside the value it names, which would never end`);
    return target;
  };

  const convertMap = (node: Node & { items: { key: unknown; value: unknown }[] }, at: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const own: { key: unknown; value: unknown }[] = [];
    const mergeSources: unknown[] = [];
    for (const pair of node.items) {
      // `<<: *base` or `<<: [*a, *b]` (the library marks the key once `merge` is on).
      if (isScalar(pair.key) && typeof pair.key.value === 'symbol') mergeSources.push(...(isSeq(pair.value) ? pair.value.items : [pair.value]));
      else own.push(pair);
    }
    // YAML's merge rule (https://yaml.org/type/merge.html): the map's own keys win over merged
    // ones, and among the merged maps the earlier wins. So the last source goes in first, and the
    // own keys last, which also leaves their lines as the locations of their paths.
    for (const item of mergeSources.reverse()) {
      const source = isAlias(item) ? resolveAlias(item, at) : item;
      if (!isMap(source)) fatal(at, item, '"<<" merges maps only: give it an alias of a map (<<: *base) or a list of them (<<: [*a, *b])');
      Object.assign(out, convert(item, at));
    }
    const firstLine = new Map<string, number | undefined>();
    for (const pair of own) {
      const keyNode = isAlias(pair.key) ? resolveAlias(pair.key, at) : pair.key;
      // A map or list as a key (`? {a: 1}`) names nothing profcol reads, and turning it into a
      // string runs the yaml library's own conversion, which throws on a `<<` inside it.
      if (!isScalar(keyNode)) fatal(at, pair.key, 'a key must be a plain value (a name), not a map or a list');
      const key = String((keyNode as { value: unknown }).value);
      const keyPath = child(at, key);
      const line = lineOf(pair.key) ?? lineOf(pair.value);
      if (firstLine.has(key)) {
        const first = firstLine.get(key);
        issues.push({
          path: keyPath,
          message: `"${key}" appears twice in one map${first ? ` (first at line ${first})` : ''}; keep one`,
          file,
          ...(line ? { line } : {}),
        });
        continue;
      }
      firstLine.set(key, line);
      if (line !== undefined) locations.set(keyPath, { file, line });
      out[key] = convert(pair.value, keyPath);
    }
    return out;
  };

  const convert = (node: unknown, at: string): unknown => {
    if (outerAlias && ++expandedValues > aliasLimit) {
      fatal(
        at,
        outerAlias,
        `aliases expand to more than ${aliasLimit.toLocaleString('en-US')} values (the file itself holds ${fileValues.toLocaleString('en-US')}); refusing it as an alias bomb`,
      );
    }
    if (isAlias(node)) {
      const target = resolveAlias(node, at);
      const outermost = outerAlias === undefined;
      if (outermost) outerAlias = node;
      expanding.add(target);
      try {
        return convert(target, at);
      } finally {
        expanding.delete(target);
        if (outermost) outerAlias = undefined;
      }
    }
    if (isMap(node)) {
      expanding.add(node);
      try {
        return convertMap(node as Node & { items: { key: unknown; value: unknown }[] }, at);
      } finally {
        expanding.delete(node);
      }
    }
    if (isSeq(node)) {
      expanding.add(node);
      try {
        return node.items.map((item, index) => {
          const itemPath = child(at, String(index));
          const line = lineOf(item);
          if (line !== undefined) locations.set(itemPath, { file, line });
          return convert(item, itemPath);
        });
      } finally {
        expanding.delete(node);
      }
    }
    if (isScalar(node)) {
      if (typeof node.value !== 'string') return node.value;
      const { value, problems, variables, substituted } = expandEnv(node.value, env);
      for (const message of problems) issues.push({ path: at, message, file, line: lineOf(node) });
      if (variables.length > 0)
        envValues.set(at, { texts: [value, ...substituted], mention: `the value of ${variables.map((name) => `\${env:${name}}`).join(' and ')}` });
      return value;
    }
    return node ?? null;
  };

  let tree: unknown;
  try {
    tree = convert(doc.contents, '');
  } catch (error) {
    if (!(error instanceof FatalConfigProblem)) throw error;
    issues.push(error.issue);
    return { tree: {}, locations, issues, envValues, complete: false };
  }
  if (tree !== null && (typeof tree !== 'object' || Array.isArray(tree))) {
    issues.push({ path: '', message: 'the configuration must be a YAML map at its top level', file, line: 1 });
    return { tree: {}, locations, issues, envValues, complete: false };
  }
  return { tree: tree ?? {}, locations, issues, envValues, complete: true };
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
  // Each value from the environment under every path above it, so that a message about a map
  // finds the values inside it at once.
  const envValuesUnder = new Map<string, EnvValue[]>();
  let incomplete = false;
  let tree: unknown = {};
  if (files.length === 0) issues.push({ path: '', message: 'no configuration file given (--config FILE)' });
  for (const file of files) {
    const absolute = path.resolve(file);
    let text: string;
    try {
      text = fs.readFileSync(absolute, 'utf8');
    } catch (error) {
      issues.push({ path: '', message: `cannot read configuration file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, file });
      incomplete = true;
      continue;
    }
    const parsed = parseConfigText(text, file, env);
    issues.push(...parsed.issues);
    if (!parsed.complete) incomplete = true;
    for (const [key, location] of parsed.locations) locations.set(key, location);
    for (const [key, value] of parsed.envValues) {
      const parts = key === '' ? [] : key.split(PATH_SEPARATOR);
      for (let n = 0; n <= parts.length; n++) {
        const prefix = parts.slice(0, n).join(PATH_SEPARATOR);
        const list = envValuesUnder.get(prefix);
        if (list) list.push(value);
        else envValuesUnder.set(prefix, [value]);
      }
    }
    const fileTree = parsed.tree as Record<string, unknown>;
    // Plugins accumulate across files and resolve from the file that names them.
    if ('plugins' in fileTree) {
      const list = fileTree.plugins;
      if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) {
        issues.push({ path: 'plugins', message: 'expected a list of package names or paths', ...(locations.get('plugins') ?? { file }) });
      } else {
        list.forEach((specifier, index) =>
          plugins.push({ specifier, fromDir: path.dirname(absolute), location: parsed.locations.get(`plugins${PATH_SEPARATOR}${index}`) }),
        );
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
  const redact = (at: readonly string[], message: string): string => {
    let out = message;
    for (const { texts, mention } of envValuesUnder.get(at.join(PATH_SEPARATOR)) ?? []) out = redactValues(out, texts, mention);
    return out;
  };
  return {
    tree: tree as Record<string, unknown>,
    issues,
    incomplete,
    configDir: files[0] ? path.dirname(path.resolve(files[0])) : process.cwd(),
    files,
    plugins,
    locate,
    redact,
  };
}
