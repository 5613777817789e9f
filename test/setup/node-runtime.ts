// The Node.js releases the end-to-end tests run profcol (and dd-trace-js) under: the machine's
// node, and Node 24 LTS installed from the npm registry's `node` package (`npm i node@24` puts a
// real Node 24 binary in node_modules/.bin/node; nothing is downloaded from elsewhere). The
// install lives in the profcol cache dir, outside the repository, and is made once.
// Pure Node APIs; no test framework. See test/setup/README.md.

import { profcolCacheDir } from './go-build.js';
import { installNode } from './node-install.mjs';

/** A Node.js runtime the tests can start a process with. */
export interface NodeRuntime {
  /** For test names: `the machine's Node (v20.20.2)`, `Node 24`. */
  label: string;
  /** The major release from the registry, or undefined for the node running the tests. */
  major: number | undefined;
}

/** Node 24 LTS: what profcol's users run. */
export const NODE_24: NodeRuntime = { label: 'Node 24', major: 24 };
/** The node running the tests (the README's `pnpm test`). */
export const MACHINE_NODE: NodeRuntime = { label: `the machine's Node (${process.version})`, major: undefined };
/** Every runtime profcol is tested under, the machine's first. */
export const NODE_RUNTIMES: NodeRuntime[] = process.versions.node.startsWith('24.') ? [MACHINE_NODE] : [MACHINE_NODE, NODE_24];

const installs = new Map<number, Promise<string>>();

/**
 * The node binary of a runtime: process.execPath for the machine's, else
 * `<cache>/node/node-<major>/node_modules/.bin/node`, installed with `npm install node@<major>`
 * the first time (≈6 s) and reused after. Rejects, saying why, when the registry cannot be had.
 */
export function nodeBinary(runtime: NodeRuntime): Promise<string> {
  const major = runtime.major;
  if (major === undefined) return Promise.resolve(process.execPath);
  let p = installs.get(major);
  if (!p) {
    p = installNode(major, profcolCacheDir());
    installs.set(major, p);
    p.catch(() => installs.delete(major));
  }
  return p;
}
