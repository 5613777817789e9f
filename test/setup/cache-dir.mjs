// Where the tests keep what they build and install once (Go programs, OTLP backends, Node
// releases): one rule, shared by test/setup/go-build.ts, node-install.mjs (and through it
// scripts/test.mjs and scripts/vitest-node.mjs). test/backends/build.sh and bench/lib/cache.mjs
// apply the same rule in their own language. Plain JavaScript so scripts can import it before
// anything is built.
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * `${PROFCOL_CACHE_DIR:-$XDG_CACHE_HOME/profcol or ~/.cache/profcol}`, read on every call (not at
 * import) so that what the environment says at the time of a build is what the build uses.
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {string}
 */
export function profcolCacheDir(env = process.env) {
  const explicit = env['PROFCOL_CACHE_DIR'];
  if (explicit) return explicit;
  const xdg = env['XDG_CACHE_HOME'];
  return xdg ? join(xdg, 'profcol') : join(homedir(), '.cache', 'profcol');
}
