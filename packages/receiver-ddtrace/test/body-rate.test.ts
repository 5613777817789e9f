import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BodyRateGuard, type BodyRateReport } from '../src/body-rate.js';

// Fake timers and the matching fake clock: the rule is about elapsed time, and the test must not depend on the machine's speed.
beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function guard(minBytesPerSecond: number, graceMs: number) {
  const reports: BodyRateReport[] = [];
  const g = new BodyRateGuard(
    { minBytesPerSecond, graceMs },
    (report) => reports.push(report),
    () => Date.now(),
  );
  return { g, reports };
}

describe('minimum body rate (body_timeout, then min_body_rate on average)', () => {
  it('gives any body body_timeout, then one second per min_body_rate bytes it has sent', () => {
    const { g, reports } = guard(1000, 10_000);
    vi.advanceTimersByTime(9_000);
    g.add(5_000); // earns 5 s more: due at 15 s
    vi.advanceTimersByTime(5_900);
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(reports).toEqual([{ received: 5_000, elapsedMs: 15_000, bytesPerSecond: 333 }]);
  });

  it('cuts a trickle of one byte a second off at body_timeout, once', () => {
    const { g, reports } = guard(1024, 2_000);
    for (let s = 0; s < 10; s++) {
      g.add(1);
      vi.advanceTimersByTime(1_000);
    }
    // Due at 2 s plus 3 bytes' worth (the byte sent at 2 s counted), checked again no sooner than 50 ms later.
    expect(reports).toEqual([{ received: 3, elapsedMs: 2_050, bytesPerSecond: 1 }]);
  });

  it('never fires for a body that keeps up, nor once stopped, nor when min_body_rate is 0', () => {
    const fast = guard(1024, 1_000);
    for (let s = 0; s < 30; s++) {
      fast.g.add(2048);
      vi.advanceTimersByTime(1_000);
    }
    expect(fast.reports).toEqual([]);
    fast.g.stop(); // the body is complete: no check after it
    const stopped = guard(1024, 1_000);
    stopped.g.stop();
    const off = guard(0, 1_000);
    vi.advanceTimersByTime(60_000);
    expect([fast.reports, stopped.reports, off.reports]).toEqual([[], [], []]);
  });
});
