/** `${PROFCOL_CACHE_DIR:-$XDG_CACHE_HOME/profcol or ~/.cache/profcol}`, read on every call. */
export function profcolCacheDir(env?: NodeJS.ProcessEnv): string;
