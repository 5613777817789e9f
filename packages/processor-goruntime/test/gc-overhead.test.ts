import { describe, expect, it } from 'vitest';
import type { ProfileSummary, ProfileBundle } from '@profcol/core';
import { decompressAndSummarize, GC_STACK_FILTER, GO_GC_FRAMES, type DecompressAndSummarizeOptions } from '@profcol/pprof';
import { DEFAULT_GC_FRAMES, deriveGoMetrics, gcFrameMatcher } from '../src/index.js';
import { cpuProfile, makeProcessor, pullBundle, type Frame } from './helpers.js';

const MAIN: Frame[] = ['main.work', 'main.main', 'runtime.main'];
const MARK_WORKER: Frame[] = [
  'runtime.scanobject',
  'runtime.gcDrain',
  'runtime.gcBgMarkWorker.func2',
  'runtime.systemstack',
  'runtime.gcBgMarkWorker',
  'runtime.goexit',
];
const ASSIST: Frame[] = [
  'runtime.scanobject',
  'runtime.gcDrainN',
  'runtime.gcAssistAlloc1',
  'runtime.gcAssistAlloc.func1',
  'runtime.systemstack',
  'runtime.gcAssistAlloc',
  'runtime.mallocgc',
  'main.work',
];
const SWEEP: Frame[] = ['runtime.sweepone', 'runtime.bgsweep', 'runtime.goexit'];

/** A pulled CPU profile of `seconds`, as one bundle. */
function cpuBundle(stacks: { stack: Frame[]; count: number }[], seconds = 10): ProfileBundle {
  return pullBundle({ seconds, profiles: [{ type: 'cpu', name: '/debug/pprof/profile', data: cpuProfile(stacks) }] });
}

async function gcCores(stacks: { stack: Frame[]; count: number }[], config: Record<string, unknown> = {}): Promise<{ cpu: number; gc: number }> {
  const values = await makeProcessor(config).values(cpuBundle(stacks));
  return { cpu: values.prof_go_cpu_cores!, gc: values.prof_go_cpu_cores_gc_overhead! };
}

