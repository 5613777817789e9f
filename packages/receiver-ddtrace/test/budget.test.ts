import { createServiceLimits, type Batch, type Consumer } from '@profcol/core';
import { gzipSync } from 'node:zlib';
import { ProfileDecoder } from '@profcol/pprof';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ddtraceConfigSchema } from '../src/index.js';
import { goUpload, request, startReceiver, zstd, type Running } from './helpers.js';

const MiB = 1024 * 1024;

/** A consumer that holds every batch until `open()` is called. */
class GatedConsumer implements Consumer {
  readonly batches: Batch[] = [];
  private waiting: (() => void)[] = [];
  private gate = new Promise<void>((resolve) => this.waiting.push(resolve));
  async consume(batch: Batch): Promise<void> {
    this.batches.push(batch);
    await this.gate;
  }
  open(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

describe('ddtrace receiver: the process-wide memory budget (service.limits)', () => {
  let r: Running | undefined;
  afterEach(async () => {
    await r?.stop();
    r = undefined;
  });

  it('refuses an upload whose Content-Length does not fit with 503 memory_budget and Retry-After, before reading it, and counts it', async () => {
    const limits = createServiceLimits({ memoryBytes: 2 * MiB, decodeWorkers: 1 });
    r = await startReceiver({ dedup_window: '0' }, undefined, { limits });
    const big = Buffer.alloc(3 * MiB, 1);
    const response = await request(r.port, { headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: big });
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.json.reason).toBe('memory_budget');
    expect(response.json.error).toMatch(/service::limits::memory/);
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'memory_budget' })).toBe(1);
    expect(limits.budget.usedBytes).toBe(0);
  });

  it("holds an upload's body and decompressed profiles against the budget until the pipeline answered, then gives them back", async () => {
    const limits = createServiceLimits({ memoryBytes: 64 * MiB, decodeWorkers: 1 });
    const gated = new GatedConsumer();
    r = await startReceiver({ dedup_window: '0' }, gated, { limits });
    const upload = goUpload();
    const answer = request(r.port, { headers: upload.headers, body: upload.body });
    while (gated.batches.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const decompressed = gated.batches[0]!.bundles[0]!.profiles.reduce((n, p) => n + p.decoded!.pprof.byteLength, 0);
    expect(limits.budget.usedBytes).toBeGreaterThanOrEqual(upload.body.length + decompressed);
    gated.open();
    expect((await answer).status).toBe(200);
    expect(limits.budget.usedBytes).toBe(0);
  });

  it('refuses uploads past the budget while others are in flight, and accepts them again once those are answered', async () => {
    const upload = goUpload();
    const held = async (memoryBytes: number) => {
      const limits = createServiceLimits({ memoryBytes, decodeWorkers: 1 });
      const gated = new GatedConsumer();
      const running = await startReceiver({ dedup_window: '0' }, gated, { limits });
      const answer = request(running.port, { headers: upload.headers, body: upload.body });
      // (An answer before the pipeline got the upload would be a refusal: fail instead of waiting.)
      const early = answer.then((response) => response);
      while (gated.batches.length === 0) {
        const settled = await Promise.race([early, new Promise((resolve) => setTimeout(() => resolve(undefined), 10))]);
        if (settled) throw new Error(`the first upload was answered ${JSON.stringify((settled as { text: string }).text)}`);
      }
      return { limits, gated, running, answer };
    };
    // What one upload holds while the pipeline has it.
    const probe = await held(64 * MiB);
    const oneUpload = probe.limits.budget.usedBytes;
    probe.gated.open();
    await probe.answer;
    await probe.running.stop();

    // Room for one upload (and its decoding estimates), not for a second one of 3 MiB more: that
    // one is refused from its Content-Length.
    const { limits, gated, running, answer } = await held(oneUpload + 2 * MiB);
    r = running;
    const larger = goUpload({ extraParts: [{ name: 'go.trace', filename: 'go.trace', contentType: 'application/octet-stream', data: Buffer.alloc(3 * MiB) }] });
    const second = await request(r.port, { headers: larger.headers, body: larger.body });
    expect([second.status, second.json.reason]).toEqual([503, 'memory_budget']);
    gated.open();
    expect((await answer).status).toBe(200);
    const third = await request(r.port, { headers: upload.headers, body: upload.body });
    expect(third.status).toBe(200);
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'memory_budget' })).toBe(1);
    expect(limits.budget.usedBytes).toBe(0);
  });

  it('refuses a zstd bomb that fits the cap but not the budget with 503 (not 413), charged as it decompresses', async () => {
    const limits = createServiceLimits({ memoryBytes: 16 * MiB, maxDecompressedBytes: 256 * MiB, decodeWorkers: 1 });
    r = await startReceiver({ dedup_window: '0' }, undefined, { limits });
    const bomb = zstd(Buffer.alloc(64 * MiB));
    const upload = goUpload({ compress: (name, data) => (name === 'metrics.json' ? bomb : zstd(data)) });
    const response = await request(r.port, { headers: upload.headers, body: upload.body });
    expect([response.status, response.json.reason]).toEqual([503, 'memory_budget']);
    expect(limits.budget.usedBytes).toBe(0);
  });

  it('answers 503 decoder_failed with Retry-After when the worker decoding an upload dies, and the next upload is decoded by a new one', async () => {
    const limits = createServiceLimits({ decodeWorkers: 1 });
    r = await startReceiver({ dedup_window: '0', keep_attachments: true }, undefined, { limits });
    // A kept attachment that inflates to 128 MiB: too large to decode inline, so a worker takes it.
    const trace = gzipSync(Buffer.alloc(128 * MiB));
    const upload = goUpload({ extraParts: [{ name: 'go.trace', filename: 'go.trace', contentType: 'application/octet-stream', data: trace }] });
    const answer = request(r.port, { headers: upload.headers, body: upload.body });
    const pool = ProfileDecoder.for({ limits });
    try {
      while (pool.pool.busyThreads.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      await pool.pool.busyThreads[0]!.terminate();
      const refused = await answer;
      expect([refused.status, refused.json.reason]).toEqual([503, 'decoder_failed']);
      expect(refused.headers['retry-after']).toBeDefined();
      expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'decoder_failed' })).toBe(1);
      expect((await request(r.port, { headers: upload.headers, body: upload.body })).status).toBe(200);
      // A large upload's bytes go back to the budget once a collection has freed them.
      await vi.waitFor(() => expect(limits.budget.usedBytes).toBe(0));
    } finally {
      await pool.close();
    }
  });

  it('stops its decode workers when it shuts down', async () => {
    const limits = createServiceLimits({ decodeWorkers: 2 });
    r = await startReceiver({}, undefined, { limits });
    const handle = ProfileDecoder.for({ limits });
    expect(handle.pool.alive).toBe(2);
    await handle.close();
    await r.stop();
    r = undefined;
    expect(handle.pool.alive).toBe(0);
  });

  it('says where max_decompressed_bytes went when a configuration still sets it', () => {
    const parsed = ddtraceConfigSchema.parse({ max_decompressed_bytes: '8MiB' });
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.issues[0]).toMatchObject({
      path: ['max_decompressed_bytes'],
      message: expect.stringContaining('service::limits::max_decompressed_bytes'),
    });
  });
});
