// Build-once-and-cache helper for the Go programs under test/go/<name>, plus a
// process launcher that waits for their one-line JSON "ready" banner.
// Pure Node APIs; no test framework. See test/setup/README.md.

import { execFile, spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { profcolCacheDir } from './cache-dir.mjs';

/** Absolute path of test/go/. */
export const GO_PROGRAMS_DIR: string = fileURLToPath(new URL('../go/', import.meta.url));

const GO = process.env['PROFCOL_GO'] ?? 'go';
const BUILD_GOFLAGS = '-mod=mod -buildvcs=false';
const BUILD_TIMEOUT_MS = 10 * 60_000;
const LOCK_STALE_MS = 15 * 60_000;
const EXE = process.platform === 'win32' ? '.exe' : '';

export { profcolCacheDir };

interface ExecResult {
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...opts, maxBuffer: 64 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { code?: unknown };
        const what = e.code === 'ENOENT' ? `'${cmd}' not found on PATH (set PROFCOL_GO to the go binary)` : e.message;
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${what}\n${String(stderr).trim()}`));
        return;
      }
      resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const toolchainIds = new Map<string, Promise<string>>();

/**
 * The environment of every go command for a toolchain: `GOTOOLCHAIN=<toolchain>` makes the go
 * command fetch that release from the module proxy (once, into GOMODCACHE) and run it; without
 * one, the machine's go runs as it is configured.
 */
function goEnv(toolchain: string | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...(toolchain ? { GOTOOLCHAIN: toolchain } : {}), ...extra };
}

/** `go version` + the go env values that change the produced binary, for one toolchain. */
function goToolchainId(toolchain: string | undefined): Promise<string> {
  const slot = toolchain ?? '';
  let id = toolchainIds.get(slot);
  if (!id) {
    id = (async () => {
      const env = goEnv(toolchain);
      const v = await run(GO, ['version'], { env, timeout: BUILD_TIMEOUT_MS });
      const e = await run(GO, ['env', 'GOOS', 'GOARCH', 'CGO_ENABLED', 'GOEXPERIMENT', 'GOAMD64', 'GOARM64'], { env });
      return `${v.stdout.trim()}\n${e.stdout.trim()}`;
    })();
    toolchainIds.set(slot, id);
    id.catch(() => toolchainIds.delete(slot));
  }
  return id;
}

/**
 * Every regular file under `dir` (recursive), sorted by relative path. Dot-files and dot-dirs
 * (.git, editor swap files, ...), `*.test` files and, at the top, a stray `go build` output
 * named `binName` are skipped: they must not change the key.
 */
async function listSourceFiles(dir: string, binName?: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const ent of await fsp.readdir(d, { withFileTypes: true })) {
      if (ent.name.startsWith('.')) continue;
      const p = join(d, ent.name);
      if (ent.isDirectory()) {
        await walk(p);
      } else if (ent.isFile()) {
        if (binName !== undefined && d === dir && (ent.name === binName || ent.name === binName + '.exe')) continue;
        if (ent.name.endsWith('.test')) continue;
        out.push(relative(dir, p).split(sep).join('/'));
      }
    }
  };
  await walk(dir);
  return out.sort();
}

/** A `replace <module> [version] => <local dir>` directive of a go.mod. */
export interface LocalReplace {
  /** The module path on the left of `=>`. */
  module: string;
  /** The directory on the right, as written (`../workload`). */
  path: string;
  /** That directory, absolute. */
  dir: string;
}

/**
 * The `replace` directives of the go.mod in `dir` whose target is a local directory (an absolute
 * path, or one starting with `./` or `../`, as the go command defines it), single-line or in a
 * `replace ( ... )` block, sorted by module path. Replacements by another module version are
 * left out: go.sum pins those.
 */
export async function localReplaces(dir: string): Promise<LocalReplace[]> {
  const text = await fsp.readFile(join(dir, 'go.mod'), 'utf8');
  const out: LocalReplace[] = [];
  let inBlock = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (!line) continue;
    let spec: string | undefined;
    if (inBlock) {
      if (line === ')') inBlock = false;
      else spec = line;
    } else if (/^replace\s*\($/.test(line)) {
      inBlock = true;
    } else if (/^replace\s/.test(line)) {
      spec = line.slice('replace'.length).trim();
    }
    if (spec === undefined) continue;
    const arrow = spec.indexOf('=>');
    if (arrow < 0) continue;
    const unquote = (t: string | undefined): string => (t ?? '').replace(/^"(.*)"$/, '$1');
    const module = unquote(spec.slice(0, arrow).trim().split(/\s+/)[0]);
    const target = unquote(
      spec
        .slice(arrow + 2)
        .trim()
        .split(/\s+/)[0],
    );
    const local =
      target.startsWith('./') ||
      target.startsWith('../') ||
      isAbsolute(target) ||
      (process.platform === 'win32' && (target.startsWith('.\\') || target.startsWith('..\\')));
    if (module && local) out.push({ module, path: target, dir: resolve(dir, target) });
  }
  return out.sort((a, b) => (a.module < b.module ? -1 : a.module > b.module ? 1 : 0));
}

async function hashFiles(h: ReturnType<typeof createHash>, label: string, dir: string, binName?: string): Promise<void> {
  for (const rel of await listSourceFiles(dir, binName)) {
    const data = await fsp.readFile(join(dir, rel));
    h.update(`${label}${rel}\0${data.length}\0`);
    h.update(data);
  }
}

/**
 * sha256 over the toolchain id, all files (name + contents) of the program dir, and all files
 * of every local directory its go.mod `replace`s a module with (e.g. `../workload`).
 */
export async function goProgramKey(name: string, toolchain?: string): Promise<string> {
  const dir = programDir(name);
  const h = createHash('sha256');
  h.update(`profcol-go-bin/2\n${await goToolchainId(toolchain)}\n${BUILD_GOFLAGS}\n`);
  await hashFiles(h, '', dir, name);
  for (const r of await localReplaces(dir)) {
    try {
      if (!(await fsp.stat(r.dir)).isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new Error(`${join(dir, 'go.mod')} replaces ${r.module} with ${r.path}, which is not a directory (${(e as Error).message})`);
    }
    h.update(`\0replace\0${r.module}\0${r.path}\n`);
    await hashFiles(h, `${r.module}=>`, r.dir);
  }
  return h.digest('hex');
}

function programDir(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`invalid Go program name: ${JSON.stringify(name)}`);
  return join(GO_PROGRAMS_DIR, name);
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    await fsp.access(p, process.platform === 'win32' ? fsConstants.F_OK : fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Take `<lockPath>` (O_EXCL). Returns true when we own it, false when the
 * binary appeared while we waited for another builder (process or worker).
 */
async function acquireLock(lockPath: string, finalBin: string): Promise<boolean> {
  const deadline = Date.now() + BUILD_TIMEOUT_MS + 60_000;
  for (;;) {
    try {
      const fh = await fsp.open(lockPath, 'wx');
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      await fh.close();
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (await isExecutable(finalBin)) return false;
    // Someone else holds the lock: is it stale?
    try {
      const [st, raw] = await Promise.all([fsp.stat(lockPath), fsp.readFile(lockPath, 'utf8')]);
      let owner: { pid?: unknown; host?: unknown } = {};
      try {
        owner = JSON.parse(raw) as { pid?: unknown; host?: unknown };
      } catch {
        /* being written right now */
      }
      const deadOwner = owner.host === hostname() && typeof owner.pid === 'number' && !pidAlive(owner.pid);
      if (deadOwner || Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        await fsp.rm(lockPath, { force: true });
        continue;
      }
    } catch {
      continue; // lock vanished between calls: retry immediately
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for build lock ${lockPath}`);
    await sleep(250);
  }
}

