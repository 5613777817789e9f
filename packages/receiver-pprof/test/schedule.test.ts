import { CollectingConsumer } from '@profcol/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { PprofReceiver } from '../src/index.js';
import { fnv1a32 } from '../src/shard.js';
import { startFakePprofTarget, type FakeRoute, type FakeTarget } from '../src/testing.js';
import { collectingLogger, goFixture, ManualClock, parseConfig, roundsSettled, settings, until } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const INTERVAL_MS = 400;
const JITTER_MS = 200;

/**
 * A receiver on a manual clock scraping the goroutine profile of `targets` every 400 ms. Time
 * moves only when the test says, so the schedule is checked exactly, however loaded the machine.
 */
async function scheduled(targets: FakeTarget[], options: { backoffMaxMs?: number } = {}) {
  const clock = new ManualClock();
  const log = collectingLogger('warn');
  const s = settings('pprof', undefined, log.logger);
  // The user-facing minimum is 10 s; a test may build the config object itself with a short interval.
  const config = {
    ...parseConfig({ targets: targets.map((t) => ({ url: t.url })), enabled_types: ['goroutine'], memstats: false }),
    interval: INTERVAL_MS,
    jitter: JITTER_MS,
    ...(options.backoffMaxMs === undefined ? {} : { backoff_max: options.backoffMaxMs }),
  };
  const receiver = new PprofReceiver(s, config, new CollectingConsumer(), { clock });
  cleanup.push(() => receiver.shutdown());
  const startMs = clock.now();
  await receiver.start();
  /** Moves the clock from timer to timer for `ms`, letting every round that started finish before the next one. */
  const runFor = async (ms: number) => {
    const endMs = clock.now() + ms;
    for (let next = clock.nextDueMs; next !== undefined && next <= endMs; next = clock.nextDueMs) {
      clock.advance(next - clock.now());
      await roundsSettled(receiver);
    }
    clock.advance(endMs - clock.now());
  };
  return { clock, receiver, registry: s.registry, logLines: log.lines, startMs, runFor };
}

/** A target serving the goroutine profile that notes the (manual) time of every request. */
async function target(clock: () => ManualClock | undefined, route?: FakeRoute): Promise<FakeTarget & { at: number[] }> {
  const at: number[] = [];
  const t = await startFakePprofTarget({
    routes: {
      '/debug/pprof/goroutine': (request) => (
        at.push(clock()!.now()), route === undefined ? goFixture('goroutine') : typeof route === 'function' ? route(request) : route
      ),
    },
  });
  cleanup.push(() => t.close());
  return Object.assign(t, { at });
}

const offsetOf = (url: string) => Math.floor((fnv1a32(`jitter:${url}`) / 2 ** 32) * JITTER_MS);

