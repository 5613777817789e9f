import { gzipSync } from 'node:zlib';
import { createServiceLimits, MemoryBudget, type Profile } from '@profcol/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DecodePool, DecodeWorkerError, ProfileDecoder, decodeFailureReason } from '../src/index.js';
import { localFixture, rawGoPprof } from './helpers.js';

const MiB = 1024 * 1024;
const pools: DecodePool[] = [];
/** A pool that sends every job to a worker (no inline attempt), closed after the test. */
function workerPool(budget: MemoryBudget, workers = 2): DecodePool {
  const pool = new DecodePool({ budget, workers, inlineInputBytes: -1 });
  pools.push(pool);
  return pool;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

const heap = () => gzipSync(rawGoPprof('heap'));

describe('decode workers: one budget, one cap, decode once', () => {
  it('decodes on a worker thread and hands the decompressed profile back with its summary, charged to the budget until given back', async () => {
    const budget = new MemoryBudget(64 * MiB);
    const pool = workerPool(budget);
    const { results, charged } = await pool.run([{ bytes: heap(), summarize: 'pprof' }], 256 * MiB);
    const [result] = results;
    expect(result).toMatchObject({ ok: true, encoding: 'gzip' });
    if (!result!.ok) throw new Error('unreachable');
    expect(result.plain).toEqual(rawGoPprof('heap'));
    expect(result.decoded!.totals[3]).toBe(5_603_986);
    expect(charged).toBe(result.plain.byteLength);
    expect(budget.usedBytes).toBe(charged);
    budget.release(charged);
    expect(pool.started).toBeGreaterThan(0);
  });

  it('stops a zstd bomb at the cap inside a worker (too_large), and gives every byte it reserved back', async () => {
    const budget = new MemoryBudget(512 * MiB);
    const pool = workerPool(budget);
    const { results, charged } = await pool.run([{ bytes: localFixture('bomb-64MiB-zeros.zst'), summarize: 'none' }], 8 * MiB);
    expect(results[0]).toMatchObject({ ok: false, kind: 'too_large', maxBytes: 8 * MiB });
    expect(charged).toBe(0);
    expect(budget.usedBytes).toBe(0);
  });

  it('charges decompression to the budget as it goes: a bomb under the cap but over the budget is refused (memory_budget), never allocated', async () => {
    const budget = new MemoryBudget(16 * MiB);
    const pool = workerPool(budget);
    const { results } = await pool.run([{ bytes: localFixture('bomb-64MiB-zeros.zst'), summarize: 'none' }], 256 * MiB);
    expect(results[0]).toMatchObject({ ok: false, kind: 'memory_budget' });
    expect(budget.usedBytes).toBe(0);
  });

  it('keeps the bound with several workers inflating at once: what they hold together never passes the budget', async () => {
    const budget = new MemoryBudget(40 * MiB);
    const pool = workerPool(budget, 2);
    const zeros = gzipSync(Buffer.alloc(12 * MiB));
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, budget.usedBytes)), 1);
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => pool.run([{ bytes: zeros, summarize: 'none' }], 256 * MiB)));
    clearInterval(sampler);
    const kept = outcomes.filter((o) => o.results[0]!.ok);
    const refused = outcomes.filter((o) => !o.results[0]!.ok);
    expect(kept.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0); // 6 × 12 MiB do not fit in 40 MiB
    for (const o of refused) expect(o.results[0]).toMatchObject({ kind: 'memory_budget' });
    expect(peak).toBeLessThanOrEqual(40 * MiB);
    expect(budget.usedBytes).toBe(kept.reduce((n, o) => n + o.charged, 0));
    for (const o of kept) budget.release(o.charged);
  });

  it('a worker that dies fails only its own job (DecodeWorkerError), gives back what it had charged, and the pool goes on with a new thread', async () => {
    const budget = new MemoryBudget(64 * MiB);
    const pool = workerPool(budget, 1);
    await expect(pool.run([{ bytes: heap(), summarize: 'pprof' }], 256 * MiB, { crashForTest: true })).rejects.toBeInstanceOf(DecodeWorkerError);
    expect(pool.crashed).toBe(1);
    expect(budget.usedBytes).toBe(0);
    const { results, charged } = await pool.run([{ bytes: heap(), summarize: 'pprof' }], 256 * MiB);
    expect(results[0]!.ok).toBe(true);
    budget.release(charged);
    expect(pool.started).toBe(2);
  });

  it('close() terminates every worker and refuses later jobs', async () => {
    const pool = workerPool(new MemoryBudget(64 * MiB), 2);
    pool.warm();
    expect(pool.alive).toBe(2);
    await pool.close();
    expect(pool.alive).toBe(0);
    await expect(pool.run([{ bytes: heap(), summarize: 'pprof' }], MiB)).rejects.toBeInstanceOf(DecodeWorkerError);
  });

  it('decodes small jobs inline and large ones on a worker, with the same results and the same cap', async () => {
    const budget = new MemoryBudget(512 * MiB);
    const pool = new DecodePool({ budget, workers: 1 });
    pools.push(pool);
    const small = await pool.run([{ bytes: heap(), summarize: 'pprof' }], 256 * MiB);
    expect(pool.inlineJobs).toBe(1);
    expect(pool.started).toBe(0);
    budget.release(small.charged);
    // 32 MiB of zeros: more than an inline attempt may make, so it moves to a worker.
    const large = await pool.run([{ bytes: gzipSync(Buffer.alloc(32 * MiB)), summarize: 'none' }], 256 * MiB);
    expect(large.results[0]).toMatchObject({ ok: true });
    expect(pool.started).toBe(1);
    budget.release(large.charged);
    const capped = await pool.run([{ bytes: gzipSync(Buffer.alloc(32 * MiB)), summarize: 'none' }], 8 * MiB);
    expect(capped.results[0]).toMatchObject({ ok: false, kind: 'too_large' });
    expect(budget.usedBytes).toBe(0);
  });
});

