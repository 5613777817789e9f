/**
 * profcol killed with SIGKILL while it holds queued batches, then restarted: with
 * `sending_queue.storage` the real collector ends up with every acknowledged point at least
 * once. The exporter runs in a child process (child-exporter.mjs) so it can really be killed.
 *
 * Run 1: backend down — 20 windows are acknowledged (written to disk), then SIGKILL.
 * Run 2: backend up but its answers held back 400 ms (it has stored the data, the sender does
 *        not know yet) — replay + 40 new windows; SIGKILL while answers are in flight.
 * Run 3: backend normal — replays the rest, drains, stops cleanly on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { storageSubdir } from '@profcol/exporter-otlp';
import { describe, expect, it } from 'vitest';
import { startOtelCollector } from '../backends/index.js';
import { startFaultProxy, until, useBackend } from './helpers.js';
import { baseNanos, batchFor, pointKey } from './points.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const backend = useBackend('otelcol');
const { cleanup } = backend;

interface Stats {
  sent: number;
  queue: number;
  replayed: number;
  corrupt: number;
  dropped: number;
}

interface Child {
  proc: ChildProcess;
  acked: number[];
  persistMs: number[];
  stats: Stats | undefined;
  ready: Stats | undefined;
  stopped: Stats | undefined;
  produced: boolean;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

function runChild(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [path.join(here, 'child-exporter.mjs')], {
    cwd: here,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let buffered = '';
  const child: Child = {
    proc,
    acked: [],
    persistMs: [],
    stats: undefined,
    ready: undefined,
    stopped: undefined,
    produced: false,
    exit: new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))),
    stderr: () => err,
  };
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  proc.stdout!.on('data', (c: Buffer) => {
    buffered += c.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const [word, ...rest] = line.split(' ');
      if (word === 'acked') {
        child.acked.push(Number(rest[0]));
        child.persistMs.push(Number(rest[1]));
      } else if (word === 'stats') child.stats = JSON.parse(rest.join(' ')) as Stats;
      else if (word === 'ready') child.ready = JSON.parse(rest.join(' ')) as Stats;
      else if (word === 'stopped') child.stopped = JSON.parse(rest.join(' ')) as Stats;
      else if (word === 'produced') child.produced = true;
    }
  });
  cleanup.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await child.exit;
  });
  return child;
}

const queueFiles = async (dir: string) => (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.otlpq'));
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe('otlp exporter killed with SIGKILL and restarted (persistent queue, real collector)', () => {
  it('ends with every acknowledged point in the collector at least once — nothing lost, duplicates only from the in-doubt window', async (ctx) => {
    backend.need(ctx);
    const col = await startOtelCollector();
    cleanup.push(() => col.stop());
    const proxy = await startFaultProxy(col.otlpHttpEndpoint, { kind: 'down' });
    cleanup.push(() => proxy.close());
    const storage = await fs.mkdtemp(path.join(os.tmpdir(), 'profcol-e2e-sigkill-'));
    cleanup.push(() => fs.rm(storage, { recursive: true, force: true }));
    const queueDir = path.join(storage, storageSubdir('otlp'));
    const env = {
      BASE: baseNanos().toString(),
      OTLP_CONFIG: JSON.stringify({
        endpoint: proxy.url,
        retry_on_failure: { initial_interval: '100ms', max_interval: '300ms', max_elapsed_time: '0' },
        sending_queue: { storage, num_consumers: 4 },
        drain_timeout: '5s',
      }),
    };

    // Run 1: the backend is down; every acknowledged batch is only on disk.
    const run1 = runChild({ ...env, FROM: '0', COUNT: '20' });
    await until(() => run1.produced, 20_000, `run 1 to acknowledge 20 windows (stderr: ${run1.stderr()})`);
    run1.proc.kill('SIGKILL');
    expect((await run1.exit).signal).toBe('SIGKILL');
    expect(await queueFiles(queueDir)).toHaveLength(40); // 20 windows × 2 resources

    // Run 2: the backend stores requests but its answers are held back; kill while some are in doubt.
    proxy.mode = { kind: 'forward', holdResponseMs: 400 };
    const run2 = runChild({ ...env, FROM: '20', COUNT: '40' });
    await until(() => run2.ready !== undefined, 20_000, 'run 2 to start');
    expect(run2.ready!.replayed).toBe(40);
    await until(() => run2.acked.length >= 20 && (run2.stats?.sent ?? 0) >= 60 && proxy.acceptedUnanswered >= 2, 30_000, 'run 2 mid-flight');
    const inDoubt = proxy.acceptedUnanswered;
    run2.proc.kill('SIGKILL');
    expect((await run2.exit).signal).toBe('SIGKILL');
    const leftAfterRun2 = (await queueFiles(queueDir)).length;

    // Run 3: the backend answers normally; the rest is replayed and drained, then a clean stop.
    proxy.mode = { kind: 'forward' };
    const run3 = runChild({ ...env, FROM: '0', COUNT: '0' });
    await until(() => run3.ready !== undefined, 20_000, 'run 3 to start');
    expect(run3.ready!.replayed).toBe(leftAfterRun2);
    await until(() => run3.stats !== undefined && run3.stats.queue === 0, 30_000, 'run 3 to drain');
    run3.proc.kill('SIGTERM');
    expect((await run3.exit).code).toBe(0);
    expect(run3.stopped).toMatchObject({ queue: 0, corrupt: 0, dropped: 0 });
    expect(await queueFiles(queueDir)).toEqual([]);

    // Every point of every acknowledged window is in the collector's output at least once.
    const acked = [...run1.acked, ...run2.acked];
    const base = BigInt(env.BASE);
    const expected = acked.flatMap((w) => batchFor(base, w).metrics.map((p) => pointKey(p.name, p.resource['service']!, p.timeNanos)));
    await col.waitForPoints(
      (points) => new Set(points.map((p) => pointKey(p.name, String(p.resource['service.name']), p.timeUnixNano!))).size >= expected.length,
      20_000,
    );
    const counts = new Map<string, number>();
    for (const p of await col.readPoints()) {
      const key = pointKey(p.name, String(p.resource['service.name']), p.timeUnixNano!);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const lost = expected.filter((k) => !counts.has(k));
    expect(lost).toEqual([]);
    const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
    // The requests the backend had stored when the process died were sent again: at-least-once, not exactly-once.
    expect(duplicates).toBeGreaterThanOrEqual(inDoubt * 6);
    const persist = [...run1.persistMs, ...run2.persistMs];
    console.log(
      `[e2e-otlp] SIGKILL: ${acked.length} windows acknowledged (${expected.length} points), lost 0, duplicates ${duplicates} (${inDoubt} requests in doubt at the kill), ` +
        `replayed ${run2.ready!.replayed} + ${run3.ready!.replayed} requests; consume() with fsync p50 ${quantile(persist, 0.5).toFixed(2)} ms, p99 ${quantile(persist, 0.99).toFixed(2)} ms`,
    );
  });
});
