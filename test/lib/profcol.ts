/** Runs the real `profcol` command in a child process, as a user would. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFiles } from '@profcol/core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const profcolBin = path.join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');
export const fixtures = path.join(repoRoot, 'test', 'fixtures');

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Where profcol runs pipelines/default.yaml in a test, and the second --config file that says so. */
export interface DefaultPipelineOnFreePorts {
  /** The --config files: pipelines/default.yaml, then `<dir>/free-ports.yaml`. */
  configs: string[];
  /** The ddtrace receiver's address, `127.0.0.1:<port>`. */
  ddtrace: string;
  /** Where profcol's own metrics are served, `http://127.0.0.1:<port>/metrics`. */
  metricsUrl: string;
  /** Where the status extension's page is served, `http://127.0.0.1:<port>/`. */
  statusUrl: string;
  /** Where the health_check extension serves /healthz and /readyz, `http://127.0.0.1:<port>/`. */
  healthUrl: string;
}

const ADDRESS_KEYS = new Set(['endpoint', 'address', 'url']);

/** Every `endpoint`, `address` and `url` in a configuration tree, by its path. */
function addressesOf(tree: unknown, at = ''): Map<string, unknown> {
  const found = new Map<string, unknown>();
  if (tree === null || typeof tree !== 'object') return found;
  for (const [key, value] of Object.entries(tree)) {
    const here = at ? `${at}::${key}` : key;
    if (ADDRESS_KEYS.has(key) && typeof value !== 'object') found.set(here, value);
    for (const [k, v] of addressesOf(value, here)) found.set(k, v);
  }
  return found;
}

/**
 * pipelines/default.yaml as `pnpm start` runs it, with every address it listens on or scrapes
 * moved to a loopback port of its own by a second --config file written into `dir`, so the test
 * runs beside a `pnpm start` (or anything else on localhost:9529, :8888, :55679 or :6060). The pull
 * target points at a port nobody listens on: its failed scrapes are logged and counted, and
 * nothing a user runs on :6060 shows up in the test's data. Throws when the default pipeline has
 * an address this override does not move, naming it.
 */
export async function defaultPipelineOnFreePorts(dir: string): Promise<DefaultPipelineOnFreePorts> {
  const defaults = path.join(repoRoot, 'pipelines', 'default.yaml');
  const tree = loadConfigFiles([defaults], {}).tree as { receivers: { pprof: { targets: Record<string, unknown>[] } } };
  const [ddtracePort, metricsPort, statusPort, healthPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const override = path.join(dir, 'free-ports.yaml');
  // JSON is YAML. The pull targets are the default's, each at a port that was free a moment ago.
  const targets = await Promise.all(tree.receivers.pprof.targets.map(async (target) => ({ ...target, url: `http://127.0.0.1:${await freePort()}` })));
  fs.writeFileSync(
    override,
    JSON.stringify({
      receivers: { ddtrace: { endpoint: `127.0.0.1:${ddtracePort}` }, pprof: { targets } },
      extensions: { status: { endpoint: `127.0.0.1:${statusPort}` }, health_check: { endpoint: `127.0.0.1:${healthPort}` } },
      service: { telemetry: { metrics: { address: `127.0.0.1:${metricsPort}` } } },
    }),
  );
  const before = addressesOf(tree);
  const after = addressesOf(loadConfigFiles([defaults, override], {}).tree);
  const unmoved = [...before].filter(([key, value]) => after.get(key) === value).map(([key, value]) => `${key}: ${String(value)}`);
  if (unmoved.length > 0) {
    throw new Error(
      `pipelines/default.yaml has addresses that defaultPipelineOnFreePorts (test/lib/profcol.ts) does not move to a free port: ${unmoved.join(', ')}; add them to its override`,
    );
  }
  return {
    configs: [defaults, override],
    ddtrace: `127.0.0.1:${ddtracePort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    statusUrl: `http://127.0.0.1:${statusPort}/`,
    healthUrl: `http://127.0.0.1:${healthPort}/`,
  };
}

/** Runs a profcol command to completion. */
export function profcol(args: string[], options: { cwd?: string; env?: Record<string, string>; node?: string } = {}) {
  const result = spawnSync(options.node ?? process.execPath, [profcolBin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface RunningProfcol {
  proc: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `profcol run` on the given config files and waits until it says it is running;
 * `options.node` is the node binary that runs it (default: the one running the tests; see
 * test/setup/node-runtime.ts).
 */
export async function startProfcol(configs: string[], options: { cwd?: string; env?: Record<string, string>; node?: string } = {}): Promise<RunningProfcol> {
  const args = ['run', ...configs.flatMap((c) => ['--config', c]), '--log-format', 'json'];
  const proc = spawn(options.node ?? process.execPath, [profcolBin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffered = '';
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const text of lines) {
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      logs.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000) => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr}\nlogs: ${logs.map((l) => JSON.stringify(l)).join('\n')}`)),
        timeoutMs,
      );
      waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void exited.then((code) =>
        reject(new Error(`profcol exited with ${code} before the log line; stderr: ${stderr}\nlogs: ${logs.map((l) => JSON.stringify(l)).join('\n')}`)),
      );
    });
  };
  await waitForLog((l) => l.msg === 'profcol is running');
  return {
    proc,
    logs,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The real dd-trace-js upload kept in test/fixtures: its content type and body. */
export function ddtraceJsUpload(): { contentType: string; body: Buffer } {
  const headers = fs.readFileSync(path.join(fixtures, 'ddtrace-js', 'upload-gzip.headers.txt'), 'utf8');
  const contentType = /^content-type:\s*(.+)$/im.exec(headers)![1]!.trim();
  return { contentType, body: fs.readFileSync(path.join(fixtures, 'ddtrace-js', 'upload-gzip.body.bin')) };
}