describe('goruntime processor, GC overhead in cores (D2)', () => {
  it('reads a heavy-GC program as spending far more cores in GC than a light one with the same CPU use', async () => {
    // 10 s at 100 Hz: 500 samples = 0.5 cores in both programs.
    const heavy = await gcCores([
      { stack: MAIN, count: 250 },
      { stack: MARK_WORKER, count: 150 },
      { stack: ASSIST, count: 80 },
      { stack: SWEEP, count: 20 },
    ]);
    const light = await gcCores([
      { stack: MAIN, count: 497 },
      { stack: MARK_WORKER, count: 3 },
    ]);
    expect(heavy.cpu).toBe(0.5);
    expect(light.cpu).toBe(0.5);
    expect(heavy.gc).toBeGreaterThan(50 * light.gc);
    expect(heavy.gc).toBeCloseTo(0.25, 12);
    expect(light.gc).toBeCloseTo(0.003, 12);
  });

  it('counts a sample once however many GC frames its stack holds', async () => {
    const { gc } = await gcCores([{ stack: ASSIST, count: 10 }]);
    // ASSIST holds six matching frames; 10 samples × 10 ms over 10 s.
    expect(gc).toBeCloseTo(0.01, 12);
  });

  it('matches inlined frames (several lines in one location)', async () => {
    const { gc } = await gcCores([{ stack: [['runtime.greyobject', 'runtime.scanblock'], 'runtime.systemstack', 'main.work'], count: 7 }]);
    expect(gc).toBeCloseTo(0.007, 12);
  });

  it('does not count scavenging, write barriers, allocation, STW or forEachP on their own, nor the runtime._GC placeholder', async () => {
    const { gc } = await gcCores([
      { stack: ['runtime.bgscavenge', 'runtime.goexit'], count: 5 },
      { stack: ['runtime.wbBufFlush1', 'runtime.gcWriteBarrier2', 'main.work'], count: 5 },
      { stack: ['runtime.mallocgc', 'main.work'], count: 5 },
      { stack: ['runtime.stopTheWorldWithSema', 'runtime.ReadMemStats', 'main.report'], count: 5 },
      { stack: ['runtime.forEachP', 'runtime.traceAdvance', 'runtime.goexit'], count: 5 },
      { stack: ['runtime._GC'], count: 5 },
    ]);
    expect(gc).toBe(0);
  });

  it('counts forEachP and stop-the-world under a GC caller (gcMarkDone, gcMarkTermination, gcStart)', async () => {
    const { gc } = await gcCores([
      { stack: ['runtime.forEachP', 'runtime.gcMarkDone.func1', 'runtime.systemstack', 'runtime.gcMarkDone', 'runtime.gcBgMarkWorker'], count: 2 },
      { stack: ['runtime.stopTheWorldWithSema', 'runtime.gcStart.func1', 'runtime.systemstack', 'runtime.gcStart', 'runtime.mallocgc'], count: 3 },
      { stack: ['runtime.startTheWorldWithSema', 'runtime.gcMarkTermination.func4', 'runtime.gcMarkTermination'], count: 1 },
    ]);
    expect(gc).toBeCloseTo(0.006, 12);
  });

  it("divides by the CPU profile's own window when it has one, the same as prof_go_cpu_cores", async () => {
    const bundle = cpuBundle([{ stack: MARK_WORKER, count: 100 }], 30);
    bundle.profiles[0]!.window = { startNanos: bundle.window.endNanos - 5_000_000_000n, endNanos: bundle.window.endNanos };
    const values = await makeProcessor().values(bundle);
    expect(values.prof_go_cpu_cores).toBe(0.2);
    expect(values.prof_go_cpu_cores_gc_overhead).toBe(0.2);
  });

  it('replaces the GC frame set with gc_frames', async () => {
    const stacks = [
      { stack: ['runtime.bgscavenge', 'runtime.goexit'], count: 10 },
      { stack: MARK_WORKER, count: 10 },
    ];
    expect((await gcCores(stacks, { gc_frames: ['runtime.bgscavenge', 'runtime.gcBgMarkWorker*'] })).gc).toBeCloseTo(0.02, 12);
    expect((await gcCores(stacks, { gc_frames: ['runtime.bgscavenge'] })).gc).toBeCloseTo(0.01, 12);
  });

  it('rejects a gc_frames pattern with "*" anywhere but the end', () => {
    const parse = makeProcessor.bind(null, { gc_frames: ['runtime.*Drain'] });
    expect(parse).toThrow(/only at the end/);
  });

  it('skips the stack walk when prof_go_cpu_cores_gc_overhead is not enabled', async () => {
    const values = await makeProcessor({ metrics: ['prof_go_cpu_cores'] }).values(cpuBundle([{ stack: MARK_WORKER, count: 100 }]));
    expect(values).toEqual({ prof_go_cpu_cores: 0.1 });
  });
});

describe('GC frame set', () => {
  const isGc = gcFrameMatcher(DEFAULT_GC_FRAMES);
  it.each([
    'runtime.gcBgMarkWorker',
    'runtime.gcBgMarkWorker.func1',
    'runtime.gcAssistAlloc',
    'runtime.gcAssistAlloc1',
    'runtime.gcAssistAlloc.func1',
    'runtime.gcDrain',
    'runtime.gcDrainN',
    'runtime.gcDrainMarkWorkerIdle',
    'runtime.markroot',
    'runtime.markrootSpans',
    'runtime.scanobject',
    'runtime.scanstack',
    'runtime.scanframeworker',
    'runtime.greyobject',
    'runtime.gcStart',
    'runtime.gcMarkDone',
    'runtime.gcMarkTermination.func3',
    'runtime.bgsweep',
    'runtime.sweepone',
  ])('counts %s', (name) => expect(isGc(name)).toBe(true));
  it.each([
    'runtime.bgscavenge',
    'runtime.forEachP',
    'runtime.stopTheWorldWithSema',
    'runtime.startTheWorldWithSema',
    'runtime._GC',
    'runtime.mallocgc',
    'runtime.gcWriteBarrier',
    'runtime.wbBufFlush1',
    'runtime.gcBgMarkStartWorkers',
    'runtime.GC',
    'main.gcDrain',
  ])('does not count %s', (name) => expect(isGc(name)).toBe(false));
});

