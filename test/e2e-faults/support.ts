/** Fault tests (issue 10): a real `profcol run` with a ddtrace receiver and a file exporter, and real uploads. */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fixtures, freePort, startProfcol, type RunningProfcol } from '../lib/profcol.js';

/** The real dd-trace-go v2 upload of test/fixtures: seven attachments, zstd-compressed, 70 KB. */
const body = fs.readFileSync(path.join(fixtures, 'ddtrace-go-v2', 'upload.body.bin'));
const contentType = /^content-type:\s*(.+)$/im.exec(fs.readFileSync(path.join(fixtures, 'ddtrace-go-v2', 'upload.headers.txt'), 'utf8'))![1]!.trim();
const RUNTIME_ID = 'e82deb40-1c73-43e3-8ebe-104ecb57a7cd';

/**
 * The fixture upload as the `seq`-th profile of a process `runtimeId`: a distinct (runtime-id,
 * profile_seq), so the receiver's de-duplication forwards every one and each can be found in
 * the file exporter's output. Only the event part's text changes: multipart parts have no lengths.
 */
export function uploadBody(runtimeId: string, seq: number): Buffer {
  const text = body.toString('latin1');
  const event = text.replace(RUNTIME_ID, runtimeId).replace('profile_seq:0,', `profile_seq:${seq},`);
  if (event === text) throw new Error('the fixture upload no longer has the runtime-id / profile_seq this test rewrites');
  return Buffer.from(event, 'latin1');
}

export interface Answer {
  status?: number;
  retryAfterSeconds?: number;
  /** The socket error when there was no answer (ECONNREFUSED, ECONNRESET, ...). */
  error?: string;
}

/** POSTs one upload; never rejects: an answer or the error that stood in for one. */
export function postUpload(port: number, payload: Buffer, agent: http.Agent | false): Promise<Answer> {
  return new Promise((resolve) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/profiling/v1/input',
        agent,
        headers: { 'content-type': contentType, 'content-length': payload.length },
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          const retryAfter = Number(response.headers['retry-after']);
          resolve({ status: response.statusCode!, ...(Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}) });
        });
        response.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    request.end(payload);
  });
}

export interface FaultProfcol {
  running: RunningProfcol;
  port: number;
  metricsUrl: string;
  dataDir: string;
  /** Open file descriptors of the profcol process (sockets included), from /proc. */
  fdCount(): number;
  /** (runtime_id/profile_seq) of every bundle the file exporter wrote. */
  exported(): Set<string>;
}

/** `profcol run` with the ddtrace receiver on a free port and the file exporter into `dir/data`. */
export async function startFaultProfcol(dir: string, ddtrace: Record<string, unknown> = {}): Promise<FaultProfcol> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const dataDir = path.join(dir, 'data');
  const config = path.join(dir, 'faults.yaml');
  // JSON is YAML.
  fs.writeFileSync(
    config,
    JSON.stringify({
      receivers: { ddtrace: { endpoint: `127.0.0.1:${port}`, ...ddtrace } },
      exporters: { file: { directory: dataDir } },
      service: { telemetry: { metrics: { address: `127.0.0.1:${metricsPort}` } }, pipelines: { faults: { receivers: ['ddtrace'], exporters: ['file'] } } },
    }),
  );
  const running = await startProfcol([config], { cwd: dir });
  const pid = running.proc.pid!;
  return {
    running,
    port,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    dataDir,
    fdCount: () => fs.readdirSync(`/proc/${pid}/fd`).length,
    exported: () => {
      const file = path.join(dataDir, 'bundles.jsonl');
      const seen = new Set<string>();
      if (!fs.existsSync(file)) return seen;
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        const record = JSON.parse(line) as { resource: Record<string, string> };
        seen.add(`${record.resource.runtime_id}/${record.resource.profile_seq}`);
      }
      return seen;
    },
  };
}

/** Resolves once `condition` holds, checking every `intervalMs`; bounded only by the test's timeout. */
export async function until(condition: () => boolean, intervalMs = 50): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, intervalMs));
}

/** One of profcol's own counters from its Prometheus text (sum over label sets). */
export async function counter(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
