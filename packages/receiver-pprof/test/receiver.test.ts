import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackpressureError, createServiceLimits, type ProfileBundle, type ServiceLimits } from '@profcol/core';
import { CollectingConsumer } from '@profcol/core/testing';
import { summarizePprof, decompressAndSummarize } from '@profcol/pprof';
import { afterEach, describe, expect, it } from 'vitest';
import { PprofReceiver } from '../src/index.js';
import { startFakePprofTarget, type FakeRequest, type FakeRoute, type FakeTarget } from '../src/testing.js';
import {
  evolve,
  goFixture,
  ManualClock,
  memStatsText,
  parseConfig,
  SECOND,
  settings,
  startHangingTcpServer,
  timeOf,
  until,
  collectingLogger,
  deferred,
  type HangingTcpServer,
} from './helpers.js';

const HEAP_T0 = timeOf(goFixture('heap'));
const MUTEX_T0 = timeOf(goFixture('mutex'));
const BLOCK_T0 = timeOf(goFixture('block'));

/**
 * Routes of a Go program whose cumulative profiles grow by the base amount every scrape,
 * 10 s apart: scrape n serves n+1 times the fixture's counters.
 */
function goRoutes(): Record<string, FakeRoute> {
  let heapScrapes = 0;
  const grow =
    (name: string, types: string[], t0: bigint): FakeRoute =>
    ({ count }) =>
      evolve(goFixture(name), { factor: count + 1, types, timeNanos: t0 + BigInt(count) * 10n * SECOND });
  return {
    '/debug/pprof/profile': goFixture('profile'),
    '/debug/pprof/goroutine': goFixture('goroutine'),
    '/debug/pprof/threadcreate': goFixture('threadcreate'),
    '/debug/pprof/heap': ({ query }) =>
      query.get('debug') === '1'
        ? memStatsText(4)
        : evolve(goFixture('heap'), {
            factor: heapScrapes + 1,
            types: ['alloc_objects', 'alloc_space'],
            timeNanos: HEAP_T0 + BigInt(heapScrapes++) * 10n * SECOND,
          }),
    '/debug/pprof/allocs': grow('allocs', ['alloc_objects', 'alloc_space'], HEAP_T0),
    '/debug/pprof/mutex': grow('mutex', ['contentions', 'delay'], MUTEX_T0),
    '/debug/pprof/block': grow('block', ['contentions', 'delay'], BLOCK_T0),
  };
}

const servers: (FakeTarget | HangingTcpServer)[] = [];
const receivers: PprofReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.shutdown()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fake(routes: Record<string, FakeRoute> = goRoutes(), mode?: 'hang' | 'garbage'): Promise<FakeTarget> {
  const target = await startFakePprofTarget({ routes, ...(mode ? { mode } : {}) });
  servers.push(target);
  return target;
}

function receiver(config: Record<string, unknown>, consumer = new CollectingConsumer(), id = 'pprof', limits?: ServiceLimits, clock?: ManualClock) {
  const s = settings(id, limits);
  const r = new PprofReceiver(s, parseConfig(config), consumer, { autoStart: false, ...(clock ? { clock } : {}) });
  receivers.push(r);
  return { receiver: r, consumer, registry: s.registry };
}