/** Options of buildGoProgram. */
export interface GoBuildOptions {
  /**
   * A released Go toolchain to build with instead of the machine's go, as GOTOOLCHAIN spells it
   * (`go1.21.13`): the go command fetches it from the module proxy. It must be at least the
   * program's go.mod `go` line.
   */
  toolchain?: string;
}

async function buildUncached(name: string, toolchain: string | undefined): Promise<string> {
  if (toolchain !== undefined && !/^go1\.\d+(\.\d+)?$/.test(toolchain)) {
    throw new Error(
      `buildGoProgram(${JSON.stringify(name)}): toolchain ${JSON.stringify(toolchain)} is not a Go release as GOTOOLCHAIN takes it (e.g. go1.21.13)`,
    );
  }
  const dir = programDir(name);
  try {
    await fsp.access(join(dir, 'go.mod'));
  } catch {
    throw new Error(`no Go program at ${dir} (missing go.mod)`);
  }
  const key = `${name}-${toolchain ? `${toolchain}-` : ''}${await goProgramKey(name, toolchain)}`;
  const binRoot = join(profcolCacheDir(), 'go-bin');
  const finalDir = join(binRoot, key);
  const finalBin = join(finalDir, name + EXE);
  if (await isExecutable(finalBin)) return finalBin;

  await fsp.mkdir(binRoot, { recursive: true });
  const lockPath = join(binRoot, `${key}.lock`);
  if (!(await acquireLock(lockPath, finalBin))) return finalBin;
  try {
    if (await isExecutable(finalBin)) return finalBin; // finished just before we got the lock
    const tmpDir = join(binRoot, `.tmp-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    await fsp.mkdir(tmpDir, { recursive: true });
    try {
      await run(GO, ['build', '-o', join(tmpDir, name + EXE), '.'], {
        cwd: dir,
        env: goEnv(toolchain, { GOFLAGS: BUILD_GOFLAGS }),
        timeout: BUILD_TIMEOUT_MS,
      });
      try {
        // rename(2) of a directory onto an existing non-empty one fails, so
        // this is rename-if-absent: the first finished build wins.
        await fsp.rename(tmpDir, finalDir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (!(code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'EPERM') || !(await isExecutable(finalBin))) throw e;
      }
    } finally {
      await fsp.rm(tmpDir, { recursive: true, force: true });
    }
    return finalBin;
  } finally {
    await fsp.rm(lockPath, { force: true });
  }
}

const builds = new Map<string, Promise<string>>();

/**
 * Absolute path of the binary built from test/go/<name>, with the machine's go or with
 * `options.toolchain`. Built once per content hash (sources + toolchain) into
 * `<cache>/go-bin/<name>[-<toolchain>]-<sha256>/<name>` and reused across test files, processes
 * and fresh clones. Safe under concurrent callers.
 */
export function buildGoProgram(name: string, options: GoBuildOptions = {}): Promise<string> {
  const slot = `${name}\0${options.toolchain ?? ''}`;
  let p = builds.get(slot);
  if (!p) {
    p = buildUncached(name, options.toolchain);
    builds.set(slot, p);
    p.catch(() => builds.delete(slot));
  }
  return p;
}

/**
 * The path of `binary` from `go install <pkg>@<version>` (a Go command-line tool the tests run,
 * such as helm), built once from the module proxy into `<cache>/go-tools/<binary>-<version>-<key>`,
 * keyed by the package, its version and the toolchain; renamed into place when complete.
 */
export function ensureGoTool(pkg: string, version: string, binary: string): Promise<string> {
  const slot = `tool\0${pkg}@${version}`;
  let p = builds.get(slot);
  if (!p) {
    p = installTool(pkg, version, binary);
    builds.set(slot, p);
    p.catch(() => builds.delete(slot));
  }
  return p;
}

async function installTool(pkg: string, version: string, binary: string): Promise<string> {
  const key = createHash('sha256')
    .update(`${pkg}@${version}\n${await goToolchainId(undefined)}\nCGO_ENABLED=0`)
    .digest('hex')
    .slice(0, 16);
  const toolsDir = join(profcolCacheDir(), 'go-tools');
  const dir = join(toolsDir, `${binary}-${version}-${key}`);
  const bin = join(dir, `${binary}${EXE}`);
  if (await isExecutable(bin)) return bin;
  await fsp.mkdir(toolsDir, { recursive: true });
  const tmp = await fsp.mkdtemp(join(toolsDir, `.tmp-${binary}-`));
  try {
    await run(GO, ['install', `${pkg}@${version}`], {
      env: goEnv(undefined, { GOBIN: tmp, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' }),
      timeout: 2 * BUILD_TIMEOUT_MS,
    });
    // Another process that finished the same build first keeps its copy.
    await fsp.rename(tmp, dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  return bin;
}

// ---------------------------------------------------------------------------
// Launching

/** Ready line of test/go/pprof-target. */
export interface PprofTargetReady {
  ready: true;
  addr: string;
  pid: number;
  baseline_goroutines: number;
  expected_goroutines: number;
  parked: number;
  spin: number;
  retain_mib: number;
  retained_bytes: number;
  alloc_mib_per_sec: number;
  gc_heavy: boolean;
  mutex: boolean;
  block: boolean;
  exit_after_seconds: number;
  gomaxprocs: number;
  num_cpu: number;
  go_version: string;
}

/** Ready line of test/go/ddtrace-demo-v1 and -v2. */
export interface DdtraceDemoReady {
  ready: true;
  pid: number;
  agent_addr: string;
  period_seconds: number;
  cpu_duration_seconds: number;
  service: string;
  env: string;
  version: string;
  tags: string[];
  dd_trace_go_module: string;
  dd_trace_go_version: string;
  go_version: string;
  retain_mib: number;
  parked: number;
  spin: number;
  spin_duty: number;
  alloc_mib_per_sec: number;
  pprof_addr?: string;
  exit_after_seconds: number;
}

export interface StartOptions {
  /** How long to wait for the ready line (default $PROFCOL_GO_READY_TIMEOUT_MS or 20000). */
  readyTimeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL in stop() (default 3000). */
  killGraceMs?: number;
  cwd?: string;
}

export interface GoProcess<R = any> {
  proc: ChildProcessByStdio<null, Readable, Readable>;
  /** The parsed one-line JSON ready banner. */
  ready: R;
  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the process exits (for any reason). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written so far (stderr is capped to the last 256 KiB). */
  stdout(): string;
  stderr(): string;
}

/** Defaults for every launched program; process.env and the caller's env override them. */
const DEFAULT_ENV: Record<string, string> = {
  PROFCOL_EXIT_AFTER: '120s', // safety net: no test program outlives a hung test run by much
  DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false', // dd-trace-go v1 reads this at package init
};

const live = new Set<ChildProcessByStdio<null, Readable, Readable>>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

const CAP = 256 * 1024;

/**
 * Start a built Go program and wait for its one-line JSON ready banner
 * (`{"ready":true,...}` on stdout). Rejects (and kills the process) if it
 * exits first or the banner does not arrive in time.
 */
export function startGoProgram<R = any>(bin: string, args: string[], env?: Record<string, string>, opts: StartOptions = {}): Promise<GoProcess<R>> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? (Number(process.env['PROFCOL_GO_READY_TIMEOUT_MS']) || 20_000);
  const killGraceMs = opts.killGraceMs ?? 3000;
  installExitHook();

  const proc = spawn(bin, args, {
    cwd: opts.cwd,
    env: { ...DEFAULT_ENV, ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
  live.add(proc);

  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s: string) => {
    err += s;
    if (err.length > CAP) err = err.slice(-CAP);
  });

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('close', (code, signal) => {
      live.delete(proc);
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    // spawn failure: 'close' still follows 'error'
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (proc.pid === undefined) return; // never started (spawn error)
      if (exitInfo || proc.exitCode !== null || proc.signalCode !== null) {
        await exited;
        return;
      }
      proc.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!exitInfo) proc.kill('SIGKILL');
      }, killGraceMs);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  return new Promise<GoProcess<R>>((resolve, reject) => {
    let settled = false;
    let pending = '';
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop().then(() => {
        const tail = err.trim().split('\n').slice(-30).join('\n');
        reject(
          new Error(`${bin} ${args.join(' ')}: ${why}${tail ? `\n--- stderr (tail) ---\n${tail}` : ''}${out ? `\n--- stdout ---\n${out.slice(0, 4000)}` : ''}`),
        );
      });
    };
    const timer = setTimeout(() => fail(`no ready line within ${readyTimeoutMs} ms`), readyTimeoutMs);

    proc.stdout.on('data', (s: string) => {
      out += s;
      if (settled) return;
      pending += s;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue;
        }
        if (parsed && typeof parsed === 'object' && (parsed as { ready?: unknown }).ready === true) {
          settled = true;
          clearTimeout(timer);
          resolve({
            proc,
            ready: parsed as R,
            stop,
            exited,
            stdout: () => out,
            stderr: () => err,
          });
          return;
        }
      }
    });
    proc.once('error', (e) => fail(`spawn failed: ${e.message}`));
    void exited.then(({ code, signal }) => fail(`exited before ready (code ${code}, signal ${signal})`));
  });
}
