/**
 * Pull mode, end to end: the real `profcol run` scrapes test/go/pprof-target (net/http/pprof)
 * with the `pprof` receiver (→ pprof_decode → goruntime → file), and the prof_go_* points in
 * metrics.jsonl must describe what the target does.
 *
 * The receiver's interval cannot go below 10 s (a configuration error, and the README offers no
 * faster way for the CLI), so: interval 10s, cpu_seconds 3, jitter 0s (the first round starts at
 * once). Round 1 is a baseline (the heap/mutex/block deltas and the MemStats trailer need a
 * previous round); rounds 2 and 3 carry all 15 metrics. That is ≈24 s for the first describe and
 * ≈14 s for the GC one. They run one after the other (a -gc-heavy target takes most of 2 cores
 * and would starve the spinner whose ≈1 core is measured).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, startGoProgram, type GoProcess, type PprofTargetReady } from '../setup/go-build.js';
import {
  ALL_15,
  BUILD_AND_RUN_TIMEOUT_MS,
  CpuSampler,
  describeRounds,
  expectSameCores,
  expectWellFormed,
  expectWithin,
  kernelCoresOverCpuProfile,
  MiB,
  readBundles,
  rounds,
  startMetricsPipeline,
  sumWhere,
  totalOf,
  waitUntil,
  writtenProfile,
  type Pipeline,
  type Round,
} from './support.js';

/** Mean object size of pprof-target's allocWorker: it cycles through 32 B … 32 KiB (11 powers of two). */
const ALLOC_WORKER_MEAN_OBJECT = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768].reduce((a, b) => a + b) / 11;

function receiverYaml(id: string, addr: string, service: string, extra = ''): string {
  return `  ${id}:
    interval: 10s
    cpu_seconds: 3
    jitter: 0s
    targets:
      - url: http://${addr}
        service: ${service}
${extra}`;
}

async function waitForRounds(pipeline: Pipeline, perService: Record<string, number>, timeoutMs: number): Promise<void> {
  const count = (service: string) => readBundles(pipeline.data).filter((b) => b.resource.service === service).length;
  await waitUntil(
    () => Object.entries(perService).every(([service, n]) => count(service) >= n),
    timeoutMs,
    () =>
      Object.entries(perService)
        .map(([service, n]) => `${n} rounds of ${service} (have ${count(service)})`)
        .join(', '),
  );
}

/**
 * The Go releases the target is built with: the machine's go, and the oldest releases the go
 * command can fetch from the module proxy (GOTOOLCHAIN; 1.21 is the oldest available that way)
 * and 1.23, because users' services run many releases and runtime frame names (the GC frames) and
 * the MemStats trailer differ between them. Each build is cached by source + toolchain.
 */
const TOOLCHAINS: { label: string; toolchain: string | undefined }[] = [
  { label: "the machine's Go", toolchain: undefined },
  { label: 'Go 1.23 (GOTOOLCHAIN=go1.23.12)', toolchain: 'go1.23.12' },
  { label: 'Go 1.21 (GOTOOLCHAIN=go1.21.13)', toolchain: 'go1.21.13' },
];
/** What runtime.Version() says in a program built by the machine's go (`go1.26.8`). */
const machineGo = /\bgo(1\.\d+(?:\.\d+)?)\b/.exec(execFileSync(process.env['PROFCOL_GO'] ?? 'go', ['version'], { encoding: 'utf8' }))![0];

