import { describe, expect, it } from 'vitest';
import type { MemStats, Profile } from '@profcol/core';
import { memStatsDelta } from '../src/index.js';
import { craftProfile, fixture, makeProcessor, memStats, pullBundle, WINDOW_START } from './helpers.js';

/** GC n paused 100 µs + n ns, so every pause is distinct. */
function pausesOf(from: number, to: number): Record<number, number> {
  const pauses: Record<number, number> = {};
  for (let gc = from; gc <= to; gc++) pauses[gc] = 100_000 + gc;
  return pauses;
}

const ROUND0 = memStats(0, { TotalAlloc: 1_000_000, Mallocs: 10_000, Frees: 9_000, HeapAlloc: 500_000, NumGC: 10 }, pausesOf(1, 10));
const ROUND1 = memStats(
  10,
  { TotalAlloc: 21_000_000, Mallocs: 60_000, Frees: 54_000, HeapAlloc: 300_000, NumGC: 14 },
  { ...pausesOf(1, 10), 11: 120_000, 12: 80_000, 13: 250_000, 14: 90_000 },
);

/** The profiles of one round, from test/fixtures/go-pprof (gzip, as served by net/http/pprof). */
function roundProfiles(): Profile[] {
  const cpuEnd = WINDOW_START + 20_000_000_000n;
  return [
    { type: 'cpu', name: '/debug/pprof/profile', data: fixture('go-pprof/profile.pprof'), window: { startNanos: cpuEnd - 5_000_000_000n, endNanos: cpuEnd } },
    { type: 'goroutine', name: '/debug/pprof/goroutine', data: fixture('go-pprof/goroutine.pprof') },
    { type: 'heap', name: '/debug/pprof/heap', data: fixture('go-pprof/heap.pprof'), delta: true },
    { type: 'mutex', name: '/debug/pprof/mutex', data: fixture('go-pprof/mutex.pprof'), delta: true },
    { type: 'block', name: '/debug/pprof/block', data: fixture('go-pprof/block.pprof'), delta: true },
  ];
}