describe('pprof receiver: configuration', () => {
  it("has DataKit-like defaults: 10s interval, cpu_seconds = interval - 1s, the seed's five types, memstats on", async () => {
    const config = parseConfig({ targets: [{ url: 'http://localhost:6060' }] });
    expect(config).toMatchObject({
      interval: 10_000,
      timeout: 15_000,
      enabled_types: ['cpu', 'goroutine', 'heap', 'mutex', 'block'],
      memstats: true,
      path_prefix: '',
      shard: { index: 0, total: 1 },
      max_concurrent_downloads: 64,
      max_body_bytes: 32 * 1024 * 1024,
    });
    // Unset means "follow the interval": interval − 1 s for the CPU profile, one interval of backoff at most.
    expect(config.cpu_seconds).toBeUndefined();
    expect(config.backoff_max).toBeUndefined();
    // What the target is asked for: a CPU profile one second shorter than the interval, whatever the interval.
    const target = await fake();
    for (const interval of ['10s', '30s']) {
      const { receiver: r } = receiver({ targets: [{ url: target.url }], interval, enabled_types: ['cpu'], memstats: false });
      await r.scrapeOnce();
    }
    expect(target.requests).toEqual(['/debug/pprof/profile?seconds=9', '/debug/pprof/profile?seconds=29']);
  });

  it('says what replaced max_concurrent_scrapes instead of calling it an unknown key', () => {
    expect(parseConfigResult({ targets: [{ url: 'http://localhost:6060' }], max_concurrent_scrapes: 16 })).toEqual([
      {
        path: ['max_concurrent_scrapes'],
        message:
          '"max_concurrent_scrapes" is no longer an option here: it counted whole rounds, which wait cpu_seconds for the CPU profile; use max_concurrent_downloads (response bodies read and decoded at once; its default fits 1,000 targets), or delete the line',
      },
    ]);
  });

  it('says where max_decompressed_bytes went when a configuration still sets it', () => {
    const [issue] = parseConfigResult({ targets: [{ url: 'http://localhost:6060' }], max_decompressed_bytes: '1MiB' });
    expect(issue).toMatchObject({ path: ['max_decompressed_bytes'] });
    expect(issue!.message).toMatch(/service::limits::max_decompressed_bytes/);
  });

  it('rejects an interval under 10s (a configuration error, not a silent change)', () => {
    const result = parseConfigResult({ targets: [{ url: 'http://localhost:6060' }], interval: '5s' });
    expect(result).toEqual([{ path: ['interval'], message: '5s is below the minimum of 10s' }]);
  });

  it('rejects cpu_seconds longer than the interval, at cpu_seconds', () => {
    expect(parseConfigResult({ targets: [{ url: 'http://localhost:6060' }], interval: '10s', cpu_seconds: 11 })).toEqual([
      { path: ['cpu_seconds'], message: '11 is longer than the interval (10s); a CPU profile must fit in one round' },
    ]);
    expect(parseConfigResult({ targets: [{ url: 'http://localhost:6060' }], interval: '10s', cpu_seconds: 10 })).toEqual([]);
  });

  it('rejects bad URLs, duplicate targets, unknown types and a shard index out of range, each at its path', () => {
    expect(parseConfigResult({ targets: [{ url: 'localhost:6060' }] })).toEqual([
      { path: ['targets', '0', 'url'], message: '"localhost:6060" must be an http:// or https:// URL' },
    ]);
    expect(parseConfigResult({ targets: [{ url: 'http://a:1' }, { url: 'http://a:1/' }] })).toEqual([
      { path: ['targets', '1', 'url'], message: '"http://a:1/" is already targets[0]' },
    ]);
    expect(parseConfigResult({ targets: [{ url: 'http://a:1', enabled_types: ['cpu', 'wall'] }] })[0]!.path).toEqual(['targets', '0', 'enabled_types', '1']);
    expect(parseConfigResult({ targets: [{ url: 'http://a:1' }], shard: { index: 3, total: 3 } })).toEqual([
      { path: ['shard', 'index'], message: '3 must be below shard.total (3)' },
    ]);
    expect(parseConfigResult({ targets: [{ url: 'http://a:1' }], intervall: '10s' })[0]!.message).toBe('unknown key "intervall" (did you mean "interval"?)');
    expect(parseConfigResult({ targets: [] })[0]).toEqual({
      path: ['targets'],
      message: 'needs at least 1 target, or a discovery (file_sd, http_sd or dns_sd) to find them',
    });
  });

  function parseConfigResult(input: Record<string, unknown>) {
    const { pprofReceiverConfigSchema } = configModule;
    const result = pprofReceiverConfigSchema.parse(input);
    return result.ok ? [] : result.issues;
  }
});

import * as configModule from '../src/config.js';

