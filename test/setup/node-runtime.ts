// The Node.js releases the end-to-end tests run profcol (and dd-trace-js) under: the machine's
// node, and Node 24 LTS installed from the npm registry's `node` package (`npm i node@24` puts a
// real Node 24 binary in node_modules/.bin/node; nothing is downloaded from elsewhere). The
// install lives in the profcol cache dir, outside the repository, and is made once.
// Pure Node APIs; no test framework. See test/setup/README.md.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { profcolCacheDir } from './go-build.js';

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

const INSTALL_TIMEOUT_MS = 10 * 60_000;

function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...opts, maxBuffer: 16 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${String(stderr).trim()}`));
      else resolve(String(stdout));
    });
  });
}

async function versionOf(bin: string): Promise<string | undefined> {
  try {
    return (await run(bin, ['--version'], { timeout: 30_000 })).trim();
  } catch {
    return undefined;
  }
}

async function installUncached(major: number): Promise<string> {
  const root = join(profcolCacheDir(), 'node');
  const finalDir = join(root, `node-${major}`);
  const finalBin = join(finalDir, 'node_modules', '.bin', 'node');
  const wanted = (v: string | undefined) => v !== undefined && v.startsWith(`v${major}.`);
  if (wanted(await versionOf(finalBin))) return finalBin;

  await fsp.mkdir(root, { recursive: true });
  // Installed in a folder of its own, then renamed into place (rename-if-absent: of two
  // concurrent installs, the first one finished wins; the other is removed).
  const tmpDir = join(root, `.tmp-node-${major}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(tmpDir, { recursive: true });
  try {
    await fsp.writeFile(join(tmpDir, 'package.json'), JSON.stringify({ name: `profcol-node-${major}`, private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', tmpDir, `node@${major}`], { cwd: tmpDir, timeout: INSTALL_TIMEOUT_MS });
    const version = await versionOf(join(tmpDir, 'node_modules', '.bin', 'node'));
    if (!wanted(version)) {
      throw new Error(`npm install node@${major} in ${tmpDir} gave no Node ${major} binary at node_modules/.bin/node (it says ${version ?? 'nothing'}); the tests need the npm registry`);
    }
    if (wanted(await versionOf(finalBin))) return finalBin; // another install finished first
    await fsp.rm(finalDir, { recursive: true, force: true }); // a broken earlier install
    try {
      await fsp.rename(tmpDir, finalDir);
    } catch (e) {
      if (!wanted(await versionOf(finalBin))) throw e;
    }
  } finally {
    await fsp.rm(tmpDir, { recursive: true, force: true });
  }
  return finalBin;
}

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
    p = installUncached(major);
    installs.set(major, p);
    p.catch(() => installs.delete(major));
  }
  return p;
}
