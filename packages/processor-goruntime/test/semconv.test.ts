import { describe, expect, it } from 'vitest';
import type { MetricPoint, ProfileBundle } from '@profcol/core';
import { COVERED_BY_SEMCONV, GO_METRIC_NAMES, GoRuntimeConfig } from '../src/index.js';
import { ddtraceGoBundle, makeProcessor, memStats, pullBundle, runtimeMetricsFixture, WINDOW_START, windowOf } from './helpers.js';

const json = runtimeMetricsFixture();
const SECOND = 1_000_000_000n;

function byName(points: MetricPoint[], name: string): MetricPoint[] {
  return points.filter((p) => p.name === name);
}
function one(points: MetricPoint[], name: string, attributes: Record<string, string> = {}): MetricPoint {
  const found = byName(points, name).filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
  expect(found, `${name} ${JSON.stringify(attributes)}`).toHaveLength(1);
  return found[0]!;
}

/** The next upload of the same process: the window after `bundle`'s. */
function nextUpload(bundle: ProfileBundle, seq: number, runtimeId = bundle.resource['runtime_id']!): ProfileBundle {
  const seconds = Number(bundle.window.endNanos - bundle.window.startNanos) / 1e9;
  return { ...bundle, resource: { ...bundle.resource, runtime_id: runtimeId, profile_seq: String(seq) }, window: windowOf(seconds, bundle.window.endNanos) };
}