describe.each(TOOLCHAINS.map((t) => [t.label, t.toolchain] as const))('pprof-target built with %s', (_label, toolchain) => {
  describe('pull: pprof-target -spin 1 -parked 50 -retain-mib 64 -alloc-mib-per-sec 20, scraped every 10 s', () => {
    const FLAGS = { spin: 1, parked: 50, retainMiB: 64, retainChunkMiB: 16, allocMiBPerSec: 20 };
    const SERVICE = 'pull-target';
    let target: GoProcess<PprofTargetReady>;
    let pipeline: Pipeline | undefined;
    let sampler: CpuSampler | undefined;
    let list: Round[];

    beforeAll(async () => {
      const bin = await buildGoProgram('pprof-target', { toolchain });
      target = await startGoProgram<PprofTargetReady>(bin, [
        '-addr',
        '127.0.0.1:0',
        '-spin',
        String(FLAGS.spin),
        '-parked',
        String(FLAGS.parked),
        '-retain-mib',
        String(FLAGS.retainMiB),
        // 16 MiB chunks: Go's 512 KiB heap sampling leaves a chunk of c bytes out with probability
        // e^(-c / 512 KiB), e^-8 for the default 4 MiB (one of 16 chunks missing in ~1 run in 200).
        '-retain-chunk-kib',
        String(FLAGS.retainChunkMiB * 1024),
        '-alloc-mib-per-sec',
        String(FLAGS.allocMiBPerSec),
      ]);
      expect(target.ready.go_version, 'the target runs the Go it was built with').toBe(toolchain ?? machineGo);
      sampler = new CpuSampler(target.ready.pid);
      pipeline = await startMetricsPipeline(
        'pull',
        receiverYaml('pprof', target.ready.addr, SERVICE, '        env: e2e\n        version: 2.0.0\n        tags: { suite: e2e-metrics }\n'),
        ['pprof'],
      );
      await waitForRounds(pipeline, { [SERVICE]: 3 }, 45_000);
      expect(await pipeline.stop(), 'profcol exit code').toBe(0);
      list = rounds(pipeline.data, (b) => b.resource.service === SERVICE);
      console.log(describeRounds('pull round', list));
    }, BUILD_AND_RUN_TIMEOUT_MS);

    afterAll(async () => {
      sampler?.stop();
      await pipeline?.stop();
      await target?.stop();
      pipeline?.cleanup();
    });

    it('CPU cores are what the kernel charged the target over each CPU profile (every round)', () => {
      for (const round of list) {
        const kernel = kernelCoresOverCpuProfile(sampler!, pipeline!.data, round.bundle);
        expect(kernel, 'CPU samples around the profile').toBeDefined();
        // The CPU profile's own window (3 s), not the 10 s round.
        expectWithin(kernel!.seconds, 2.9, 3.2, 'CPU profile span (s)');
        const cores = round.value('prof_go_cpu_cores');
        console.log(
          `pull round ending ${round.bundle.window.end}: prof_go_cpu_cores ${cores.toFixed(4)}, kernel ${kernel!.cores.toFixed(4)} over ${kernel!.seconds.toFixed(2)} s`,
        );
        expectSameCores(cores, kernel!.cores, `prof_go_cpu_cores (round ending ${round.bundle.window.end})`);
      }
    });

    it('round 1 is a baseline: CPU cores, GC cores and goroutines only (no delta, no MemStats pair yet)', () => {
      expect([...list[0]!.points.keys()].sort()).toEqual(['prof_go_cpu_cores', 'prof_go_cpu_cores_gc_overhead', 'prof_go_num_goroutine']);
    });

    it("rounds 2 and 3 give all 15 metrics, in UCUM units, stamped with the round window, with the target's attributes", () => {
      expect(list.length).toBeGreaterThanOrEqual(3);
      for (const [i, round] of list.entries()) {
        expectWellFormed(round, { service: SERVICE, env: 'e2e', version: '2.0.0', host: target.ready.addr, language: 'golang', suite: 'e2e-metrics' });
        expect(round.points.get('prof_go_cpu_cores')!.resource.instance).toBe(`http://${target.ready.addr}`);
        if (i === 0) continue;
        expect([...round.points.keys()].sort()).toEqual(ALL_15);
        // A round's window starts where the previous one ended; rounds are 10 s apart.
        expect(round.bundle.window.startNanos).toBe(list[i - 1]!.bundle.window.endNanos);
        expectWithin(round.seconds, 9, 12, 'round window (s)');
      }
    });

    it('measures what the target does, in every full round', () => {
      const expected = target.ready.expected_goroutines; // baseline (main, watchdog, workers) + 50 parked
      const goMinor = Number(/^go1\.(\d+)/.exec(target.ready.go_version)?.[1]);
      expect(target.ready.parked).toBe(FLAGS.parked);
      for (const round of list.slice(1)) {
        const W = round.seconds;
        const at = `(round ending ${round.bundle.window.end})`;

        // -spin 1: one goroutine busy on a core → ≈1.0 (measured 0.97–1.03 over the 3 s CPU
        // profile, also beside a 1-core hog); the rest (allocWorker, GC, contention workers) is a few
        // %: +15 %. Below: the machine may be busy with the rest of the suite — two other busy
        // processes left the spinner 0.77–0.9, a full CI run once 0.57 — hence 0.4 (a spinning
        // goroutine still gets well over a third of a core); the exact check is the one above,
        // which holds the value to the kernel's CPU accounting of the target over the same span.
        const cores = round.value('prof_go_cpu_cores');
        expectWithin(cores, 0.4, 1.15, `prof_go_cpu_cores ${at}`);
        // Nothing forces GC (a cycle every ~3 s over a pointer-free heap): measured 0–0.01.
        const gcCores = round.value('prof_go_cpu_cores_gc_overhead');
        expectWithin(gcCores, 0, 0.05, `prof_go_cpu_cores_gc_overhead ${at}`);
        expect(gcCores).toBeLessThanOrEqual(cores);

        // The goroutine profile counts the target's goroutines (runtime.NumGoroutine() = expected)
        // plus those serving the scrape itself. The receiver takes it alone, before the round's
        // other requests open their connections (and without keep-alive), so only its own
        // connection's goroutine is in it; allow a little for one still closing from the last round.
        // Bound: [expected + 1, expected + 4].
        const goroutines = round.value('prof_go_num_goroutine');
        expectWithin(goroutines, expected + 1, expected + 4, `prof_go_num_goroutine ${at} (expected_goroutines ${expected})`);
        // The excess is the scrape's: the value is the goroutine profile's total, and the stacks with
        // a function of the program (main.*) are exactly its expected goroutines.
        const profile = writtenProfile(pipeline!.data, round.bundle, 'goroutine');
        expect(totalOf(profile, 'goroutine')).toBe(goroutines);
        expect(
          sumWhere(profile, 'goroutine', (fn) => fn.startsWith('main.')),
          'goroutines in main.*',
        ).toBe(expected);

        // Live heap (inuse_space of the heap profile): 64 MiB retained in 16 MiB chunks, each sampled
        // (all but certainly, see -retain-chunk-kib above), scaled to ≥ its size; runtime.GC() ran before the ready line.
        // Measured 64 MiB + 22 KiB. Bound: [64 MiB, 64 MiB × 1.15].
        const live = round.value('prof_go_lifetime_heap_bytes');
        expectWithin(live / MiB, FLAGS.retainMiB, FLAGS.retainMiB * 1.15, `prof_go_lifetime_heap_bytes (MiB) ${at}`);
        // 4 chunks, plus the program's and runtime's small live objects (≈0.5 MiB), of which the
        // profile keeps ≈1 sample, each standing for ≈512 KiB ÷ its size objects (32768 for 16 B):
        // a coarse estimate. Bound: [4, 10^6].
        expectWithin(round.value('prof_go_lifetime_heap_objects'), FLAGS.retainMiB / FLAGS.retainChunkMiB, 1e6, `prof_go_lifetime_heap_objects ${at}`);

        // MemStats deltas (exact): allocWorker makes 20 MiB/s of garbage, paced every 10 ms (≥ 0.9 R
        // unless starved for over 1 s); serving the scrape allocates a little in the target
        // (measured 1.02–1.03 R in total). Bound: [0.85 R, 1.2 R].
        const rate = round.value('prof_go_alloc_bytes_per_sec');
        expectWithin(rate / MiB, 0.85 * FLAGS.allocMiBPerSec, 1.2 * FLAGS.allocMiBPerSec, `prof_go_alloc_bytes_per_sec (MiB/s) ${at}`);
        // ΔTotalAlloc over Δt between the two trailers, which is the round spacing (≈ W) ± the request time.
        expectWithin(round.value('prof_go_alloc_bytes_total') / rate, W - 1, W + 1, `prof_go_alloc_bytes_total ÷ rate (s) ${at}`);
        const workerObjects = (FLAGS.allocMiBPerSec * MiB) / ALLOC_WORKER_MEAN_OBJECT; // ≈3520/s
        const allocs = round.value('prof_go_allocs_per_sec');
        expectWithin(allocs, 0.85 * workerObjects, workerObjects + 2000, `prof_go_allocs_per_sec ${at}`);
        // Frees come at sweep, in bursts: positive, at most the window's allocations plus one cycle's.
        expectWithin(round.value('prof_go_frees_per_sec'), 1, 2.5 * allocs, `prof_go_frees_per_sec ${at}`);
        // The heap cannot grow faster than it is allocated; it can shrink by about one cycle's garbage.
        expectWithin(round.value('prof_go_heap_growth_bytes_per_sec'), -(rate + live / W), rate, `prof_go_heap_growth_bytes_per_sec ${at}`);

        // GOGC=100: a cycle per live heap's worth of allocation, 21 MB/s ÷ 67 MB ≈ 0.31 GC/s, i.e. ~3
        // per 10 s round; ±1 cycle of quantization in one round, and a factor 2 for the pacer.
        const gcs = round.value('prof_go_gcs_per_sec');
        expectWithin(gcs, Math.max(1 / W, (0.5 * rate) / live - 1 / W) - 1e-9, (2 * rate) / live + 1 / W, `prof_go_gcs_per_sec ${at}`);
        // Σ and max of the PauseNs of the GCs completed between the two trailers: positive, the max
        // within the sum, each pause well under 100 ms.
        const pause = round.value('prof_go_gc_pause_time');
        expectWithin(pause, 1, gcs * W * 100e6, `prof_go_gc_pause_time (ns) ${at}`);
        expectWithin(round.value('prof_go_max_gc_pause_time'), 1, pause, `prof_go_max_gc_pause_time (ns) ${at}`);

        // Block profile (rate 1, every event): 3 blockConsumers wait on the channel ≈ all the time
        // (3 W), 3 of the 4 mutex workers wait for the lock (sync.Mutex waits are block events too,
        // ≈3 W), and the ticker waits of blockProducer and allocWorker add ≈2 W: measured 8.3 W.
        // At most every goroutine that can wake (all but the parked ones) × W, +20 %.
        const woken = target.ready.baseline_goroutines;
        expectWithin(round.value('prof_go_blocked_time') / 1e9, 5 * W, woken * W * 1.2, `prof_go_blocked_time (s) ${at}`);
        // Mutex profile (fraction 1): 4 workers on one lock held 0.5 ms at a time, so 3 wait all the
        // time; Go reports ≈4 W for that (measured 3.98 W). Bound: [2 W, 6 W]. Before Go 1.22 the
        // runtime did not scale a contention by the goroutines blocked on the mutex (Go 1.22 release
        // notes, runtime/pprof), so Go 1.21 reports ≈1 W for the same program (measured 1.00 W):
        // what the target's runtime says, not something profcol can correct. Bound: [0.5 W, 2 W].
        const [lo, hi] = goMinor >= 22 ? [2 * W, 6 * W] : [0.5 * W, 2 * W];
        expectWithin(round.value('prof_go_mutex_delay_time') / 1e9, lo, hi, `prof_go_mutex_delay_time (s) ${at} (${target.ready.go_version})`);
      }
    });
  });

  describe('GC overhead: pprof-target -gc-heavy (pprof/heavy) against pprof-target without it (pprof/light)', () => {
    let heavy: GoProcess<PprofTargetReady>;
    let light: GoProcess<PprofTargetReady>;
    let pipeline: Pipeline | undefined;
    let heavyCpu: CpuSampler | undefined;

    beforeAll(async () => {
      const bin = await buildGoProgram('pprof-target', { toolchain });
      [heavy, light] = await Promise.all([
        startGoProgram<PprofTargetReady>(bin, ['-addr', '127.0.0.1:0', '-gc-heavy']),
        startGoProgram<PprofTargetReady>(bin, ['-addr', '127.0.0.1:0']),
      ]);
      expect(heavy.ready.gc_heavy).toBe(true);
      expect(light.ready.gc_heavy).toBe(false);
      heavyCpu = new CpuSampler(heavy.ready.pid);
      pipeline = await startMetricsPipeline(
        'gc',
        [receiverYaml('pprof/heavy', heavy.ready.addr, 'gc-heavy'), receiverYaml('pprof/light', light.ready.addr, 'gc-light')].join('\n'),
        ['pprof/heavy', 'pprof/light'],
      );
      // Round 1 already has the CPU profile (GC cores); round 2 adds the MemStats GC counts.
      await waitForRounds(pipeline, { 'gc-heavy': 2, 'gc-light': 2 }, 40_000);
      expect(await pipeline.stop(), 'profcol exit code').toBe(0);
    }, BUILD_AND_RUN_TIMEOUT_MS);

    afterAll(async () => {
      heavyCpu?.stop();
      await pipeline?.stop();
      await Promise.all([heavy?.stop(), light?.stop()]);
      pipeline?.cleanup();
    });

    it('is clearly larger with -gc-heavy (> 0.2 core), small without (< 0.05), and never above prof_go_cpu_cores', () => {
      const heavyRounds = rounds(pipeline!.data, (b) => b.resource.service === 'gc-heavy');
      const lightRounds = rounds(pipeline!.data, (b) => b.resource.service === 'gc-light');
      console.log(describeRounds('gc-heavy round', heavyRounds));
      console.log(describeRounds('gc-light round', lightRounds));
      expect(heavyRounds.length).toBeGreaterThanOrEqual(2);
      expect(lightRounds.length).toBeGreaterThanOrEqual(2);
      for (const round of [...heavyRounds, ...lightRounds]) {
        expect(round.points.get('prof_go_cpu_cores_gc_overhead')!.unit).toBe('{cpu}');
        // The GC samples are a subset of the CPU samples, over the same window.
        expect(round.value('prof_go_cpu_cores_gc_overhead')).toBeLessThanOrEqual(round.value('prof_go_cpu_cores'));
      }
      for (const round of heavyRounds) {
        // Its CPU cores (all threads, GC workers included) as the kernel counted them.
        const kernel = kernelCoresOverCpuProfile(heavyCpu!, pipeline!.data, round.bundle);
        expect(kernel, 'CPU samples around the profile').toBeDefined();
        expectSameCores(round.value('prof_go_cpu_cores'), kernel!.cores, 'gc-heavy prof_go_cpu_cores');
        // -gc-heavy: GOGC=10 over a 32 MiB pointer-rich heap rewritten flat out, ~20 GCs/s; the mark
        // workers and the churn goroutine's mark assists are most of its CPU (measured 0.85–1.34 of
        // 1.2–1.8 cores). Bound: > 0.2 core, and over 30 % of the CPU it uses.
        const gc = round.value('prof_go_cpu_cores_gc_overhead');
        expect(gc, `gc-heavy prof_go_cpu_cores_gc_overhead = ${gc}`).toBeGreaterThan(0.2);
        expect(gc / round.value('prof_go_cpu_cores'), 'gc-heavy: GC share of CPU').toBeGreaterThan(0.3);
      }
      for (const round of lightRounds) {
        // Without the flag GC is < 1 % of CPU: 0–2 samples of 10 ms in a 3 s profile (≤ 0.007 core).
        const gc = round.value('prof_go_cpu_cores_gc_overhead');
        expect(gc, `gc-light prof_go_cpu_cores_gc_overhead = ${gc}`).toBeLessThan(0.05);
      }
      // From the MemStats pair of round 2: many GCs per second against a few per 10 s (measured
      // 0–0.5/s). How many depends on the release's pacer: measured 16–28/s with Go 1.26, 6–10/s
      // with 1.23, 4.9–5.6/s with 1.21 (fewer, longer cycles for the same work; the GC share of
      // CPU above is the same). Bound: > 2.5/s. Total pause time is not compared: the light
      // target's few pauses get long when the heavy one keeps both cores busy (measured 10 ms for
      // 3 GCs vs 35 ms for 215).
      const heavyLast = heavyRounds.at(-1)!;
      const lightLast = lightRounds.at(-1)!;
      expect(heavyLast.value('prof_go_gcs_per_sec'), `gc-heavy prof_go_gcs_per_sec (${heavy.ready.go_version})`).toBeGreaterThan(2.5);
      expect(lightLast.value('prof_go_gcs_per_sec'), 'gc-light prof_go_gcs_per_sec').toBeLessThan(2);
      expect(heavyLast.value('prof_go_gc_pause_time'), 'gc-heavy prof_go_gc_pause_time').toBeGreaterThan(0);
    });
  });
});
