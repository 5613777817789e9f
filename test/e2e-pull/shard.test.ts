/**
 * Three `pprof` receiver replicas with `shard: {index: 0..2, total: 3}` over 30 in-process fake
 * Go targets (Node HTTP servers serving real net/http/pprof responses from test/fixtures),
 * plus a dead, a garbage and a hanging target. Rounds are driven with `scrapeOnce()`.
 */
import { shardOf, type RoundReport } from '@profcol/receiver-pprof';
import { startFakePprofTarget, type FakeTarget } from '@profcol/receiver-pprof/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goFixture, pullPipeline } from './helpers.js';

const MEMSTATS = `heap profile: 0: 0 [0: 0] @ heap/1048576

# runtime.MemStats
# Alloc = 1000
# TotalAlloc = 2000
# NumGC = 1
# PauseNs = [${new Array(256).fill(0).join(' ')}]
# PauseEnd = [${new Array(256).fill(0).join(' ')}]
`;

const ROUTES = {
  '/debug/pprof/profile': goFixture('profile'),
  '/debug/pprof/goroutine': goFixture('goroutine'),
  '/debug/pprof/heap': ({ query }: { query: URLSearchParams }) => (query.get('debug') === '1' ? MEMSTATS : goFixture('heap')),
  '/debug/pprof/mutex': goFixture('mutex'),
  '/debug/pprof/block': goFixture('block'),
};
const PATHS_PER_ROUND = [
  '/debug/pprof/profile?seconds=1',
  '/debug/pprof/goroutine',
  '/debug/pprof/heap',
  '/debug/pprof/heap?debug=1',
  '/debug/pprof/mutex',
  '/debug/pprof/block',
];
const TIMEOUT_MS = 1500;

let healthy: FakeTarget[];
let garbage: FakeTarget;
let hanging: FakeTarget;
let deadUrl: string;

beforeAll(async () => {
  healthy = await Promise.all(Array.from({ length: 30 }, () => startFakePprofTarget({ routes: ROUTES })));
  garbage = await startFakePprofTarget({ routes: ROUTES, mode: 'garbage' });
  hanging = await startFakePprofTarget({ routes: ROUTES, mode: 'hang' });
  const dead = await startFakePprofTarget({ routes: ROUTES });
  deadUrl = dead.url;
  await dead.close();
});

afterAll(async () => {
  await Promise.all([...healthy, garbage, hanging].map((t) => t.close()));
});

describe('sharding 33 targets over 3 replicas', () => {
  it('every target is scraped by exactly one replica, exactly once per round, and bad targets do not stop the others', async () => {
    const urls = [...healthy.map((t) => t.url), deadUrl, garbage.url, hanging.url];
    const replicas = [0, 1, 2].map((index) =>
      pullPipeline(
        { targets: urls.map((url) => ({ url, service: 'fleet' })), shard: { index, total: 3 }, timeout: `${TIMEOUT_MS}ms`, cpu_seconds: 1 },
        `pprof/replica${index}`,
      ),
    );
    try {
      // Ownership: the three replicas partition the targets by FNV-1a(url) mod 3.
      const owned = replicas.map((r) => r.receiver.targets.map((t) => t.url));
      expect(owned.flat().sort()).toEqual([...urls].sort());
      owned.forEach((list, index) => list.forEach((url) => expect(shardOf(url, 3)).toBe(index)));
      expect(owned.every((list) => list.length > 0)).toBe(true);

      for (let round = 1; round <= 2; round++) {
        const started = Date.now();
        const healthyDone = Promise.all(
          replicas.map((r) => r.sink.waitFor(round * owned[replicas.indexOf(r)]!.filter((u) => healthy.some((h) => h.url === u)).length, 10_000)),
        ).then(() => Date.now() - started);
        const reports: RoundReport[] = (await Promise.all(replicas.map((r) => r.receiver.scrapeOnce()))).flat();
        const elapsed = Date.now() - started;

        // Each healthy target got exactly one request per path this round, from one replica.
        for (const target of healthy) {
          expect(target.requests.slice((round - 1) * PATHS_PER_ROUND.length).sort()).toEqual([...PATHS_PER_ROUND].sort());
          expect(target.requests).toHaveLength(round * PATHS_PER_ROUND.length);
        }
        const byUrl = new Map(reports.map((r) => [r.target, r]));
        expect(byUrl.size).toBe(33);
        for (const target of healthy) expect(byUrl.get(target.url)!.outcome).toBe('success');

        if (round === 1) {
          // The bad targets are reported, each with its reason.
          expect(byUrl.get(deadUrl)!.outcome).toBe('failed');
          expect(new Set(byUrl.get(deadUrl)!.failures.map((f) => f.reason))).toEqual(new Set(['connect']));
          expect(byUrl.get(garbage.url)!.outcome).toBe('failed');
          expect(new Set(byUrl.get(garbage.url)!.failures.map((f) => f.reason))).toEqual(new Set(['pprof', 'memstats']));
          expect(byUrl.get(hanging.url)!.outcome).toBe('failed');
          expect(
            byUrl
              .get(hanging.url)!
              .failures.map((f) => [f.type, f.reason])
              .sort(),
          ).toEqual([
            ['block', 'timeout'],
            ['cpu', 'timeout'],
            ['goroutine', 'timeout'],
            ['heap', 'timeout'],
            ['memstats', 'timeout'],
            ['mutex', 'timeout'],
          ]);
          expect(hanging.requests.sort()).toEqual([...PATHS_PER_ROUND].sort());
          // The hanging target's CPU request waits timeout + cpu_seconds; the healthy ones were all delivered long before.
          expect(await healthyDone).toBeLessThan(TIMEOUT_MS);
          expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS + 1000 - 50);
          expect(elapsed).toBeLessThan(TIMEOUT_MS + 1000 + 3000);
        } else {
          // Targets whose every request failed back off: the next round skips them, and is fast again.
          for (const url of [deadUrl, garbage.url, hanging.url]) expect(byUrl.get(url)!.outcome).toBe('skipped_backoff');
          expect(hanging.requests).toHaveLength(PATHS_PER_ROUND.length);
          expect(elapsed).toBeLessThan(TIMEOUT_MS);
        }
      }

      // 30 bundles per round in total, one per healthy target; deltas in round 2.
      const bundles = replicas.flatMap((r) => r.sink.bundles);
      expect(bundles).toHaveLength(60);
      const round2 = replicas.flatMap((r) => r.sink.bundles.slice(r.sink.bundles.length / 2));
      expect(new Set(round2.map((b) => b.resource.instance))).toEqual(new Set(healthy.map((t) => t.url)));
      for (const bundle of round2) {
        expect(bundle.profiles.map((p) => [p.type, p.delta ?? false])).toEqual([
          ['cpu', false],
          ['goroutine', false],
          ['heap', true],
          ['mutex', true],
          ['block', true],
        ]);
        expect(bundle.memStats!.values.Alloc).toBe(1000);
        expect(bundle.source).toMatch(/^pprof\/replica[012]$/);
      }
      const counted = replicas.reduce((sum, r) => sum + r.registry.value('profcol_receiver_scrape_failures_total'), 0);
      expect(counted).toBe(3 * 6); // dead, garbage, hanging: 6 requests each in round 1
      const skipped = replicas.reduce((sum, r) => sum + r.registry.value('profcol_receiver_scrapes_total', { outcome: 'skipped_backoff' }), 0);
      expect(skipped).toBe(3);
    } finally {
      await Promise.all(replicas.map((r) => r.receiver.shutdown()));
    }
  });
});