describe('goruntime naming: otel (OpenTelemetry semantic conventions)', () => {
  it('is off by default and refuses a naming or temporality it does not know, listing the accepted ones', () => {
    const defaults = GoRuntimeConfig.parse({});
    expect(defaults.ok && [defaults.value.naming, defaults.value.temporality]).toEqual(['prof_go', 'cumulative']);
    const wrong = GoRuntimeConfig.parse({ naming: 'prometheus', temporality: 'sideways' });
    expect(wrong.ok).toBe(false);
    const messages = wrong.ok ? '' : wrong.issues.map((i) => `${i.path.join('::')}: ${i.message}`).join('\n');
    expect(messages).toMatch(/naming.*prof_go.*otel.*both/);
    expect(messages).toMatch(/temporality.*cumulative.*delta/);
  });

  it('emits the convention metrics of a dd-trace-go upload with their instrument, unit and attributes', async () => {
    const p = makeProcessor({ naming: 'otel' });
    const { metrics } = await p.run(ddtraceGoBundle());
    const start = WINDOW_START;
    const end = WINDOW_START + 60n * SECOND;

    const goroutines = one(metrics, 'go.goroutine.count');
    expect(goroutines).toMatchObject({
      kind: 'sum',
      monotonic: false,
      temporality: 'cumulative',
      unit: '{goroutine}',
      value: json['go_num_goroutine'],
      timeNanos: end,
      startTimeNanos: start,
    });

    // Counters: metrics.json's per-second rates over the 60 s upload window, as running totals that start with this window.
    const counter = { kind: 'sum', monotonic: true, temporality: 'cumulative', timeNanos: end, startTimeNanos: start };
    expect(one(metrics, 'go.memory.allocated')).toMatchObject({ ...counter, unit: 'By' });
    expect(one(metrics, 'go.memory.allocated').value).toBeCloseTo(json['go_alloc_bytes_per_sec']! * 60, 6);
    expect(one(metrics, 'go.memory.allocations')).toMatchObject({ ...counter, unit: '{allocation}' });
    expect(one(metrics, 'go.memory.allocations').value).toBeCloseTo(json['go_allocs_per_sec']! * 60, 6);
    expect(one(metrics, 'go.memory.gc.cycles')).toMatchObject({ ...counter, unit: '{gc_cycle}' });
    expect(one(metrics, 'go.memory.gc.cycles').value).toBeCloseTo(json['go_gcs_per_sec']! * 60, 9);

    // CPU time from the CPU profile: 607 samples of 10 ms over the window, 2 of them in GC frames.
    const gc = one(metrics, 'go.cpu.time', { 'go.cpu.state': 'gc' });
    const user = one(metrics, 'go.cpu.time', { 'go.cpu.state': 'user' });
    expect(gc).toMatchObject({ ...counter, unit: 's' });
    expect(gc.value).toBeCloseTo(0.02, 9);
    expect(user.value + gc.value).toBeCloseTo(6.07, 9);

    // Nothing in an upload tells the runtime's memory classes: no go.memory.used rather than a guess.
    expect(byName(metrics, 'go.memory.used')).toEqual([]);
    // The attributes and resource of the prof_go_* points, plus the convention's own.
    expect(gc.attributes).toMatchObject({ service: 'checkout', env: 'prod', language: 'golang', team: 'payments' });
    expect(gc.resource).not.toHaveProperty('runtime_id');
  });

  it('keeps the prof_go_* metrics without a convention under their own names, and only those', async () => {
    const p = makeProcessor({ naming: 'otel' });
    const names = new Set((await p.run(ddtraceGoBundle())).metrics.map((point) => point.name));
    const kept = GO_METRIC_NAMES.filter((name) => !(name in COVERED_BY_SEMCONV));
    expect(kept.sort()).toEqual(
      [
        'prof_go_blocked_time',
        'prof_go_frees_per_sec',
        'prof_go_gc_pause_time',
        'prof_go_heap_growth_bytes_per_sec',
        'prof_go_lifetime_heap_bytes',
        'prof_go_lifetime_heap_objects',
        'prof_go_max_gc_pause_time',
        'prof_go_mutex_delay_time',
      ].sort(),
    );
    for (const name of kept) expect(names, name).toContain(name);
    for (const name of Object.keys(COVERED_BY_SEMCONV)) expect(names, name).not.toContain(name);
  });

  it('naming: both emits the 15 prof_go_* gauges and the convention metrics side by side', async () => {
    const p = makeProcessor({ naming: 'both' });
    const names = new Set((await p.run(ddtraceGoBundle())).metrics.map((point) => point.name));
    for (const name of GO_METRIC_NAMES) expect(names, name).toContain(name);
    for (const name of ['go.goroutine.count', 'go.memory.allocated', 'go.memory.allocations', 'go.memory.gc.cycles', 'go.cpu.time'])
      expect(names, name).toContain(name);
  });

  it('adds each upload of one process to its running totals, with the start time of its first window', async () => {
    const p = makeProcessor({ naming: 'otel' });
    const first = ddtraceGoBundle();
    const second = nextUpload(first, 13);
    const a = (await p.run(first)).metrics;
    const b = (await p.run(second)).metrics;
    const perWindow = json['go_alloc_bytes_per_sec']! * 60;
    expect(one(b, 'go.memory.allocated').value).toBeCloseTo(2 * perWindow, 6);
    expect(one(b, 'go.memory.allocated').startTimeNanos).toBe(first.window.startNanos);
    expect(one(b, 'go.memory.allocated').timeNanos).toBe(second.window.endNanos);
    expect(one(b, 'go.cpu.time', { 'go.cpu.state': 'gc' }).value).toBeCloseTo(2 * one(a, 'go.cpu.time', { 'go.cpu.state': 'gc' }).value, 9);
    expect(one(b, 'go.goroutine.count').startTimeNanos).toBe(first.window.startNanos);
    expect(p.settings.registry.value('profcol_processor_counter_windows_total', { metric: 'go.memory.allocated', outcome: 'added' })).toBe(2);
  });

  it('starts new series when the process restarts (a new runtime id): a new start time, the total from zero', async () => {
    const p = makeProcessor({ naming: 'otel' });
    const first = ddtraceGoBundle();
    await p.run(first);
    const restarted = nextUpload(first, 1, 'a-new-runtime-id');
    const after = (await p.run(restarted)).metrics;
    expect(one(after, 'go.memory.allocated').value).toBeCloseTo(json['go_alloc_bytes_per_sec']! * 60, 6);
    expect(one(after, 'go.memory.allocated').startTimeNanos).toBe(restarted.window.startNanos);
  });

  it('does not count a retried upload twice, and drops (counted) a window older than the last one added', async () => {
    const p = makeProcessor({ naming: 'otel' });
    const first = ddtraceGoBundle();
    const second = nextUpload(first, 13);
    await p.run(first);
    const total = one((await p.run(second)).metrics, 'go.memory.allocated').value;
    expect(one((await p.run(second)).metrics, 'go.memory.allocated').value).toBe(total);
    expect(byName((await p.run(first)).metrics, 'go.memory.allocated')).toEqual([]);
    const windows = (outcome: string) => p.settings.registry.value('profcol_processor_counter_windows_total', { metric: 'go.memory.allocated', outcome });
    expect([windows('added'), windows('retry'), windows('out_of_order')]).toEqual([2, 1, 1]);
  });

  it('temporality: delta sends each window’s own amount over that window, with no running total', async () => {
    const p = makeProcessor({ naming: 'otel', temporality: 'delta' });
    const first = ddtraceGoBundle();
    await p.run(first);
    const second = nextUpload(first, 13);
    const { metrics } = await p.run(second);
    const allocated = one(metrics, 'go.memory.allocated');
    expect(allocated).toMatchObject({
      kind: 'sum',
      monotonic: true,
      temporality: 'delta',
      startTimeNanos: second.window.startNanos,
      timeNanos: second.window.endNanos,
    });
    expect(allocated.value).toBeCloseTo(json['go_alloc_bytes_per_sec']! * 60, 6);
    // An UpDownCounter stays cumulative, as the OpenTelemetry SDKs keep it under a delta preference.
    expect(one(metrics, 'go.goroutine.count')).toMatchObject({ temporality: 'cumulative', startTimeNanos: first.window.startNanos });
  });
});

