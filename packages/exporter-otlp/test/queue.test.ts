import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackpressureError } from '@profcol/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toRequests } from '../src/convert.js';
import { encodeFile } from '../src/storage.js';
import { startOtlpStub, type OtlpStub } from '../src/testing.js';
import { FAST_RETRY, point, points, startExporter, until, type Harness } from './helpers.js';

let stub: OtlpStub | undefined;
let harnesses: Harness[] = [];
let dir: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'profcol-otlp-queue-'));
});
afterEach(async () => {
  for (const h of harnesses) await h.exporter.shutdown();
  harnesses = [];
  await stub?.close();
  stub = undefined;
  await fs.rm(dir, { recursive: true, force: true });
});

async function exporter(config: Record<string, unknown>, id = 'otlp'): Promise<Harness> {
  // A short drain keeps the shutdown of exporters whose backend is down quick.
  const h = await startExporter({ drain_timeout: '500ms', ...config }, { id, baseDir: dir });
  harnesses.push(h);
  return h;
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const probe = await startOtlpStub();
  await probe.close();
  return probe.port;
}

const queueFiles = async (sub = 'otlp') =>
  (await fs.readdir(path.join(dir, 'queue', sub)).catch(() => [] as string[])).filter((n) => n.endsWith('.otlpq')).sort();

describe('sending_queue', () => {
  it('refuses a batch with BackpressureError once queue_size requests are held, and takes batches again once it drained', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    stub = await startOtlpStub({ reply: async () => (await gate, undefined) });
    const h = await exporter({ endpoint: stub.url, sending_queue: { num_consumers: 1, queue_size: 2 } });
    await h.exporter.consume({ bundles: [], metrics: [point({ value: 1 })] });
    await h.exporter.consume({ bundles: [], metrics: [point({ value: 2 })] });
    const refusal = h.exporter.consume({ bundles: [], metrics: [point({ value: 3 })] });
    await expect(refusal).rejects.toThrow(BackpressureError);
    await expect(refusal).rejects.toThrow(/sending queue is full \(2 of 2 requests\)/);
    expect(h.counter('profcol_exporter_queue_refused_batches_total', { reason: 'queue_full' })).toBe(1);
    expect(h.counter('profcol_exporter_queue_size')).toBe(2);
    release();
    await until(() => h.counter('profcol_exporter_queue_size') === 0);
    await h.exporter.consume({ bundles: [], metrics: [point({ value: 3 })] });
    await until(() => h.counter('profcol_exporter_sent_metric_points_total') === 3);
    expect(stub.accepted.map((p) => p.value).sort()).toEqual([1, 2, 3]);
  });

  it('also refuses once max_bytes are held', async () => {
    const h = await exporter({ endpoint: `http://127.0.0.1:${await deadPort()}`, retry_on_failure: FAST_RETRY, sending_queue: { max_bytes: '2KiB' } });
    await h.exporter.consume({ bundles: [], metrics: points(5) });
    let refused: unknown;
    for (let i = 0; i < 50 && !refused; i++)
      await h.exporter.consume({ bundles: [], metrics: points(5, { service: 'checkout' }, i * 5) }).catch((e: unknown) => (refused = e));
    expect(refused).toBeInstanceOf(BackpressureError);
    expect(String(refused)).toMatch(/of 2048 bytes/);
    expect(h.counter('profcol_exporter_queue_bytes')).toBeLessThanOrEqual(2048);
  });

  it('refuses batches once shutdown started, and drains what it holds before resolving', async () => {
    stub = await startOtlpStub({ reply: () => ({ delayMs: 50 }) });
    const h = await exporter({ endpoint: stub.url, sending_queue: { num_consumers: 2 } });
    for (let i = 0; i < 6; i++) await h.exporter.consume({ bundles: [], metrics: [point({ value: i })] });
    const stopping = h.exporter.shutdown();
    await expect(h.exporter.consume({ bundles: [], metrics: [point()] })).rejects.toThrow(/shutting down/);
    await stopping;
    expect(stub.accepted).toHaveLength(6);
    expect(h.counter('profcol_exporter_queue_refused_batches_total', { reason: 'shutting_down' })).toBe(1);
    expect(h.logs().some((l) => l['msg'] === 'OTLP exporter stopped; queue drained')).toBe(true);
  });

  it.each([true, false])('leaves no timer behind after shutdown (queue enabled: %s), so a library user’s process can exit', async (enabled) => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    stub = await startOtlpStub();
    const before = timers();
    const h = await exporter({ endpoint: stub.url, drain_timeout: '60s', sending_queue: { enabled } });
    await h.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitForAccepted(1);
    const started = Date.now();
    await h.exporter.shutdown();
    expect(Date.now() - started).toBeLessThan(1000);
    // A drain timer still pending would hold the event loop for the rest of drain_timeout (60 s).
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('without storage, what is still unsent after drain_timeout is a counted, logged drop', async () => {
    const h = await exporter({ endpoint: `http://127.0.0.1:${await deadPort()}`, drain_timeout: '200ms', retry_on_failure: FAST_RETRY });
    await h.exporter.consume({ bundles: [], metrics: points(4) });
    await h.exporter.consume({ bundles: [], metrics: points(3, { service: 'other' }) });
    const started = Date.now();
    await h.exporter.shutdown();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(h.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'shutdown' })).toBe(7);
    expect(h.logs().some((l) => String(l['msg']).includes('7 points dropped'))).toBe(true);
  });
});

