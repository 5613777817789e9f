import { CollectingConsumer } from '@profcol/core';
import { afterEach, describe, expect, it } from 'vitest';
import { PprofReceiver, startFakePprofTarget, type FakeTarget } from '../src/index.js';
import { goFixture, parseConfig, settings } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe('pprof receiver: the scheduler', () => {
  it('scrapes each target every interval from a stable per-target offset within the jitter, until shutdown', async () => {
    const targets: FakeTarget[] = await Promise.all([0, 1, 2].map(() => startFakePprofTarget({ routes: { '/debug/pprof/goroutine': goFixture('goroutine') } })));
    cleanup.push(async () => void (await Promise.all(targets.map((t) => t.close()))));
    const times = new Map<string, number[]>();
    const consumer = new CollectingConsumer();
    const consume = consumer.consume.bind(consumer);
    consumer.consume = async (batch) => {
      for (const b of batch.bundles) times.set(b.resource.instance!, [...(times.get(b.resource.instance!) ?? []), Date.now()]);
      return consume(batch);
    };
    // The user-facing minimum is 10 s; a test may build the config object itself with a short interval.
    const config = { ...parseConfig({ targets: targets.map((t) => ({ url: t.url })), enabled_types: ['goroutine'], memstats: false }), interval: 400, jitter: 200 };
    const receiver = new PprofReceiver(settings(), config, consumer);
    const started = Date.now();
    await receiver.start();
    cleanup.push(() => receiver.shutdown());
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await receiver.shutdown();
    const countAtShutdown = consumer.batches.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(consumer.batches.length).toBe(countAtShutdown);

    // Times are taken when a bundle arrives, after its HTTP round trip, so on a loaded 2-core
    // machine two arrivals can be closer than the 400 ms interval by however much the first
    // round trip ran late. The bounds allow that without letting a doubled or skipped round pass.
    for (const target of targets) {
      const at = times.get(target.url)!;
      expect(at.length).toBeGreaterThanOrEqual(2);
      expect(at.length).toBeLessThanOrEqual(4);
      expect(at[0]! - started).toBeLessThan(200 + 400); // first round within the jitter
      for (let i = 1; i < at.length; i++) {
        expect(at[i]! - at[i - 1]!).toBeGreaterThan(200);
        expect(at[i]! - at[i - 1]!).toBeLessThan(800);
      }
    }
    // Stable offsets: not all three fire in the same millisecond.
    expect(new Set(targets.map((t) => Math.floor((times.get(t.url)![0]! - started) / 5))).size).toBeGreaterThan(1);
  });
});