describe('goruntime naming: otel, pull mode (MemStats trailers)', () => {
  const trailer = (readAt: number, totalAlloc: number, mallocs: number, numGc: number) =>
    memStats(readAt, {
      TotalAlloc: totalAlloc,
      Mallocs: mallocs,
      Frees: 0,
      HeapAlloc: 1,
      NumGC: numGc,
      Sys: 20_000_000,
      HeapReleased: 3_000_000,
      StackInuse: 500_000,
    });

  it('gives go.memory.used by go.memory.type from the trailer (stack = StackInuse, other = Sys − HeapReleased − StackInuse)', async () => {
    const p = makeProcessor({ naming: 'otel' });
    const { metrics } = await p.run(pullBundle({ round: 0, memStats: trailer(0, 1000, 10, 1) }));
    expect(one(metrics, 'go.memory.used', { 'go.memory.type': 'stack' })).toMatchObject({ kind: 'sum', monotonic: false, unit: 'By', value: 500_000 });
    expect(one(metrics, 'go.memory.used', { 'go.memory.type': 'other' }).value).toBe(20_000_000 - 3_000_000 - 500_000);
    // The first trailer is a baseline: no counter yet.
    expect(byName(metrics, 'go.memory.allocated')).toEqual([]);
  });

  it('adds up to exactly what TotalAlloc, Mallocs and NumGC grew by since the baseline', async () => {
    const p = makeProcessor({ naming: 'otel' });
    await p.run(pullBundle({ round: 0, memStats: trailer(10, 1_000, 10, 1) }));
    await p.run(pullBundle({ round: 1, memStats: trailer(20, 5_001_000, 60_010, 4) }));
    const { metrics } = await p.run(pullBundle({ round: 2, memStats: trailer(30, 12_001_000, 100_010, 9) }));
    expect(one(metrics, 'go.memory.allocated').value).toBeCloseTo(12_000_000, 3);
    expect(one(metrics, 'go.memory.allocations').value).toBeCloseTo(100_000, 6);
    expect(one(metrics, 'go.memory.gc.cycles').value).toBeCloseTo(8, 9);
    // The series started where the first counted span did: at the baseline trailer.
    expect(one(metrics, 'go.memory.allocated').startTimeNanos).toBe(WINDOW_START + 10n * SECOND);
  });

  it('starts the target’s series over when it restarted (a MemStats counter went backwards), counted', async () => {
    const p = makeProcessor({ naming: 'otel' });
    await p.run(pullBundle({ round: 0, memStats: trailer(10, 1_000, 10, 1) }));
    await p.run(pullBundle({ round: 1, memStats: trailer(20, 5_001_000, 60_010, 4) }));
    await p.run(pullBundle({ round: 2, memStats: trailer(30, 2_000, 20, 1) })); // restarted: the new baseline
    const { metrics } = await p.run(pullBundle({ round: 3, memStats: trailer(40, 3_002_000, 30_020, 2) }));
    const allocated = one(metrics, 'go.memory.allocated');
    expect(allocated.value).toBeCloseTo(3_000_000, 3);
    expect(allocated.startTimeNanos).toBe(WINDOW_START + 30n * SECOND);
    expect(p.settings.registry.value('profcol_processor_counter_series_reset_total')).toBeGreaterThan(0);
  });

  it('keeps the totals of two targets apart', async () => {
    const p = makeProcessor({ naming: 'otel' });
    for (const instance of ['http://a:6060', 'http://b:6060']) await p.run(pullBundle({ instance, round: 0, memStats: trailer(0, 0, 0, 0) }));
    await p.run(pullBundle({ instance: 'http://a:6060', round: 1, memStats: trailer(10, 1_000, 1, 0) }));
    const b = (await p.run(pullBundle({ instance: 'http://b:6060', round: 1, memStats: trailer(10, 7_000, 1, 0) }))).metrics;
    expect(one(b, 'go.memory.allocated').value).toBeCloseTo(7_000, 6);
  });
});