describe('pprof receiver: the scheduler', () => {
  it('scrapes each target every interval from a stable per-target offset within the jitter, until shutdown', async () => {
    let clock: ManualClock | undefined;
    const targets = await Promise.all([0, 1, 2].map(() => target(() => clock)));
    const run = await scheduled(targets);
    clock = run.clock;
    await run.runFor(1500);
    for (const t of targets) {
      const offset = offsetOf(t.url);
      expect(offset).toBeLessThan(JITTER_MS);
      const expected = [0, 1, 2, 3].map((k) => run.startMs + offset + k * INTERVAL_MS).filter((ms) => ms <= run.startMs + 1500);
      expect(t.at).toEqual(expected);
    }
    await run.receiver.shutdown();
    const counts = targets.map((t) => t.at.length);
    await run.runFor(1000);
    expect(targets.map((t) => t.at.length)).toEqual(counts);
    expect(run.clock.pending).toBe(0);
  });

  it("a round still running at the next tick makes that tick's round start late, when it ends; a third tick is skipped_busy; the phase stays", async () => {
    let clock: ManualClock | undefined;
    let release: (() => void) | undefined;
    const slow = await target(
      () => clock,
      ({ count }) => (count === 0 ? new Promise<Uint8Array>((resolve) => (release = () => resolve(goFixture('goroutine')))) : goFixture('goroutine')),
    );
    const run = await scheduled([slow]);
    clock = run.clock;
    const offset = offsetOf(slow.url);
    run.clock.advance(offset);
    await until(() => release !== undefined);
    run.clock.advance(INTERVAL_MS); // the second tick waits for the first round
    run.clock.advance(INTERVAL_MS); // the third is dropped
    expect(run.registry.value('profcol_receiver_scrapes_total', { outcome: 'skipped_busy' })).toBe(1);
    run.clock.advance(50);
    release!();
    await roundsSettled(run.receiver);
    expect(run.registry.value('profcol_receiver_scrapes_total', { outcome: 'success' })).toBe(2);
    expect(run.registry.value('profcol_receiver_late_rounds_total')).toBe(1);
    await run.runFor(INTERVAL_MS);
    expect(slow.at).toEqual([run.startMs + offset, run.startMs + offset + 2 * INTERVAL_MS + 50, run.startMs + offset + 3 * INTERVAL_MS]);
  });

  it('a target whose every request fails skips the next 1, then 3 intervals (backoff), on the same phase', async () => {
    let clock: ManualClock | undefined;
    const dead = await target(() => clock, { status: 500, body: 'down' });
    const run = await scheduled([dead], { backoffMaxMs: 10 * INTERVAL_MS });
    clock = run.clock;
    await run.runFor(JITTER_MS + 6 * INTERVAL_MS); // ticks 0..6
    const offset = offsetOf(dead.url);
    // Rounds at ticks 0, 2 (after skipping 1), 6 (after skipping 3).
    expect(dead.at).toEqual([0, 2, 6].map((k) => run.startMs + offset + k * INTERVAL_MS));
    expect(run.registry.value('profcol_receiver_scrapes_total', { outcome: 'failed' })).toBe(3);
    expect(run.registry.value('profcol_receiver_scrapes_total', { outcome: 'skipped_backoff' })).toBe(4);
  });

  it('by default a failed target sits out one tick at most, and each failed round logs when the next attempt is', async () => {
    let clock: ManualClock | undefined;
    const dead = await target(() => clock, { status: 500, body: 'down' });
    const run = await scheduled([dead]);
    clock = run.clock;
    await run.runFor(JITTER_MS + 4 * INTERVAL_MS); // ticks 0..4
    const tick = (k: number) => run.startMs + offsetOf(dead.url) + k * INTERVAL_MS;
    expect(dead.at).toEqual([tick(0), tick(2), tick(4)]);
    const failedRounds = run.logLines.filter((line) => line.consecutive_failures !== undefined);
    // Each failed round names the time of the round that follows it, and that round happened then.
    expect(failedRounds.map((line) => line.next_attempt_at)).toEqual([tick(2), tick(4), tick(6)].map((ms) => new Date(ms).toISOString()));
    expect(String(failedRounds[0]!.msg)).toBe(
      `pprof target ${dead.url}: every request failed (1 failed round in a row); next attempt at ${new Date(tick(2)).toISOString()} (in 0.8s; sitting out 1 round)`,
    );
  });

  it('backoff_max below the interval: a failed target is tried on every tick, as Prometheus and Alloy do', async () => {
    let clock: ManualClock | undefined;
    const dead = await target(() => clock, { status: 500, body: 'down' });
    const run = await scheduled([dead], { backoffMaxMs: 0 });
    clock = run.clock;
    await run.runFor(JITTER_MS + 3 * INTERVAL_MS); // ticks 0..3
    expect(dead.at).toEqual([0, 1, 2, 3].map((k) => run.startMs + offsetOf(dead.url) + k * INTERVAL_MS));
    expect(run.registry.value('profcol_receiver_scrapes_total', { outcome: 'skipped_backoff' })).toBe(0);
    expect(run.logLines.filter((line) => line.consecutive_failures !== undefined).map((line) => line.next_attempt_at)).toEqual(
      [1, 2, 3, 4].map((k) => new Date(run.startMs + offsetOf(dead.url) + k * INTERVAL_MS).toISOString()),
    );
  });
});
