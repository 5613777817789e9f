import { describe, expect, it, vi } from 'vitest';
import { MemoryBudget } from '../src/budget.js';

const MiB = 1024 * 1024;

describe('the process-wide memory budget', () => {
  it('admits reservations while they fit and refuses the one that does not, charging nothing for it', () => {
    const budget = new MemoryBudget(10 * MiB);
    const first = budget.tryReserve(6 * MiB)!;
    expect(budget.tryReserve(5 * MiB)).toBeUndefined();
    expect(budget.usedBytes).toBe(6 * MiB);
    expect(first.grow(4 * MiB)).toBe(true);
    expect(first.grow(1)).toBe(false);
    first.release();
    expect(budget.usedBytes).toBe(0);
  });

  it('gives a large reservation back only after a garbage collection ran, so garbage cannot be admitted twice', async () => {
    const budget = new MemoryBudget(256 * MiB);
    const large = budget.tryReserve(200 * MiB)!;
    large.release();
    // Until the collection, the next large upload does not fit.
    expect(budget.usedBytes).toBe(200 * MiB);
    expect(budget.tryReserve(100 * MiB)).toBeUndefined();
    await vi.waitFor(() => expect(budget.usedBytes).toBe(0));
    expect(budget.tryReserve(100 * MiB)).toBeDefined();
  });

  it('gives the memory of a large piece of work back to the kernel once such work stops (a collection, then malloc_trim)', async () => {
    const budget = new MemoryBudget(512 * MiB);
    const upload = budget.tryReserve(200 * MiB)!;
    // 200 MiB of 32 KiB chunks (on the malloc heap, as body chunks are) under a few small
    // buffers that stay alive and keep free() from giving the heap back.
    let chunks: Buffer[] | undefined = [];
    const survivors: Buffer[] = [];
    for (let i = 0; i < 6400; i++) {
      chunks.push(Buffer.alloc(32 * 1024, 1));
      if (i % 64 === 0) survivors.push(Buffer.alloc(256, 2));
    }
    const held = process.memoryUsage.rss();
    chunks = undefined;
    upload.release();
    // The collection follows the release at once; the trim once large releases stopped for 1 s.
    await vi.waitFor(() => expect(budget.usedBytes).toBe(0));
    await vi.waitFor(() => expect(held - process.memoryUsage.rss()).toBeGreaterThan(150 * MiB), { timeout: 5000, interval: 100 });
    expect(survivors.every((b) => b[0] === 2)).toBe(true);
  });

  it('shares one counter with worker threads: a charge made through the shared array is seen by the budget', () => {
    const budget = new MemoryBudget(8 * MiB);
    const view = new MemoryBudget(8 * MiB, budget.counter);
    expect(view.tryCharge(3 * MiB)).toBe(true);
    expect(budget.usedBytes).toBe(3 * MiB);
    expect(budget.availableBytes).toBe(5 * MiB);
    view.release(3 * MiB);
    expect(budget.usedBytes).toBe(0);
  });
});