describe('pprof receiver: one bundle per target and round', () => {
  it('first round: cpu and goroutine are emitted, heap/mutex/block become baselines, MemStats is attached', async () => {
    // The MemStats answer takes 40 ms, on a clock the test moves itself.
    const clock = new ManualClock();
    const routes = goRoutes();
    const heap = routes['/debug/pprof/heap'] as (request: FakeRequest) => Uint8Array | string;
    routes['/debug/pprof/heap'] = (request) => (request.query.get('debug') === '1' && clock.advance(40), heap(request));
    const target = await fake(routes);
    const {
      receiver: r,
      consumer,
      registry,
    } = receiver(
      { targets: [{ url: target.url, service: 'go-demo', env: 'dev', version: '0.0.0', tags: { team: 'core' } }], cpu_seconds: 2 },
      undefined,
      'pprof',
      undefined,
      clock,
    );
    const startMs = clock.now();
    const [report] = await r.scrapeOnce();
    expect(report).toMatchObject({
      target: target.url,
      outcome: 'success',
      emitted: ['cpu', 'goroutine'],
      baselines: ['heap', 'mutex', 'block'],
      failures: [],
    });
    expect(consumer.bundles).toHaveLength(1);
    const bundle = consumer.bundles[0]!;
    expect(bundle.source).toBe('pprof');
    expect(bundle.resource).toEqual({
      service: 'go-demo',
      env: 'dev',
      version: '0.0.0',
      language: 'golang',
      instance: target.url,
      host: new URL(target.url).host,
    });
    expect(bundle.tags).toEqual({ team: 'core' });
    // From the round's start to its cumulative reads (here the MemStats trailer): where the next round's deltas start.
    expect(bundle.window).toEqual({ startNanos: BigInt(startMs) * 1_000_000n, endNanos: BigInt(startMs + 40) * 1_000_000n });
    expect(bundle.memStats!.readAtNanos).toBe(bundle.window.endNanos);
    expect(bundle.profiles.map((p) => [p.type, p.name])).toEqual([
      ['cpu', '/debug/pprof/profile'],
      ['goroutine', '/debug/pprof/goroutine'],
    ]);

    const cpu = bundle.profiles[0]!;
    expect(cpu.data).toEqual(goFixture('profile')); // as received (gzip)
    expect(cpu.decoded!.totals[1]).toBe(9_860_000_000);
    expect(cpu.delta).toBeUndefined();
    // The CPU profile's own window: TimeNanos + DurationNanos.
    expect(cpu.window).toEqual({ startNanos: cpu.decoded!.timeNanos, endNanos: cpu.decoded!.timeNanos + 5_147_616_019n });
    expect(bundle.profiles[1]!.decoded!.totals).toEqual([16]);

    expect(bundle.memStats!.values).toMatchObject({ Alloc: 8_431_416, NumGC: 4, StackInuse: 360_448 });
    expect(bundle.memStats!.pauseNs).toHaveLength(256);

    expect(target.requests.sort()).toEqual([
      '/debug/pprof/block',
      '/debug/pprof/goroutine',
      '/debug/pprof/heap',
      '/debug/pprof/heap?debug=1',
      '/debug/pprof/mutex',
      '/debug/pprof/profile?seconds=2',
    ]);
    expect(registry.value('profcol_receiver_scrapes_total', { outcome: 'success', target: target.url })).toBe(1);
    expect(registry.value('profcol_receiver_profiles_total', { outcome: 'baseline' })).toBe(3);
  });

  it('second round: heap, mutex and block are deltas against the first, with their own windows', async () => {
    const target = await fake();
    const { receiver: r, consumer } = receiver({ targets: [{ url: target.url }], cpu_seconds: 1 });
    await r.scrapeOnce();
    const [report] = await r.scrapeOnce();
    expect(report!.emitted).toEqual(['cpu', 'goroutine', 'heap', 'mutex', 'block']);
    const bundle = consumer.bundles[1]!;
    expect(bundle.window.startNanos).toBe(consumer.bundles[0]!.window.endNanos);
    const byType = Object.fromEntries(bundle.profiles.map((p) => [p.type, p]));

    const heap = byType.heap!;
    expect(heap.delta).toBe(true);
    expect(heap.window).toEqual({ startNanos: HEAP_T0, endNanos: HEAP_T0 + 10n * SECOND });
    const heapBase = decompressAndSummarize(goFixture('heap'));
    // alloc_*: scrape 2 served twice the counters of scrape 1, so the delta equals the fixture; inuse_* is the snapshot.
    expect(heap.decoded!.totals).toEqual([heapBase.totals[0], heapBase.totals[1], 7837, 5_603_986]);
    expect(heap.decoded!.durationNanos).toBe(10n * SECOND);
    // data is the raw (uncompressed) delta protobuf, the same bytes as decoded.pprof.
    expect(heap.data).toBe(heap.decoded!.pprof);
    expect(summarizePprof(heap.data).totals).toEqual(heap.decoded!.totals);

    expect(byType.mutex!.decoded!.totals).toEqual([1338, 12_392_463_130]);
    expect(byType.mutex!.window).toEqual({ startNanos: MUTEX_T0, endNanos: MUTEX_T0 + 10n * SECOND });
    expect(byType.block!.decoded!.totals).toEqual([3054, 119_129_273_493]);
    expect(byType.cpu!.delta).toBeUndefined();
    expect(byType.goroutine!.delta).toBeUndefined();
  });

  it("a round opens two connections (the CPU profile's, and one for the rest in turn) and leaves none open", async () => {
    const target = await fake();
    const { receiver: r } = receiver({ targets: [{ url: target.url }], cpu_seconds: 1 });
    const [report] = await r.scrapeOnce();
    expect(report!.outcome).toBe('success');
    expect(target.requests).toHaveLength(6);
    expect(target.connections).toBe(2);
    await until(() => target.openConnections === 0); // the sockets' close events, after the round
  });

  it('a target restart (counters going down) starts a new baseline, counted and not emitted', async () => {
    const routes = goRoutes();
    const target = await fake(routes);
    const { receiver: r, consumer, registry } = receiver({ targets: [{ url: target.url }], enabled_types: ['mutex'], memstats: false });
    await r.scrapeOnce(); // baseline ×1
    await r.scrapeOnce(); // delta ×2 − ×1
    routes['/debug/pprof/mutex'] = evolve(goFixture('mutex'), { factor: 0.5, types: ['contentions', 'delay'], timeNanos: MUTEX_T0 + 30n * SECOND });
    const [reset] = await r.scrapeOnce();
    expect(reset).toMatchObject({ outcome: 'baseline', resets: ['mutex'], emitted: [] });
    expect(registry.value('profcol_receiver_delta_resets_total', { type: 'mutex' })).toBe(1);
    routes['/debug/pprof/mutex'] = evolve(goFixture('mutex'), { factor: 1.5, types: ['contentions', 'delay'], timeNanos: MUTEX_T0 + 40n * SECOND });
    const [after] = await r.scrapeOnce();
    expect(after!.emitted).toEqual(['mutex']);
    expect(consumer.bundles.at(-1)!.profiles[0]!.decoded!.totals).toEqual([1338, 12_392_463_130]);
    expect(consumer.bundles.at(-1)!.profiles[0]!.window).toEqual({ startNanos: MUTEX_T0 + 30n * SECOND, endNanos: MUTEX_T0 + 40n * SECOND });
  });

  it('a refused bundle (backpressure) is counted, and the next delta covers the refused window too', async () => {
    const target = await fake();
    const consumer = new CollectingConsumer();
    const { receiver: r, registry } = receiver({ targets: [{ url: target.url }], enabled_types: ['block'], memstats: false }, consumer);
    await r.scrapeOnce();
    consumer.refuseWith = new BackpressureError('queue full');
    const [refused] = await r.scrapeOnce();
    expect(refused!.outcome).toBe('refused');
    expect(registry.value('profcol_receiver_scrapes_total', { outcome: 'refused' })).toBe(1);
    consumer.refuseWith = undefined;
    await r.scrapeOnce();
    const block = consumer.bundles.at(-1)!.profiles[0]!;
    // ×3 − ×1: two scrape intervals in one delta.
    expect(block.decoded!.totals).toEqual([2 * 3054, 2 * 119_129_273_493]);
    expect(block.window).toEqual({ startNanos: BLOCK_T0, endNanos: BLOCK_T0 + 20n * SECOND });
  });

  it("godeltaprof endpoints are not delta'd again: the first answer is a baseline, later ones are emitted as served", async () => {
    let n = 0;
    const target = await fake({
      '/debug/pprof/delta_mutex': () => evolve(goFixture('mutex'), { factor: 1, types: [], timeNanos: MUTEX_T0 + BigInt(n++) * 10n * SECOND }),
    });
    const { receiver: r, consumer } = receiver({ targets: [{ url: target.url }], enabled_types: ['delta_mutex'], memstats: false });
    expect((await r.scrapeOnce())[0]).toMatchObject({ outcome: 'baseline', baselines: ['delta_mutex'] });
    await r.scrapeOnce();
    const profile = consumer.bundles[0]!.profiles[0]!;
    expect(profile).toMatchObject({ type: 'mutex', name: '/debug/pprof/delta_mutex', delta: true });
    expect(profile.decoded!.totals).toEqual([1338, 12_392_463_130]);
    expect(profile.window).toEqual({ startNanos: MUTEX_T0, endNanos: MUTEX_T0 + 10n * SECOND });
  });

  it('allocs and threadcreate are available; path_prefix is prepended to every path', async () => {
    const routes = Object.fromEntries(Object.entries(goRoutes()).map(([path, route]) => [`/app${path}`, route]));
    const target = await fake(routes);
    const { receiver: r, consumer } = receiver({ targets: [{ url: target.url }], enabled_types: ['allocs', 'threadcreate'], path_prefix: '/app/' });
    await r.scrapeOnce();
    await r.scrapeOnce();
    expect(consumer.bundles[1]!.profiles.map((p) => [p.type, p.name, p.delta])).toEqual([
      ['allocs', '/debug/pprof/allocs', true],
      ['threadcreate', '/debug/pprof/threadcreate', undefined],
    ]);
    expect(consumer.bundles[1]!.memStats).toBeDefined();
    expect(new Set(target.requests.map((p) => p.slice(0, 5)))).toEqual(new Set(['/app/']));
  });

  it('sends a bearer token, from the config or from a file re-read every round', async () => {
    const seen: (string | undefined)[] = [];
    const target = await fake({ '/debug/pprof/goroutine': ({ headers }) => (seen.push(headers.authorization), goFixture('goroutine')) });
    const dir = mkdtempSync(join(tmpdir(), 'profcol-token-'));
    writeFileSync(join(dir, 'token'), 'from-file\n');
    const s = settings();
    const config = parseConfig({
      targets: [{ url: target.url }, { url: `${target.url}/b`, bearer_token: 'per-target' }],
      enabled_types: ['goroutine'],
      memstats: false,
      bearer_token_file: 'token',
    });
    const r = new PprofReceiver({ ...s, baseDir: dir }, config, new CollectingConsumer(), { autoStart: false });
    receivers.push(r);
    target.routes['/b/debug/pprof/goroutine'] = target.routes['/debug/pprof/goroutine']!;
    await r.scrapeOnce();
    writeFileSync(join(dir, 'token'), 'rotated');
    await r.scrapeOnce();
    expect(seen.sort()).toEqual(['Bearer from-file', 'Bearer per-target', 'Bearer per-target', 'Bearer rotated']);
  });
});

