/** Runs the real `profcol` command in a child process, as a user would. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Runs a profcol command to completion. */
export function profcol(args: string[], options: { cwd?: string; env?: Record<string, string>; node?: string } = {}) {
  const result = spawnSync(options.node ?? process.execPath, [profcolBin, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, encoding: 'utf8', timeout: 60_000 });
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
  const proc = spawn(options.node ?? process.execPath, [profcolBin, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr}\nlogs: ${logs.map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void exited.then((code) => reject(new Error(`profcol exited with ${code} before the log line; stderr: ${stderr}\nlogs: ${logs.map((l) => JSON.stringify(l)).join('\n')}`)));
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
