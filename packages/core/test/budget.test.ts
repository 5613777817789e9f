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