describe('pprof receiver: failures are counted, logged per target, and do not stop the rest', () => {
  it('a CPU profile refused by the target (500: profiling already in use) leaves the rest of the round', async () => {
    const routes = goRoutes();
    routes['/debug/pprof/profile'] = { status: 500, body: 'Could not enable CPU profiling: cpu profiling already in use\n', headers: { 'x-go-pprof': '1' } };
    const target = await fake(routes);
    const { receiver: r, consumer, registry } = receiver({ targets: [{ url: target.url }] });
    const [report] = await r.scrapeOnce();
    expect(report!.outcome).toBe('partial');
    expect(report!.failures).toEqual([
      {
        type: 'cpu',
        reason: 'http_status',
        message: 'GET /debug/pprof/profile?seconds=9 returned HTTP 500: Could not enable CPU profiling: cpu profiling already in use',
      },
    ]);
    expect(consumer.bundles[0]!.profiles.map((p) => p.type)).toEqual(['goroutine']);
    expect(registry.value('profcol_receiver_scrape_failures_total', { type: 'cpu', reason: 'http_status' })).toBe(1);
  });

  it.each([
    ['garbage bytes', 'pprof', 'not a profile at all'],
    ['a truncated gzip body', 'decompress', goFixture('goroutine').subarray(0, 500)],
    ['a valid profile of the wrong kind', 'unexpected_profile', goFixture('heap')],
  ] as const)('%s → reason %s', async (_, reason, body) => {
    const target = await fake({ '/debug/pprof/goroutine': body as Uint8Array | string });
    const { receiver: r, registry } = receiver({ targets: [{ url: target.url }], enabled_types: ['goroutine'], memstats: false });
    const [report] = await r.scrapeOnce();
    expect(report!.failures.map((f) => f.reason)).toEqual([reason]);
    expect(report!.outcome).toBe('failed');
    expect(registry.value('profcol_receiver_scrape_failures_total', { reason })).toBe(1);
  });

  it('a body over max_body_bytes → too_large; a profile over service.limits.max_decompressed_bytes → too_large', async () => {
    const target = await fake(goRoutes());
    const { receiver: r } = receiver({ targets: [{ url: target.url }], enabled_types: ['goroutine', 'heap'], memstats: false, max_body_bytes: 2000 });
    expect((await r.scrapeOnce())[0]!.failures).toEqual([
      { type: 'heap', reason: 'too_large', message: 'the response body passed max_body_bytes (2000 bytes)' },
    ]);
    const { receiver: r2 } = receiver(
      { targets: [{ url: target.url }], enabled_types: ['goroutine'], memstats: false },
      undefined,
      'pprof',
      createServiceLimits({ maxDecompressedBytes: 1000, decodeWorkers: 0 }),
    );
    expect((await r2.scrapeOnce())[0]!.failures[0]!.reason).toBe('too_large');
  });

  it('a profile that does not fit the memory budget fails with memory_budget, and the budget is whole again after the round', async () => {
    const target = await fake(goRoutes());
    const limits = createServiceLimits({ memoryBytes: 1000, decodeWorkers: 0 });
    const { receiver: r, registry } = receiver({ targets: [{ url: target.url }], enabled_types: ['goroutine'], memstats: false }, undefined, 'pprof', limits);
    const [report] = await r.scrapeOnce();
    expect(report!.failures.map((f) => f.reason)).toEqual(['memory_budget']);
    expect(registry.value('profcol_receiver_scrape_failures_total', { reason: 'memory_budget' })).toBe(1);
    expect(limits.budget.usedBytes).toBe(0);
  });

  it('a missing MemStats trailer is a memstats failure; the profiles still go out', async () => {
    const routes = goRoutes();
    routes['/debug/pprof/heap'] = ({ query }) => (query.get('debug') === '1' ? 'heap profile: 0: 0 [0: 0] @ heap/1048576\n' : goFixture('heap'));
    const target = await fake(routes);
    const { receiver: r, consumer } = receiver({ targets: [{ url: target.url }], enabled_types: ['goroutine'] });
    const [report] = await r.scrapeOnce();
    expect(report!.outcome).toBe('partial');
    expect(report!.failures[0]).toMatchObject({ type: 'memstats', reason: 'memstats' });
    expect(consumer.bundles[0]!.memStats).toBeUndefined();
  });

  it('a dead target fails every request (connect), backs off, and the next round skips it', async () => {
    const dead = await fake();
    const url = dead.url;
    await dead.close();
    servers.splice(servers.indexOf(dead), 1);
    const alive = await fake();
    const { receiver: r, consumer, registry } = receiver({ targets: [{ url }, { url: alive.url }], enabled_types: ['goroutine'] });
    const reports = await r.scrapeOnce();
    expect(reports.map((x) => x.outcome)).toEqual(['failed', 'success']);
    expect(reports[0]!.failures.map((f) => [f.type, f.reason])).toEqual([
      ['goroutine', 'connect'],
      ['memstats', 'connect'],
    ]);
    expect(consumer.bundles.map((b) => b.resource.instance)).toEqual([alive.url]);
    const again = await r.scrapeOnce();
    expect(again.map((x) => x.outcome)).toEqual(['skipped_backoff', 'success']);
    expect(registry.value('profcol_receiver_scrapes_total', { target: url, outcome: 'skipped_backoff' })).toBe(1);
  });

  it('a hanging target fails within one round deadline (timeout + cpu_seconds) and never holds up another target', async () => {
    const hanging = await startHangingTcpServer();
    servers.push(hanging);
    const alive = await fake();
    const clock = new ManualClock();
    const consumer = new CollectingConsumer();
    const s = settings();
    const config = parseConfig({
      targets: [{ url: hanging.url }, { url: alive.url }],
      enabled_types: ['goroutine', 'cpu', 'heap'],
      timeout: '1s',
      cpu_seconds: 1,
    });
    const r = new PprofReceiver(s, config, consumer, { autoStart: false, clock });
    receivers.push(r);
    const startedAtMs = clock.now();
    let finishedAtMs: number | undefined;
    const round = r.scrapeOnce().then((reports) => ((finishedAtMs = clock.now()), reports));

    // The goroutine profile goes first and alone; the other target's whole round completes meanwhile, with no time passing.
    await until(() => hanging.requestLines.length > 0 && consumer.bundles.length > 0);
    expect(hanging.requestLines).toEqual(['GET /debug/pprof/goroutine HTTP/1.1']);
    expect(consumer.bundles.map((b) => b.resource.instance)).toEqual([alive.url]);
    // The rest of the round starts after a short grace (a quarter of the timeout), not after the goroutine timeout,
    // each request on its own connection (nothing queues behind a request that may never end).
    clock.advance(250);
    await until(() => hanging.requestLines.length >= 4);
    expect(hanging.requestLines.length).toBe(4);
    expect([...hanging.requestLines].sort()).toEqual([
      'GET /debug/pprof/goroutine HTTP/1.1',
      'GET /debug/pprof/heap HTTP/1.1',
      'GET /debug/pprof/heap?debug=1 HTTP/1.1',
      'GET /debug/pprof/profile?seconds=1 HTTP/1.1',
    ]);
    expect(hanging.connections).toBe(4);
    expect(finishedAtMs).toBeUndefined();
    clock.advance(1750);
    const [slow, fast] = await round;
    expect(finishedAtMs! - startedAtMs).toBe(2000);
    expect(slow!.outcome).toBe('failed');
    expect(slow!.failures.map((f) => [f.type, f.reason, f.message]).sort()).toEqual([
      ['cpu', 'timeout', "no complete response before the round's deadline (timeout + cpu_seconds = 2000 ms after the round started)"],
      ['goroutine', 'timeout', 'no complete response within 1000 ms'],
      ['heap', 'timeout', 'no complete response within 1000 ms'],
      ['memstats', 'timeout', 'no complete response within 1000 ms'],
    ]);
    expect(fast!.outcome).toBe('success');
    expect(s.registry.value('profcol_receiver_scrape_failures_total', { target: hanging.url, reason: 'timeout' })).toBe(4);
  });

  it('a round waiting for its CPU profile holds no download slot: max_concurrent_downloads limits bodies, not rounds', async () => {
    let releaseCpu!: () => void;
    const cpuHeld = new Promise<void>((resolve) => (releaseCpu = resolve));
    const routes = (): Record<string, FakeRoute> => ({
      ...goRoutes(),
      '/debug/pprof/profile': async () => (await cpuHeld, goFixture('profile')),
    });
    const targets = await Promise.all(Array.from({ length: 5 }, () => fake(routes())));
    const { receiver: r } = receiver({
      targets: targets.map((t) => ({ url: t.url })),
      enabled_types: ['cpu', 'goroutine', 'heap'],
      max_concurrent_downloads: 1,
    });
    const round = r.scrapeOnce();
    // Every target got all its other answers (heap and heap?debug=1) while every CPU profile is still being "recorded".
    await until(() => targets.every((t) => t.count('/debug/pprof/heap') === 2));
    releaseCpu();
    const reports = await round;
    expect(reports.map((x) => x.outcome)).toEqual(['success', 'success', 'success', 'success', 'success']);
    expect(r.downloads.peak).toBe(1);
    expect(r.downloads.inUse).toBe(0);
  });

  it('a tick while the previous round still runs starts its round late, when that one ends; a further tick is skipped_busy', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const target = await fake({ '/debug/pprof/goroutine': async ({ count }) => (count === 0 && (await released), goFixture('goroutine')) });
    const { receiver: r, registry } = receiver({ targets: [{ url: target.url }], enabled_types: ['goroutine'], memstats: false });
    await r.start();
    // Three ticks while the first round waits for its answer.
    const rounds = Promise.all([r.scrapeOnce(), r.scrapeOnce(), r.scrapeOnce()]);
    release();
    const [first, late, skipped] = await rounds;
    expect([first![0]!.outcome, late![0]!.outcome, skipped![0]!.outcome]).toEqual(['success', 'success', 'skipped_busy']);
    expect(target.count('/debug/pprof/goroutine')).toBe(2);
    expect(target.maxInFlight).toBe(1); // never two rounds of a target at once
    expect(registry.value('profcol_receiver_late_rounds_total', { target: target.url })).toBe(1);
    expect(registry.value('profcol_receiver_scrapes_total', { outcome: 'skipped_busy' })).toBe(1);
  });

  it('shutdown cancels a round in flight: nothing is emitted', async () => {
    const target = await fake(goRoutes(), 'hang');
    const { receiver: r, consumer } = receiver({ targets: [{ url: target.url }], enabled_types: ['goroutine'], timeout: '10s' });
    const round = r.scrapeOnce();
    await until(() => target.requests.length === 1);
    await r.shutdown();
    expect((await round)[0]!.outcome).toBe('cancelled');
    expect(consumer.batches).toHaveLength(0);
  });
});

