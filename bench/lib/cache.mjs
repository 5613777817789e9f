// Where benches keep what they build or generate once: <cache>/bench/, with <cache> being
// $PROFCOL_CACHE_DIR, else $XDG_CACHE_HOME/profcol, else ~/.cache/profcol (the tests' cache).
// It lies outside the repository; `rm -rf ~/.cache/profcol/bench` is always safe.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The go binary: $PROFCOL_GO, else `go` from the PATH. */
export const GO = process.env.PROFCOL_GO ?? 'go';

/** `<cache>/bench`, created if missing. */
export function benchCacheDir() {
  const root =
    process.env.PROFCOL_CACHE_DIR ||
    (process.env.XDG_CACHE_HOME ? path.join(process.env.XDG_CACHE_HOME, 'profcol') : path.join(os.homedir(), '.cache', 'profcol'));
  const dir = path.join(root, 'bench');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The Go toolchain's version line, or undefined when there is no Go. */
export function goVersion() {
  try {
    return execFileSync(GO, ['version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function sourcesOf(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && (e.name === 'go.mod' || e.name === 'go.sum' || e.name.endsWith('.go')))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .sort();
}

/**
 * Builds the Go package `pkg` (e.g. `./loadgen`) of the module in `moduleDir` once per
 * (toolchain, module sources) into `<cache>/bench/<name>-<hash>/<name>` and returns that path.
 * Concurrent builds are safe: each builds into its own temporary folder, then renames it.
 */
export function buildGo(moduleDir, pkg, name) {
  const h = createHash('sha256');
  h.update(execFileSync(GO, ['version'], { encoding: 'utf8' }));
  h.update(`${pkg}\0`);
  for (const file of sourcesOf(moduleDir)) {
    h.update(`${path.relative(moduleDir, file)}\0`);
    h.update(fs.readFileSync(file));
  }
  const dir = path.join(benchCacheDir(), `${name}-${h.digest('hex').slice(0, 16)}`);
  const bin = path.join(dir, name);
  if (fs.existsSync(bin)) return bin;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    console.error(`building ${path.join(moduleDir, pkg)} → ${bin}`);
    execFileSync(GO, ['build', '-buildvcs=false', '-o', path.join(tmp, name), pkg], { cwd: moduleDir, stdio: ['ignore', 'inherit', 'inherit'] });
    try {
      fs.renameSync(tmp, dir);
    } catch (error) {
      if (!fs.existsSync(bin)) throw error; // another build won the race: use its binary
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}