describe('ProfileDecoder: the one decode entry point', () => {
  it('decodes a profile once: concurrent callers share one decode, and profile.decoded is set', async () => {
    const decoder = ProfileDecoder.for({ limits: createServiceLimits({ decodeWorkers: 1 }) });
    const profile: Profile = { type: 'heap', name: 'heap.pprof', data: heap() };
    const [a, b] = await Promise.all([decoder.decodeOnce(profile), decoder.decodeOnce(profile)]);
    expect(a).toBe(b);
    expect(profile.decoded).toBe(a);
    expect(await decoder.decodeOnce(profile)).toBe(a);
    await decoder.close();
  });

  it('uses service.limits.max_decompressed_bytes for all the profiles of one bundle together, and says why one failed', async () => {
    const limits = createServiceLimits({ maxDecompressedBytes: 1024, decodeWorkers: 1 });
    const decoder = ProfileDecoder.for({ limits });
    const profiles: Profile[] = [
      { type: 'heap', name: 'heap', data: heap() },
      { type: 'cpu', name: 'garbage', data: new Uint8Array([0x1f, 0x8b, 0x00]) },
    ];
    const failures = await decoder.decodeProfiles(profiles);
    expect([...failures.values()].map(decodeFailureReason)).toEqual(['too_large', 'decompress']);
    expect(limits.budget.usedBytes).toBe(0);
    await decoder.close();
  });

  it('shares one pool between the components of one set of limits; the last close() stops its workers', async () => {
    const limits = createServiceLimits({ decodeWorkers: 2 });
    const receiver = ProfileDecoder.for({ limits });
    const processor = ProfileDecoder.for({ limits });
    expect(processor.pool).toBe(receiver.pool);
    receiver.warm();
    expect(receiver.pool.alive).toBe(2);
    await receiver.close();
    expect(processor.pool.alive).toBe(2);
    await processor.close();
    expect(processor.pool.alive).toBe(0);
  });

  it('stops waiting when its signal aborts, and gives the bytes back when the job ends', async () => {
    const limits = createServiceLimits({ decodeWorkers: 1 });
    const decoder = ProfileDecoder.for({ limits });
    const abort = new AbortController();
    const pending = decoder.decodeAll([{ bytes: gzipSync(Buffer.alloc(64 * MiB)), summarize: 'none' }], { signal: abort.signal });
    abort.abort(new Error('the client went away'));
    await expect(pending).rejects.toThrow('the client went away');
    await decoder.close();
    expect(limits.budget.usedBytes).toBe(0);
  });
});
