export { profcolCacheDir } from './cache-dir.mjs';
/** The path of a Node `<major>` binary installed from the npm registry's `node` package into the cache (see node-install.mjs). */
export function installNode(major: number, cacheDir?: string): Promise<string>;
