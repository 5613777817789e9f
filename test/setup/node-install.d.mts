/** `${PROFCOL_CACHE_DIR:-$XDG_CACHE_HOME/profcol or ~/.cache/profcol}`. */
export function profcolCacheDir(): string;
/** The path of a Node `<major>` binary installed from the npm registry's `node` package into the cache (see node-install.mjs). */
export function installNode(major: number, cacheDir?: string): Promise<string>;
