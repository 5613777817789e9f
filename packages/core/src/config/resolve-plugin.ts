/**
 * Finds and imports plugin packages named in `plugins:`. Packages resolve from the folder
 * of the configuration file that names them (so a user's own node_modules works, wherever
 * profcol itself is installed); `./` and `../` paths resolve against that folder too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginError, checkPlugin, type Plugin } from '../plugin.js';
import type { PluginSpec } from './load.js';

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** The ESM entry of a package folder, from its `exports` map (import/default) or `main`. */
function packageEntry(dir: string, label: string): string {
  const manifestPath = path.join(dir, 'package.json');
  if (!fs.existsSync(manifestPath)) {
    if (fs.existsSync(path.join(dir, 'index.js'))) return path.join(dir, 'index.js');
    throw new PluginError(label, `${dir} has no package.json`);
  }
  const manifest = readJson(manifestPath);
  let target: unknown = manifest.exports;
  if (target && typeof target === 'object' && '.' in (target as object)) target = (target as Record<string, unknown>)['.'];
  while (target && typeof target === 'object' && !Array.isArray(target)) {
    const conditions = target as Record<string, unknown>;
    target = conditions.import ?? conditions.node ?? conditions.default;
  }
  const relative = typeof target === 'string' ? target : typeof manifest.main === 'string' ? manifest.main : 'index.js';
  return path.resolve(dir, relative);
}

/** The file that `spec` names, without importing it. */
export function resolvePluginPath(spec: PluginSpec): string {
  const { specifier, fromDir } = spec;
  if (specifier.startsWith('.') || path.isAbsolute(specifier)) {
    const target = path.resolve(fromDir, specifier);
    if (!fs.existsSync(target)) throw new PluginError(specifier, `no file or folder at ${target}`);
    return fs.statSync(target).isDirectory() ? packageEntry(target, specifier) : target;
  }
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', specifier);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return packageEntry(candidate, specifier);
    if (path.dirname(dir) === dir) break;
  }
  throw new PluginError(specifier, `package not found in node_modules of ${fromDir} or any parent folder (install it there: npm install ${specifier})`);
}

export async function importPlugin(spec: PluginSpec): Promise<Plugin> {
  const entry = resolvePluginPath(spec);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
  } catch (error) {
    throw new PluginError(spec.specifier, `failed to load ${entry}: ${(error as Error).message}`, { cause: error });
  }
  return checkPlugin(module.default ?? module.plugin, spec.specifier);
}