describe('goruntime processor, pull mode (scraped profiles and MemStats trailers)', () => {
  it("derives all 15 metrics from one round's profiles and the target's two latest MemStats trailers (D6)", async () => {
    const p = makeProcessor();
    expect((await p.run(pullBundle({ round: 0, memStats: ROUND0 }))).metrics.map((point) => point.name)).not.toContain('prof_go_alloc_bytes_per_sec');
    const values = await p.values(pullBundle({ round: 1, memStats: ROUND1, profiles: roundProfiles() }));

    expect(Object.keys(values)).toHaveLength(15);
    // CPU profile of 5 s: 9.86 s of CPU.
    expect(values.prof_go_cpu_cores).toBe(9.86e9 / 5e9);
    expect(values.prof_go_cpu_cores_gc_overhead).toBeGreaterThanOrEqual(0);
    expect(values.prof_go_cpu_cores_gc_overhead).toBeLessThanOrEqual(values.prof_go_cpu_cores!);
    // The real goroutine count (the reference always reports 0 in pull mode).
    expect(values.prof_go_num_goroutine).toBe(16);
    expect(values.prof_go_lifetime_heap_bytes).toBe(5603986);
    expect(values.prof_go_mutex_delay_time).toBe(12392463130);
    expect(values.prof_go_blocked_time).toBe(119129273493);
    // Two trailers 10 s apart.
    expect(values.prof_go_alloc_bytes_per_sec).toBe(2_000_000);
    expect(values.prof_go_alloc_bytes_total).toBe(20_000_000);
    expect(values.prof_go_allocs_per_sec).toBe(5_000);
    expect(values.prof_go_frees_per_sec).toBe(4_500);
    expect(values.prof_go_heap_growth_bytes_per_sec).toBe(-20_000);
    expect(values.prof_go_gcs_per_sec).toBe(0.4);
    expect(values.prof_go_gc_pause_time).toBe(120_000 + 80_000 + 250_000 + 90_000);
    expect(values.prof_go_max_gc_pause_time).toBe(250_000);
  });

  it('takes the first trailer of a target as its baseline: nothing from MemStats, counted, and no heap-profile substitute', async () => {
    const heap = craftProfile(
      [
        ['alloc_objects', 'count'],
        ['alloc_space', 'bytes'],
        ['inuse_objects', 'count'],
        ['inuse_space', 'bytes'],
      ],
      [{ stack: ['main.alloc'], values: [10, 1000, 5, 500] }],
    );
    const p = makeProcessor();
    const values = await p.values(pullBundle({ memStats: ROUND0, profiles: [{ type: 'heap', name: '/debug/pprof/heap', data: heap, delta: true }] }));
    expect(values).toEqual({ prof_go_lifetime_heap_bytes: 500, prof_go_lifetime_heap_objects: 5 });
    expect(p.settings.registry.value('profcol_processor_memstats_rounds_total', { outcome: 'baseline' })).toBe(1);
    expect(p.omitted('prof_go_alloc_bytes_per_sec', 'memstats_baseline')).toBe(1);
    expect(p.omitted('prof_go_gc_pause_time', 'memstats_baseline')).toBe(1);
  });

  it('reads the pause ring across its wrap from index 255 to 0', async () => {
    const before = memStats(0, { TotalAlloc: 0, Mallocs: 0, Frees: 0, HeapAlloc: 0, NumGC: 250 }, pausesOf(1, 250));
    // GCs 251..260 sit at indexes 250..255 and 0..3; every other slot holds an old, larger pause.
    const ring = { ...pausesOf(5, 250), 251: 11, 252: 12, 253: 13, 254: 14, 255: 15, 256: 16, 257: 17, 258: 18, 259: 19, 260: 20 };
    const after = memStats(5, { TotalAlloc: 0, Mallocs: 0, Frees: 0, HeapAlloc: 0, NumGC: 260 }, ring);
    expect(after.pauseNs[3]).toBe(20);
    expect(after.pauseNs[250]).toBe(11);

    const p = makeProcessor();
    await p.run(pullBundle({ round: 0, memStats: before }));
    const values = await p.values(pullBundle({ round: 1, memStats: after }));
    expect(values.prof_go_gc_pause_time).toBe(155);
    expect(values.prof_go_max_gc_pause_time).toBe(20);
    expect(values.prof_go_gcs_per_sec).toBe(2);
  });

  it('sums the whole ring when more than 256 GCs completed between two rounds, and counts and logs the pauses it missed', async () => {
    const before = memStats(0, { NumGC: 10 }, pausesOf(1, 10));
    const after = memStats(10, { NumGC: 310 }, pausesOf(55, 310));
    const p = makeProcessor();
    await p.run(pullBundle({ round: 0, memStats: before }));
    const values = await p.values(pullBundle({ round: 1, memStats: after }));
    let expected = 0;
    for (let gc = 55; gc <= 310; gc++) expected += 100_000 + gc;
    expect(values.prof_go_gc_pause_time).toBe(expected);
    expect(values.prof_go_max_gc_pause_time).toBe(100_310);
    expect(values.prof_go_gcs_per_sec).toBe(30);
    expect(p.settings.registry.value('profcol_processor_missed_gc_pauses_total')).toBe(44);
  });

  it('treats a counter going backwards as a restart: emits nothing from MemStats that round, counts it, and starts over from it', async () => {
    const p = makeProcessor();
    await p.run(pullBundle({ round: 0, memStats: ROUND0 }));
    const restarted = memStats(10, { TotalAlloc: 300_000, Mallocs: 2_000, Frees: 1_000, HeapAlloc: 250_000, NumGC: 1 }, { 1: 70_000 });
    const afterRestart = await p.values(pullBundle({ round: 1, memStats: restarted }));
    expect(afterRestart).toEqual({});
    expect(p.settings.registry.value('profcol_processor_memstats_rounds_total', { outcome: 'restart' })).toBe(1);
    expect(p.omitted('prof_go_allocs_per_sec', 'memstats_restart')).toBe(1);

    const next = memStats(20, { TotalAlloc: 1_300_000, Mallocs: 4_000, Frees: 3_000, HeapAlloc: 260_000, NumGC: 2 }, { 1: 70_000, 2: 65_000 });
    const values = await p.values(pullBundle({ round: 2, memStats: next }));
    expect(values.prof_go_alloc_bytes_per_sec).toBe(100_000);
    expect(values.prof_go_gc_pause_time).toBe(65_000);
  });

  it('derives the same values again when a refused batch is retried with the same trailer', async () => {
    const p = makeProcessor();
    await p.run(pullBundle({ round: 0, memStats: ROUND0 }));
    const first = await p.values(pullBundle({ round: 1, memStats: ROUND1 }));
    const retried = await p.values(pullBundle({ round: 1, memStats: ROUND1 }));
    expect(retried).toEqual(first);
    expect(p.settings.registry.value('profcol_processor_memstats_rounds_total', { outcome: 'retry' })).toBe(1);
  });

  it('ignores a trailer older than the newest one of the target', async () => {
    const p = makeProcessor();
    await p.run(pullBundle({ round: 1, memStats: ROUND1 }));
    expect(await p.values(pullBundle({ round: 0, memStats: ROUND0 }))).toEqual({});
    expect(p.omitted('prof_go_gcs_per_sec', 'memstats_out_of_order')).toBe(1);
  });

  it('keeps one baseline per target, so interleaved targets never mix', async () => {
    const p = makeProcessor();
    const other = (m: MemStats): MemStats => ({ ...m, values: Object.fromEntries(Object.entries(m.values).map(([k, v]) => [k, v * 3])) });
    await p.run(
      pullBundle({ instance: 'http://a:6060', round: 0, memStats: ROUND0 }),
      pullBundle({ instance: 'http://b:6060', round: 0, memStats: other(ROUND0) }),
    );
    const batch = await p.run(
      pullBundle({ instance: 'http://a:6060', round: 1, memStats: ROUND1 }),
      pullBundle({ instance: 'http://b:6060', round: 1, memStats: other(ROUND1) }),
    );
    const allocRate = (instance: string) =>
      batch.metrics.find((point) => point.name === 'prof_go_alloc_bytes_per_sec' && point.resource.instance === instance)?.value;
    expect(allocRate('http://a:6060')).toBe(2_000_000);
    expect(allocRate('http://b:6060')).toBe(6_000_000);
  });

  it('forgets a target silent for longer than state_ttl and starts it over with a baseline', async () => {
    let now = 0;
    const p = makeProcessor({ state_ttl: '5m' }, { nowMs: () => now });
    await p.run(pullBundle({ round: 0, memStats: ROUND0 }));
    now = 6 * 60_000;
    expect((await p.values(pullBundle({ round: 1, memStats: ROUND1 }))).prof_go_alloc_bytes_per_sec).toBeUndefined();
    expect(p.settings.registry.value('profcol_processor_memstats_rounds_total', { outcome: 'baseline' })).toBe(2);
  });

  it("falls back to heap-profile alloc deltas without a trailer (D4), over the delta profile's window", async () => {
    const heap = craftProfile(
      [
        ['alloc_objects', 'count'],
        ['alloc_space', 'bytes'],
        ['inuse_objects', 'count'],
        ['inuse_space', 'bytes'],
      ],
      [
        { stack: ['main.alloc'], values: [400, 800_000, 40, 80_000] },
        { stack: ['main.other'], values: [100, 200_000, 10, 20_000] },
      ],
    );
    const bundle = pullBundle({ seconds: 15 });
    bundle.profiles = [
      {
        type: 'heap',
        name: '/debug/pprof/heap',
        data: heap,
        delta: true,
        window: { startNanos: bundle.window.endNanos - 20_000_000_000n, endNanos: bundle.window.endNanos },
      },
    ];
    const p = makeProcessor();
    const values = await p.values(bundle);
    expect(values).toEqual({
      prof_go_alloc_bytes_per_sec: 50_000,
      prof_go_allocs_per_sec: 25,
      prof_go_alloc_bytes_total: 1_000_000,
      prof_go_lifetime_heap_bytes: 100_000,
      prof_go_lifetime_heap_objects: 50,
    });
    expect(p.omitted('prof_go_frees_per_sec', 'no_source')).toBe(1);
  });

  it('reads no allocation figures from a heap profile that is not a delta, and never a negative delta', async () => {
    const heapWith = (alloc: number) =>
      craftProfile(
        [
          ['alloc_objects', 'count'],
          ['alloc_space', 'bytes'],
          ['inuse_objects', 'count'],
          ['inuse_space', 'bytes'],
        ],
        [{ stack: ['main.alloc'], values: [alloc, alloc * 100, 1, 100] }],
      );
    const p = makeProcessor();
    const cumulative = await p.values(pullBundle({ profiles: [{ type: 'heap', name: '/debug/pprof/heap', data: heapWith(10) }] }));
    expect(cumulative.prof_go_alloc_bytes_total).toBeUndefined();
    expect(cumulative.prof_go_lifetime_heap_bytes).toBe(100);
    expect(p.omitted('prof_go_alloc_bytes_total', 'cumulative_profile')).toBe(1);

    const negative = await p.values(pullBundle({ profiles: [{ type: 'heap', name: '/debug/pprof/heap', data: heapWith(-10), delta: true }] }));
    expect(negative.prof_go_alloc_bytes_total).toBeUndefined();
    expect(p.omitted('prof_go_alloc_bytes_total', 'negative_delta')).toBe(1);
  });

  it("does not report a first-round (cumulative) block or mutex profile as one window's delay; godeltaprof endpoints are deltas already", async () => {
    const p = makeProcessor();
    const values = await p.values(
      pullBundle({
        profiles: [
          { type: 'block', name: '/debug/pprof/block', data: fixture('go-pprof/block.pprof') },
          { type: 'mutex', name: '/debug/pprof/delta_mutex', data: fixture('go-pprof/mutex.pprof') },
        ],
      }),
    );
    expect(values.prof_go_blocked_time).toBeUndefined();
    expect(values.prof_go_mutex_delay_time).toBe(12392463130);
    expect(p.omitted('prof_go_blocked_time', 'cumulative_profile')).toBe(1);
  });

  it("labels pulled points with the target's service, env and host, and keeps the instance in the resource", async () => {
    const [point] = (await makeProcessor().run(pullBundle({ profiles: roundProfiles() }))).metrics;
    expect(point!.attributes).toEqual({ language: 'golang', service: 'payments', env: 'staging', host: 'pay-1' });
    expect(point!.resource.instance).toBe('http://pay-1:6060');
  });
});

