// Installs a Node.js release from the npm registry's `node` package (`npm install node@<major>`
// puts a real binary in node_modules/.bin/node; nothing is downloaded from elsewhere) into
// `<cacheDir>/node/node-<major>/`, once. Plain JavaScript so that scripts/test.mjs (before
// anything is built) and the end-to-end tests (test/setup/node-runtime.ts) share it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { profcolCacheDir } from './cache-dir.mjs';

export { profcolCacheDir };

const INSTALL_TIMEOUT_MS = 10 * 60_000;

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...opts, maxBuffer: 16 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${String(stderr).trim()}`));
      else resolve(String(stdout));
    });
  });
}

async function versionOf(bin) {
  try {
    return (await run(bin, ['--version'], { timeout: 30_000 })).trim();
  } catch {
    return undefined;
  }
}

/**
 * The path of a Node `<major>` binary, `<cacheDir>/node/node-<major>/node_modules/.bin/node`,
 * installed with `npm install node@<major>` the first time (in a folder of its own, checked to
 * answer `v<major>.`, then renamed into place: of two concurrent installs the first one
 * finished wins). Rejects, saying why, when the registry cannot be had.
 * @param {number} major
 * @param {string} [cacheDir]
 * @returns {Promise<string>}
 */
export async function installNode(major, cacheDir = profcolCacheDir()) {
  const root = join(cacheDir, 'node');
  const finalDir = join(root, `node-${major}`);
  const finalBin = join(finalDir, 'node_modules', '.bin', 'node');
  const wanted = (v) => v !== undefined && v.startsWith(`v${major}.`);
  if (wanted(await versionOf(finalBin))) return finalBin;

  await fsp.mkdir(root, { recursive: true });
  const tmpDir = join(root, `.tmp-node-${major}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(tmpDir, { recursive: true });
  try {
    await fsp.writeFile(join(tmpDir, 'package.json'), JSON.stringify({ name: `profcol-node-${major}`, private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', tmpDir, `node@${major}`], {
      cwd: tmpDir,
      timeout: INSTALL_TIMEOUT_MS,
    });
    const version = await versionOf(join(tmpDir, 'node_modules', '.bin', 'node'));
    if (!wanted(version)) {
      throw new Error(
        `npm install node@${major} in ${tmpDir} gave no Node ${major} binary at node_modules/.bin/node (it says ${version ?? 'nothing'}); the tests need the npm registry`,
      );
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
