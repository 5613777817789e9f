import { CollectingConsumer } from '@profcol/core/testing';
import { deltaProfiles } from '@profcol/pprof';
import { afterEach, describe, expect, it } from 'vitest';
import { PprofReceiver } from '../src/index.js';
import { startFakePprofTarget, type FakeTarget } from '../src/testing.js';
import { collectingLogger, evolve, goFixture, ManualClock, parseConfig, roundsSettled, SECOND, settings, timeOf } from './helpers.js';

/**
 * A bug inside a round, where no request can make one: in the collector-side delta. The
 * receiver's `deltaProfiles` option is the seam (production leaves it unset); when armed, it
 * throws a TypeError, not the PprofDecodeError a malformed profile would give.
 */
function buggyDelta() {
  const bug = { armed: false };
  const delta: typeof deltaProfiles = (...args) => {
    if (bug.armed) throw new TypeError('boom: a bug in the delta');
    return deltaProfiles(...args);
  };
  return { bug, delta };
}

const HEAP_T0 = timeOf(goFixture('heap'));
const servers: FakeTarget[] = [];
const receivers: PprofReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.shutdown()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A target serving a goroutine profile and a heap profile that grows every scrape. */
async function target(): Promise<FakeTarget> {
  let heap = 0;
  const t = await startFakePprofTarget({
    routes: {
      '/debug/pprof/goroutine': goFixture('goroutine'),
      '/debug/pprof/heap': () =>
        evolve(goFixture('heap'), { factor: heap + 1, types: ['alloc_objects', 'alloc_space'], timeNanos: HEAP_T0 + BigInt(heap++) * 10n * SECOND }),
    },
  });
  servers.push(t);
  return t;
}

describe('pprof receiver: an internal error in a round', () => {
  it('is a failed round (reason internal), logged with the target; the target backs off and recovers', async () => {
    const t = await target();
    const { logger, lines } = collectingLogger();
    const s = settings('pprof', undefined, logger);
    const consumer = new CollectingConsumer();
    const { bug, delta } = buggyDelta();
    const receiver = new PprofReceiver(s, parseConfig({ targets: [{ url: t.url }], enabled_types: ['goroutine', 'heap'], memstats: false }), consumer, {
      autoStart: false,
      deltaProfiles: delta,
    });
    receivers.push(receiver);

    expect((await receiver.scrapeOnce())[0]!.baselines).toEqual(['heap']);
    bug.armed = true;
    const [failed] = await receiver.scrapeOnce();
    expect(failed).toMatchObject({
      target: t.url,
      outcome: 'failed',
      emitted: [],
      failures: [{ type: 'round', reason: 'internal', message: 'boom: a bug in the delta' }],
    });
    expect(failed!.bundle).toBeUndefined();
    expect(consumer.batches).toHaveLength(1); // only the first round's
    expect(s.registry.value('profcol_receiver_scrapes_total', { target: t.url, outcome: 'failed' })).toBe(1);
    expect(s.registry.value('profcol_receiver_scrape_failures_total', { target: t.url, type: 'round', reason: 'internal' })).toBe(1);
    const logged = lines.find((l) => l.reason === 'internal');
    expect(logged).toMatchObject({ level: 50, target: t.url });
    expect(String(logged!.msg)).toBe(`pprof target ${t.url}: the round failed on an internal error, nothing was emitted: boom: a bug in the delta`);

    // Like any failed round, the target sits out the next one; the one after is a normal delta
    // against the last accepted baseline (scrape 3 of the heap minus scrape 1: two intervals).
    bug.armed = false;
    expect((await receiver.scrapeOnce())[0]!.outcome).toBe('skipped_backoff');
    const [next] = await receiver.scrapeOnce();
    expect(next!.outcome).toBe('success');
    expect(next!.emitted).toEqual(['goroutine', 'heap']);
    expect(consumer.bundles.at(-1)!.profiles[1]!.window).toEqual({ startNanos: HEAP_T0, endNanos: HEAP_T0 + 20n * SECOND });
  });

  it('the scheduler: no unhandled rejection, and the target is scraped again on later ticks', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const t = await target();
      const s = settings();
      const consumer = new CollectingConsumer();
      const clock = new ManualClock();
      const { bug, delta } = buggyDelta();
      // The user-facing minimum is 10 s; a test may build the config object itself with a short interval.
      const config = {
        ...parseConfig({ targets: [{ url: t.url }], enabled_types: ['goroutine', 'heap'], memstats: false }),
        interval: 250,
        jitter: 0,
        backoff_max: 250,
      };
      const receiver = new PprofReceiver(s, config, consumer, { clock, deltaProfiles: delta });
      receivers.push(receiver);
      await receiver.start();
      const tick = async () => {
        clock.advance(250);
        await roundsSettled(receiver);
      };
      clock.advance(0); // tick 0: the heap baseline
      await roundsSettled(receiver);
      bug.armed = true; // every delta round throws
      for (let i = 0; i < 4; i++) await tick(); // ticks 1..4: failed, skipped, failed, skipped
      expect(s.registry.value('profcol_receiver_scrape_failures_total', { reason: 'internal' })).toBe(2);
      expect(s.registry.value('profcol_receiver_scrapes_total', { outcome: 'skipped_backoff' })).toBe(2);
      bug.armed = false;
      await tick(); // tick 5: a delta again
      expect(consumer.batches.at(-1)!.bundles[0]!.profiles.map((p) => p.type)).toEqual(['goroutine', 'heap']);
      await receiver.shutdown();
      // An unhandled rejection is reported after the microtasks of the turn that made it.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(t.count('/debug/pprof/heap')).toBe(4); // ticks 0, 1, 3, 5
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
