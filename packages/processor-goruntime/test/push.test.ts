import { describe, expect, it } from 'vitest';
import { GO_METRIC_NAMES } from '../src/index.js';
import { ddtraceGoBundle, makeProcessor, windowOf } from './helpers.js';

describe('goruntime processor, push mode (a dd-trace-go upload with metrics.json)', () => {
  it('reproduces the reference values of the dd-trace-go fixture over a 60 s window', async () => {
    const values = await makeProcessor().values(ddtraceGoBundle());

    expect(values.prof_go_cpu_cores).toBe(0.10116666666666667);
    expect(values.prof_go_alloc_bytes_total).toBeCloseTo(13966184, 6);
    expect(values.prof_go_lifetime_heap_objects).toBe(55422);
    expect(values.prof_go_lifetime_heap_bytes).toBe(18585974);
    expect(values.prof_go_blocked_time).toBe(1136108787243);
    expect(values.prof_go_mutex_delay_time).toBe(1603409);
    expect(values.prof_go_num_goroutine).toBe(26);
    expect(values.prof_go_max_gc_pause_time).toBe(581178);
    // metrics.json rates pass through as sent.
    expect(values.prof_go_alloc_bytes_per_sec).toBe(232769.73333333334);
    expect(values.prof_go_allocs_per_sec).toBe(388);
    expect(values.prof_go_frees_per_sec).toBe(358.2);
    expect(values.prof_go_heap_growth_bytes_per_sec).toBe(7393.066666666667);
    expect(values.prof_go_gcs_per_sec).toBe(0.016666666666666666);
  });

  it('reports prof_go_gc_pause_time in nanoseconds: the paused fraction × the 60 s window (D1)', async () => {
    const values = await makeProcessor().values(ddtraceGoBundle());
    expect(values.prof_go_gc_pause_time).toBe(0.00000965346793130803 * 60e9);
    expect(values.prof_go_gc_pause_time).toBeCloseTo(579208.08, 2);
  });

  it('measures GC overhead in cores from the GC frames of cpu.pprof: 2 samples of 10 ms over 60 s (D2)', async () => {
    const values = await makeProcessor().values(ddtraceGoBundle());
    expect(values.prof_go_cpu_cores_gc_overhead).toBeCloseTo(3.3333e-4, 8);
    expect(values.prof_go_cpu_cores_gc_overhead).toBe(20_000_000 / 60e9);
    expect(values.prof_go_cpu_cores_gc_overhead!).toBeLessThanOrEqual(values.prof_go_cpu_cores!);
  });

  it('emits all 15 metrics for the upload, in the order of the metric table', async () => {
    const batch = await makeProcessor().run(ddtraceGoBundle());
    expect(batch.metrics.map((p) => p.name)).toEqual([...GO_METRIC_NAMES]);
  });

  it('falls back to the profiles without metrics.json: 25 goroutines from goroutines.pprof, allocations from delta-heap.pprof', async () => {
    const p = makeProcessor();
    const values = await p.values(ddtraceGoBundle({ metricsJson: false }));

    expect(values.prof_go_num_goroutine).toBe(25);
    expect(values.prof_go_cpu_cores).toBe(0.10116666666666667);
    expect(values.prof_go_cpu_cores_gc_overhead).toBe(20_000_000 / 60e9);
    expect(values.prof_go_lifetime_heap_bytes).toBe(18585974);
    expect(values.prof_go_blocked_time).toBe(1136108787243);
    expect(values.prof_go_mutex_delay_time).toBe(1603409);
    // D4: the sampled alloc_* deltas of delta-heap.pprof over the window.
    expect(values.prof_go_alloc_bytes_total).toBe(16699978);
    expect(values.prof_go_alloc_bytes_per_sec).toBe(16699978 / 60);
    expect(values.prof_go_allocs_per_sec).toBe(535 / 60);
    // Nothing in a pprof profile gives frees, heap growth or GC figures; they are left out, and counted.
    for (const metric of [
      'prof_go_frees_per_sec',
      'prof_go_heap_growth_bytes_per_sec',
      'prof_go_gcs_per_sec',
      'prof_go_max_gc_pause_time',
      'prof_go_gc_pause_time',
    ]) {
      expect(values[metric]).toBeUndefined();
      expect(p.omitted(metric, 'no_source')).toBe(1);
    }
  });

  it('divides by the upload window, so a 30 s window doubles cores and halves the pause and alloc totals', async () => {
    const values = await makeProcessor().values(ddtraceGoBundle({ seconds: 30 }));
    expect(values.prof_go_cpu_cores).toBe(6.07e9 / 30e9);
    expect(values.prof_go_alloc_bytes_total).toBeCloseTo(232769.73333333334 * 30, 6);
    expect(values.prof_go_gc_pause_time).toBeCloseTo(0.00000965346793130803 * 30e9, 6);
  });

  it("divides by the CPU profile's own duration when it covers less than the window (dd-trace-go CPUDuration below its period)", async () => {
    // The fixture's cpu.pprof ran for 60.115887125 s; in a 120 s upload window it covers half of it.
    const values = await makeProcessor().values(ddtraceGoBundle({ seconds: 120 }));
    expect(values.prof_go_cpu_cores).toBe(6.07e9 / 60_115_887_125);
    expect(values.prof_go_cpu_cores_gc_overhead).toBe(20_000_000 / 60_115_887_125);
    // Per-window totals stay over the upload window.
    expect(values.prof_go_alloc_bytes_total).toBeCloseTo(232769.73333333334 * 120, 6);
  });

  it('takes metrics.json first, profiles as fallback: a sent goroutine count wins over goroutines.pprof', async () => {
    const bundle = ddtraceGoBundle();
    bundle.runtimeMetrics = { ...bundle.runtimeMetrics, go_num_goroutine: 99, go_lifetime_heap_bytes: 1234 };
    const values = await makeProcessor().values(bundle);
    expect(values.prof_go_num_goroutine).toBe(99);
    expect(values.prof_go_lifetime_heap_bytes).toBe(1234);
    expect(values.prof_go_lifetime_heap_objects).toBe(55422);
  });

  it('never derives GC overhead from the pause fraction; a metrics.json go_cpu_cores_gc_overhead counts only without a CPU profile', async () => {
    const withoutCpu = ddtraceGoBundle();
    withoutCpu.profiles = withoutCpu.profiles.filter((profile) => profile.type !== 'cpu');
    const p = makeProcessor();
    expect((await p.values(withoutCpu)).prof_go_cpu_cores_gc_overhead).toBeUndefined();
    expect(p.omitted('prof_go_cpu_cores_gc_overhead', 'no_cpu_profile')).toBe(1);

    withoutCpu.runtimeMetrics = { ...withoutCpu.runtimeMetrics, go_cpu_cores_gc_overhead: 0.02 };
    expect((await p.values(withoutCpu)).prof_go_cpu_cores_gc_overhead).toBe(0.02);

    const withCpu = ddtraceGoBundle();
    withCpu.runtimeMetrics = { ...withCpu.runtimeMetrics, go_cpu_cores_gc_overhead: 0.02 };
    expect((await p.values(withCpu)).prof_go_cpu_cores_gc_overhead).toBe(20_000_000 / 60e9);
  });

  it('does not sum a cumulative block.pprof (DD_PROFILING_DELTA=false) as the time blocked in one window', async () => {
    const bundle = ddtraceGoBundle();
    for (const profile of bundle.profiles) if (profile.type === 'block') profile.name = 'block.pprof';
    const p = makeProcessor();
    const values = await p.values(bundle);
    expect(values.prof_go_blocked_time).toBeUndefined();
    expect(values.prof_go_mutex_delay_time).toBe(1603409);
    expect(p.omitted('prof_go_blocked_time', 'cumulative_profile')).toBe(1);
  });

  it('omits per-window values when the upload window is empty, and keeps the snapshots', async () => {
    const bundle = ddtraceGoBundle();
    bundle.window = windowOf(0);
    const p = makeProcessor();
    const values = await p.values(bundle);
    expect(values.prof_go_cpu_cores).toBeUndefined();
    expect(values.prof_go_gc_pause_time).toBeUndefined();
    expect(values.prof_go_num_goroutine).toBe(26);
    expect(values.prof_go_lifetime_heap_bytes).toBe(18585974);
    expect(p.omitted('prof_go_cpu_cores', 'empty_window')).toBe(1);
  });
});