describe("GC overhead from the decoder's summary pass (stackTotals)", () => {
  const STACKS = [
    { stack: MAIN, count: 250 },
    { stack: MARK_WORKER, count: 150 },
    { stack: ASSIST, count: 80 },
    { stack: [['runtime.greyobject', 'runtime.scanblock'], 'runtime.systemstack', 'main.work'] as Frame[], count: 7 },
    { stack: ['runtime.bgscavenge', 'runtime.goexit'] as Frame[], count: 13 },
  ];

  /** deriveGoMetrics as the pipeline runs it, with profiles decoded with or without GC_STACK_FILTER. */
  function gcOverhead(
    gcFrames: readonly string[],
    decodeOptions: DecompressAndSummarizeOptions,
    adjust?: (decoded: ProfileSummary) => void,
  ): number | undefined {
    const bundle = cpuBundle(STACKS);
    const derived = deriveGoMetrics(bundle, {
      enabled: new Set(['prof_go_cpu_cores_gc_overhead']),
      isGcFrame: gcFrameMatcher(gcFrames),
      decode: (profile) => {
        const decoded = decompressAndSummarize(profile.data, decodeOptions);
        adjust?.(decoded);
        return decoded;
      },
    });
    return derived.values.get('prof_go_cpu_cores_gc_overhead');
  }

  it('gives the same value whether the decoder summed the GC frames or not', () => {
    const walked = gcOverhead(DEFAULT_GC_FRAMES, {});
    expect(walked).toBeCloseTo((237 * 0.01) / 10, 12);
    expect(gcOverhead(DEFAULT_GC_FRAMES, { stackFilters: [GC_STACK_FILTER] })).toBe(walked);
  });

  it("takes the decoder's sum for the default frames (in any order) instead of walking the stacks again", () => {
    const tampered = (decoded: ProfileSummary) => (decoded.stackTotals = { gc: [100, 1_000_000_000] });
    expect(gcOverhead(DEFAULT_GC_FRAMES, { stackFilters: [GC_STACK_FILTER] }, tampered)).toBeCloseTo(0.1, 12);
    expect(gcOverhead([...DEFAULT_GC_FRAMES].reverse(), { stackFilters: [GC_STACK_FILTER] }, tampered)).toBeCloseTo(0.1, 12);
  });

  it('walks the stacks with gc_frames when they differ from the default, whatever the decoder summed', () => {
    const tampered = (decoded: ProfileSummary) => (decoded.stackTotals = { gc: [100, 1_000_000_000] });
    expect(gcOverhead(['runtime.bgscavenge'], { stackFilters: [GC_STACK_FILTER] }, tampered)).toBeCloseTo((13 * 0.01) / 10, 12);
    expect(gcOverhead([...DEFAULT_GC_FRAMES, 'runtime.bgscavenge'], { stackFilters: [GC_STACK_FILTER] }, tampered)).toBeCloseTo((250 * 0.01) / 10, 12);
  });

  it("DEFAULT_GC_FRAMES is @profcol/pprof's GO_GC_FRAMES", () => {
    expect(DEFAULT_GC_FRAMES).toBe(GO_GC_FRAMES);
    expect(GC_STACK_FILTER.patterns).toBe(GO_GC_FRAMES);
  });
});
