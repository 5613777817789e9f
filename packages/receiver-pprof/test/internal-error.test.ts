import { Writable } from 'node:stream';
import { CollectingConsumer, createLogger, createTestSettings } from '@profcol/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PprofReceiver, startFakePprofTarget, type FakeTarget } from '../src/index.js';
import { evolve, goFixture, parseConfig, SECOND, timeOf } from './helpers.js';

// A bug inside a round, where the reviewer found one could escape: after the delta, outside any request.
const bug = vi.hoisted(() => ({ armed: false }));
vi.mock('@profcol/pprof', async (importOriginal) => {
  const original = await importOriginal<typeof import('@profcol/pprof')>();
  return {
    ...original,
    deltaProfiles: (...args: Parameters<typeof original.deltaProfiles>) => {
      const result = original.deltaProfiles(...args);
      if (bug.armed && result.kind === 'delta') {
        // A result whose summary throws when the round reads it: a TypeError, not a PprofDecodeError the round would count as a failed request.
        return Object.defineProperty({ ...result, baseline: result.baseline }, 'decoded', {
          get: () => {
            throw new TypeError('boom: a bug in the delta summary');
          },
        });
      }
      return result;
    },
  };
});

const HEAP_T0 = timeOf(goFixture('heap'));
const servers: FakeTarget[] = [];
const receivers: PprofReceiver[] = [];
afterEach(async () => {
  bug.armed = false;
  await Promise.all(receivers.splice(0).map((r) => r.shutdown()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A target serving a goroutine profile and a heap profile that grows every scrape. */
async function target(): Promise<FakeTarget> {
  let heap = 0;
  const t = await startFakePprofTarget({
    routes: {
      '/debug/pprof/goroutine': goFixture('goroutine'),
      '/debug/pprof/heap': () => evolve(goFixture('heap'), { factor: heap + 1, types: ['alloc_objects', 'alloc_space'], timeNanos: HEAP_T0 + BigInt(heap++) * 10n * SECOND }),
    },
  });
  servers.push(t);
  return t;
}

function collectingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger({ level: 'warn', format: 'json', destination }), lines };
}

describe('pprof receiver: an internal error in a round', () => {
  it('is a failed round (reason internal), logged with the target; the target backs off and recovers', async () => {
    const t = await target();
    const { logger, lines } = collectingLogger();
    const settings = createTestSettings({ id: 'pprof', kind: 'receiver', logger });
    const consumer = new CollectingConsumer();
    const receiver = new PprofReceiver(settings, parseConfig({ targets: [{ url: t.url }], enabled_types: ['goroutine', 'heap'], memstats: false }), consumer, { autoStart: false });
    receivers.push(receiver);

    expect((await receiver.scrapeOnce())[0]!.baselines).toEqual(['heap']);
    bug.armed = true;
    const [failed] = await receiver.scrapeOnce();
    expect(failed).toMatchObject({ target: t.url, outcome: 'failed', emitted: [], failures: [{ type: 'round', reason: 'internal', message: 'boom: a bug in the delta summary' }] });
    expect(failed!.bundle).toBeUndefined();
    expect(consumer.batches).toHaveLength(1); // only the first round's
    expect(settings.registry.value('profcol_receiver_scrapes_total', { target: t.url, outcome: 'failed' })).toBe(1);
    expect(settings.registry.value('profcol_receiver_scrape_failures_total', { target: t.url, type: 'round', reason: 'internal' })).toBe(1);
    const logged = lines.find((l) => l.reason === 'internal');
    expect(logged).toMatchObject({ level: 50, target: t.url });
    expect(String(logged!.msg)).toContain(`pprof target ${t.url}: the round failed on an internal error`);
    expect(String(logged!.msg)).toContain('boom');

    // Like any failed round, the target skips the next one; the one after is a normal delta
    // against the last accepted baseline.
    bug.armed = false;
    expect((await receiver.scrapeOnce())[0]!.outcome).toBe('skipped_backoff');
    (receiver.targets[0]!).nextAllowedMs = 0; // skip the wait
    const [next] = await receiver.scrapeOnce();
    expect(next!.outcome).toBe('success');
    expect(next!.emitted).toEqual(['goroutine', 'heap']);
  });

  it('the scheduler: no unhandled rejection, and the target is scraped again on later ticks', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const t = await target();
      const settings = createTestSettings({ id: 'pprof', kind: 'receiver' });
      const consumer = new CollectingConsumer();
      // The user-facing minimum is 10 s; a test may build the config object itself with a short interval.
      const config = { ...parseConfig({ targets: [{ url: t.url }], enabled_types: ['goroutine', 'heap'], memstats: false }), interval: 250, jitter: 0, backoff_max: 250 };
      const receiver = new PprofReceiver(settings, config, consumer);
      receivers.push(receiver);
      bug.armed = true; // every delta round throws, from the second round on
      await receiver.start();
      await vi.waitFor(() => expect(settings.registry.value('profcol_receiver_scrape_failures_total', { reason: 'internal' })).toBeGreaterThanOrEqual(2), { timeout: 5000, interval: 50 });
      bug.armed = false;
      await vi.waitFor(() => expect(consumer.batches.some((b) => b.bundles[0]!.profiles.some((p) => p.type === 'heap'))).toBe(true), { timeout: 5000, interval: 50 });
      await receiver.shutdown();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
      expect(settings.registry.value('profcol_receiver_scrapes_total', { outcome: 'failed' })).toBeGreaterThanOrEqual(2);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