describe('sending_queue.storage (persistent queue)', () => {
  it('has each request on disk, fsync’d, before consume() resolves; deletes it once the backend accepted it', async () => {
    const port = await deadPort();
    const h = await exporter({ endpoint: `http://127.0.0.1:${port}`, retry_on_failure: FAST_RETRY, sending_queue: { storage: 'queue' } });
    await h.exporter.consume({ bundles: [], metrics: [...points(2, { service: 'a' }), ...points(3, { service: 'b' })] });
    expect(await queueFiles()).toHaveLength(2);
    stub = await startOtlpStub({ port });
    await until(() => h.counter('profcol_exporter_sent_metric_points_total') === 5);
    await until(() => h.counter('profcol_exporter_queue_size') === 0);
    expect(await queueFiles()).toEqual([]);
  });

  it('replays what it held after a restart, and removes it once delivered', async () => {
    const port = await deadPort();
    const config = { endpoint: `http://127.0.0.1:${port}`, retry_on_failure: FAST_RETRY, drain_timeout: '100ms', sending_queue: { storage: 'queue' } };
    const first = await exporter(config);
    await first.exporter.consume({ bundles: [], metrics: points(3) });
    await first.exporter.consume({ bundles: [], metrics: points(2, { service: 'checkout' }, 3) });
    await first.exporter.shutdown();
    expect(first.counter('profcol_exporter_send_failed_metric_points_total')).toBe(0);
    expect(first.logs().some((l) => String(l['msg']).includes('2 requests stay on disk'))).toBe(true);
    expect(await queueFiles()).toHaveLength(2);

    stub = await startOtlpStub({ port });
    const second = await exporter(config);
    expect(second.counter('profcol_exporter_queue_replayed_requests_total')).toBe(2);
    await until(() => second.counter('profcol_exporter_sent_metric_points_total') === 5);
    expect(stub.accepted.map((p) => p.value).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(stub.accepted.every((p) => p.timeUnixNano > 0n && p.resource['service.name'] === 'checkout')).toBe(true);
    await until(() => second.counter('profcol_exporter_queue_size') === 0);
    expect(await queueFiles()).toEqual([]);
  });

  it('skips a corrupt file (moves it to corrupt/ and counts it) and sends the good ones', async () => {
    const queue = path.join(dir, 'queue', 'otlp');
    await fs.mkdir(queue, { recursive: true });
    const good = encodeFile(toRequests(points(2))[0]!);
    await fs.writeFile(path.join(queue, '0000000000000001.otlpq'), good);
    await fs.writeFile(path.join(queue, '0000000000000002.otlpq'), good.subarray(0, good.length - 10)); // torn write
    const flipped = Buffer.from(good);
    flipped[flipped.length - 5] = flipped[flipped.length - 5]! ^ 0xff; // bit rot
    await fs.writeFile(path.join(queue, '0000000000000003.otlpq'), flipped);
    await fs.writeFile(path.join(queue, '0000000000000004.otlpq'), 'not a queue file at all');
    await fs.writeFile(path.join(queue, '.tmp-0000000000000005.otlpq'), good.subarray(0, 10)); // never acknowledged

    stub = await startOtlpStub();
    const h = await exporter({ endpoint: stub.url, sending_queue: { storage: 'queue' } });
    expect(h.counter('profcol_exporter_queue_corrupt_files_total')).toBe(3);
    await until(() => h.counter('profcol_exporter_sent_metric_points_total') === 2);
    expect((await fs.readdir(path.join(queue, 'corrupt'))).sort()).toEqual(['0000000000000002.otlpq', '0000000000000003.otlpq', '0000000000000004.otlpq']);
    expect(h.logs().filter((l) => String(l['msg']).includes('is corrupt'))).toHaveLength(3);
    await until(() => h.counter('profcol_exporter_queue_size') === 0);
    expect((await fs.readdir(queue)).sort()).toEqual(['corrupt']);
    // New batches continue the numbering after the files found.
    await h.exporter.consume({ bundles: [], metrics: [point()] });
    await until(() => h.counter('profcol_exporter_sent_metric_points_total') === 3);
  });

  it('refuses a batch it cannot persist (BackpressureError, counted) instead of acknowledging it', async () => {
    stub = await startOtlpStub();
    const h = await exporter({ endpoint: stub.url, sending_queue: { storage: 'queue' } });
    const queue = path.join(dir, 'queue', 'otlp');
    await fs.rm(queue, { recursive: true });
    await fs.writeFile(queue, 'a file where the directory was');
    await expect(h.exporter.consume({ bundles: [], metrics: [point()] })).rejects.toThrow(BackpressureError);
    expect(h.counter('profcol_exporter_queue_refused_batches_total', { reason: 'storage_error' })).toBe(1);
    expect(h.counter('profcol_exporter_queue_size')).toBe(0);
  });

  it('keeps each exporter’s files apart (<storage>/<id>/)', async () => {
    const port = await deadPort();
    const a = await exporter({ endpoint: `http://127.0.0.1:${port}`, retry_on_failure: FAST_RETRY, sending_queue: { storage: 'queue' } }, 'otlp/a');
    const b = await exporter({ endpoint: `http://127.0.0.1:${port}`, retry_on_failure: FAST_RETRY, sending_queue: { storage: 'queue' } }, 'otlp/b');
    await a.exporter.consume({ bundles: [], metrics: [point()] });
    await b.exporter.consume({ bundles: [], metrics: [point()] });
    expect(await queueFiles('otlp_a')).toHaveLength(1);
    expect(await queueFiles('otlp_b')).toHaveLength(1);
  });

  it('is at-least-once: an answer lost after the backend stored the points means they are sent again', async () => {
    // The backend keeps the request but the connection dies before its answer arrives,
    // which is what a crash between "accepted" and "file deleted" looks like from outside.
    stub = await startOtlpStub({ reply: (i) => (i === 0 ? { destroy: true } : undefined) });
    const h = await exporter({ endpoint: stub.url, retry_on_failure: FAST_RETRY, sending_queue: { storage: 'queue' } });
    await h.exporter.consume({ bundles: [], metrics: points(3) });
    await until(() => h.counter('profcol_exporter_sent_metric_points_total') === 3);
    const received = stub.requests.flatMap((r) => r.points.map((p) => p.value));
    expect(received).toEqual([0, 1, 2, 0, 1, 2]);
    expect(h.counter('profcol_exporter_send_failed_attempts_total', { reason: 'ECONNRESET' })).toBe(1);
  });
});
