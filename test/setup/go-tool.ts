// A Go command-line tool the tests run (helm), built once with `go install module@version`
// from the Go module proxy and cached under the profcol cache folder, keyed by the module,
// its version and `go version`. A build goes to a temporary folder and is renamed into place,
// so a half-built tool is never used; concurrent callers in one process share one build.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { profcolCacheDir } from './cache-dir.mjs';

const GO = process.env['PROFCOL_GO'] ?? 'go';
const BUILD_TIMEOUT_MS = 20 * 60_000;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeout: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error)
        reject(
          new Error(
            `${cmd} ${args.join(' ')} failed: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? `'${cmd}' not found on PATH (set PROFCOL_GO)` : error.message}\n${String(stderr).trim()}`,
          ),
        );
      else resolve(String(stdout));
    });
  });
}

const builds = new Map<string, Promise<string>>();

/**
 * The path of `binary` from `go install <pkg>@<version>`, built on first use. `pkg` is the
 * package path of the command (`helm.sh/helm/v3/cmd/helm`).
 */
export function ensureGoTool(pkg: string, version: string, binary: string): Promise<string> {
  const slot = `${pkg}@${version}`;
  let build = builds.get(slot);
  if (!build) {
    build = buildTool(pkg, version, binary);
    builds.set(slot, build);
    build.catch(() => builds.delete(slot));
  }
  return build;
}

async function buildTool(pkg: string, version: string, binary: string): Promise<string> {
  const goVersion = (await run(GO, ['version'], process.env, 60_000)).trim();
  const key = createHash('sha256').update(`${pkg}@${version}\n${goVersion}\nCGO_ENABLED=0`).digest('hex').slice(0, 16);
  const toolsDir = join(profcolCacheDir(), 'go-tools');
  const dir = join(toolsDir, `${binary}-${version}-${key}`);
  const path = join(dir, binary);
  if (existsSync(path)) return path;
  await fsp.mkdir(toolsDir, { recursive: true });
  const tmp = await fsp.mkdtemp(join(toolsDir, `.tmp-${binary}-`));
  try {
    await run(GO, ['install', `${pkg}@${version}`], { ...process.env, GOBIN: tmp, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' }, BUILD_TIMEOUT_MS);
    await fsp.rename(tmp, dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another process finished the same build first: use its copy.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  return path;
}