describe('MemStats deltas', () => {
  it('selects pauses by PauseEnd inside the window when NumGC is missing', () => {
    const at = (s: number) => WINDOW_START + BigInt(s * 1e9);
    const trailer = (readAt: number, ends: number[], ns: number[]): MemStats => ({
      readAtNanos: at(readAt),
      values: { TotalAlloc: 0 },
      pauseNs: ns,
      pauseEnd: ends.map(at),
    });
    const outcome = memStatsDelta(trailer(10, [], []), trailer(20, [5, 9, 12, 19, 20, 21], [1, 2, 3, 4, 5, 6]));
    expect(outcome).toMatchObject({ kind: 'delta', delta: { seconds: 10, pauseTotalNs: 3 + 4 + 5, maxPauseNs: 5, pausesMissed: 0 } });
  });

  it('reports no GC as zero pause time and a zero maximum', () => {
    const outcome = memStatsDelta(ROUND1, { ...ROUND1, readAtNanos: ROUND1.readAtNanos + 1_000_000_000n });
    expect(outcome).toMatchObject({ kind: 'delta', delta: { gcs: 0, pauseTotalNs: 0, maxPauseNs: 0 } });
  });

  it('names the counter that went backwards', () => {
    expect(memStatsDelta(ROUND1, { ...ROUND0, readAtNanos: ROUND1.readAtNanos + 1n })).toEqual({ kind: 'restart', counter: 'TotalAlloc' });
  });
});