describe('pprof receiver: a target that dies mid-round', () => {
  it('a connection closed mid-body fails that profile with reason reset (not connect), saying how far it got', async () => {
    const heap = goFixture('heap');
    const routes = goRoutes();
    routes['/debug/pprof/heap'] = { body: heap, closeAfterBytes: 100 };
    const target = await fake(routes);
    const { receiver: r, registry } = receiver({ targets: [{ url: target.url }], enabled_types: ['goroutine', 'heap'], memstats: false });
    const [report] = await r.scrapeOnce();
    expect(report!.outcome).toBe('partial');
    expect(report!.failures).toEqual([
      { type: 'heap', reason: 'reset', message: `the connection was closed after 100 of ${heap.length} body bytes (HTTP 200)` },
    ]);
    expect(registry.value('profcol_receiver_scrape_failures_total', { type: 'heap', reason: 'reset' })).toBe(1);
    expect(registry.value('profcol_receiver_scrape_failures_total', { reason: 'connect' })).toBe(0);
  });

  it('a target killed while it records the CPU profile: the CPU profile fails with reset, the rest of the round goes out', async () => {
    const cpuAsked = deferred();
    const routes = goRoutes();
    routes['/debug/pprof/profile'] = () => (cpuAsked.resolve(), new Promise<Uint8Array>(() => undefined)); // recording, never done
    const target = await fake(routes);
    const { receiver: r, consumer } = receiver({ targets: [{ url: target.url }], enabled_types: ['cpu', 'goroutine'], memstats: false });
    const round = r.scrapeOnce();
    await cpuAsked.promise;
    await until(() => target.count('/debug/pprof/goroutine') === 1);
    await target.kill();
    const [report] = await round;
    expect(report!.failures.map((f) => [f.type, f.reason])).toEqual([['cpu', 'reset']]);
    expect(report!.failures[0]!.message).toMatch(/^the target closed the connection before answering: ECONNRESET/);
    expect(consumer.bundles[0]!.profiles.map((p) => p.type)).toEqual(['goroutine']);
  });

  it('a round cut short by the target dying during its CPU profile covers the same span with its window as with its totals', async () => {
    const clock = new ManualClock();
    let cpu = deferred();
    let answerCpu: ((body: Uint8Array) => void) | undefined;
    const routes = goRoutes();
    routes['/debug/pprof/profile'] = () => (cpu.resolve(), new Promise<Uint8Array>((resolve) => (answerCpu = resolve)));
    const target = await fake(routes);
    const { receiver: r, consumer, registry } = receiver({ targets: [{ url: target.url }] }, undefined, 'pprof', undefined, clock);
    /** The round has read every answer but the CPU profile's: MemStats is last on its connection, and only the CPU request's timer is left. */
    const cumulativeReadsDone = (heapRequests: number) => until(() => target.count('/debug/pprof/heap') === heapRequests && clock.pending === 1);

    // Round 1 at t0: the rest answers at once, the CPU profile after its 9 s.
    const t0 = clock.now();
    const round1 = r.scrapeOnce();
    await cpu.promise;
    await cumulativeReadsDone(2);
    clock.advance(9000);
    answerCpu!(goFixture('profile'));
    expect((await round1)[0]!.baselines).toEqual(['heap', 'mutex', 'block']);

    // Round 2, 10 s later: the target dies 3.6 s into its CPU profile.
    clock.advance(1000);
    cpu = deferred();
    const round2 = r.scrapeOnce();
    await cpu.promise;
    await cumulativeReadsDone(4);
    clock.advance(3600);
    await target.kill();
    const [report] = await round2;
    expect(report).toMatchObject({ outcome: 'partial', emitted: ['goroutine', 'heap', 'mutex', 'block'], realigned: [] });
    expect(report!.failures.map((f) => [f.type, f.reason])).toEqual([['cpu', 'reset']]);

    // The round's window is the 10 s its deltas and its MemStats pair cover, not the 3.6 s it lasted.
    const [first, second] = consumer.bundles as [ProfileBundle, ProfileBundle];
    const seconds = (w: { startNanos: bigint; endNanos: bigint }) => Number(w.endNanos - w.startNanos) / 1e9;
    expect(second.window).toEqual({ startNanos: BigInt(t0) * 1_000_000n, endNanos: BigInt(t0 + 10_000) * 1_000_000n });
    expect(second.window.startNanos).toBe(first.window.endNanos);
    for (const profile of second.profiles.filter((p) => p.delta)) expect(seconds(profile.window!)).toBe(seconds(second.window));
    expect(Number(second.memStats!.readAtNanos - first.memStats!.readAtNanos) / 1e9).toBe(seconds(second.window));
    expect(registry.value('profcol_receiver_scrape_failures_total', { type: 'cpu', reason: 'reset' })).toBe(1);
  });

  it('a cumulative profile that failed in the previous round is not emitted against the older baseline: it starts over, counted and logged', async () => {
    const routes = goRoutes();
    const mutex = routes['/debug/pprof/mutex']!;
    let mutexDown = false;
    routes['/debug/pprof/mutex'] = (request) => (mutexDown ? { status: 503, body: 'restarting' } : (mutex as (r: FakeRequest) => Uint8Array)(request));
    const target = await fake(routes);
    const log = collectingLogger();
    const s = settings('pprof', undefined, log.logger);
    const consumer = new CollectingConsumer();
    const r = new PprofReceiver(s, parseConfig({ targets: [{ url: target.url }], enabled_types: ['mutex', 'block'], memstats: false }), consumer, {
      autoStart: false,
    });
    receivers.push(r);
    await r.scrapeOnce(); // baselines
    mutexDown = true;
    expect((await r.scrapeOnce())[0]).toMatchObject({ outcome: 'partial', emitted: ['block'] });
    mutexDown = false;
    // The mutex delta would cover rounds 1 to 3 beside a window of rounds 2 to 3.
    expect((await r.scrapeOnce())[0]).toMatchObject({ outcome: 'success', emitted: ['block'], realigned: ['mutex'] });
    expect(s.registry.value('profcol_receiver_profiles_total', { type: 'mutex', outcome: 'realigned' })).toBe(1);
    expect(log.lines.find((line) => line.type === 'mutex' && String(line.msg).includes('not emitted'))).toMatchObject({ level: 40, target: target.url });
    const [report] = await r.scrapeOnce();
    expect(report!.emitted).toEqual(['mutex', 'block']);
    const last = consumer.bundles.at(-1)!;
    for (const profile of last.profiles) expect(profile.window!.endNanos - profile.window!.startNanos).toBe(10n * SECOND);
  });
});
