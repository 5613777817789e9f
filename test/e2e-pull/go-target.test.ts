/**
 * The pull pipeline (pprof receiver → pprof_decode) against the REAL Go program
 * test/go/pprof-target, whose behaviour is known: one goroutine spinning on a core, 50
 * parked goroutines, 64 MiB retained in 16 MiB chunks, 200 MiB/s of short-lived garbage,
 * 4 goroutines contending on one mutex, channel blocking. Rounds are driven with
 * `scrapeOnce()` so the test does not wait for the 10 s interval.
 */
import { readFileSync } from 'node:fs';
import { sumSamplesWhere, summarizePprof } from '@profcol/pprof';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../lib/profcol.js';
import { buildGoProgram, startGoProgram, type GoProcess, type PprofTargetReady } from '../setup/go-build.js';
import { indexOf, MiB, profileOf, pullPipeline, totalOf } from './helpers.js';

const PARKED = 50;
const RETAIN_MIB = 64;
/**
 * Go samples the heap profile every 512 KiB on average, so a chunk of c bytes is left out with
 * probability e^(-c / 512 KiB): e^-8 for 4 MiB, which missed one of 16 chunks in about 1 run in
 * 200 (seen: 62,935,672 B for 64 MiB). 16 MiB chunks: e^-32 each, never in practice.
 */
const RETAIN_CHUNK_MIB = 16;
const ALLOC_MIB_PER_SEC = 200;
const CPU_SECONDS = 2;

let bin: string;
let target: GoProcess<PprofTargetReady>;
let url: string;

async function startTarget(addr = '127.0.0.1:0'): Promise<GoProcess<PprofTargetReady>> {
  return startGoProgram<PprofTargetReady>(bin, [
    '-addr',
    addr,
    '-spin',
    '1',
    '-parked',
    String(PARKED),
    '-retain-mib',
    String(RETAIN_MIB),
    '-retain-chunk-kib',
    String(RETAIN_CHUNK_MIB * 1024),
    '-alloc-mib-per-sec',
    String(ALLOC_MIB_PER_SEC),
    '-mutex',
    '-block',
  ]);
}

beforeAll(async () => {
  bin = await buildGoProgram('pprof-target');
  target = await startTarget(`127.0.0.1:${await freePort()}`);
  url = `http://${target.ready.addr}`;
});

afterAll(async () => {
  await target?.stop();
});

/** utime + stime of a process in clock ticks (Linux /proc), or undefined elsewhere. */
function processCpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}
const CLOCK_TICKS = 100; // USER_HZ, 100 on Linux x86-64 and arm64

const ALL_TYPES = ['cpu', 'goroutine', 'heap', 'allocs', 'mutex', 'block', 'threadcreate'];

describe('pull mode against a real Go program (test/go/pprof-target)', () => {
  it('scrapes every type; round 1 emits the snapshots and baselines the cumulative types, round 2 emits deltas that match the known behaviour', async () => {
    const { receiver, sink, registry } = pullPipeline({
      targets: [{ url, service: 'go-demo', env: 'dev', version: '0.0.0', tags: { team: 'e2e' } }],
      enabled_types: ALL_TYPES,
      cpu_seconds: CPU_SECONDS,
    });
    try {
      const [round1] = await receiver.scrapeOnce();
      expect(round1!.failures).toEqual([]);
      expect(round1!.outcome).toBe('success');
      expect(round1!.emitted.sort()).toEqual(['cpu', 'goroutine', 'threadcreate']);
      expect(round1!.baselines.sort()).toEqual(['allocs', 'block', 'heap', 'mutex']);
      const cpuTicksBefore = processCpuTicks(target.ready.pid);
      const [round2] = await receiver.scrapeOnce();
      const cpuTicksAfter = processCpuTicks(target.ready.pid);
      expect(round2!.failures).toEqual([]);
      expect(round2!.emitted.sort()).toEqual(['allocs', 'block', 'cpu', 'goroutine', 'heap', 'mutex', 'threadcreate']);
      expect(sink.bundles).toHaveLength(2);
      expect(registry.value('profcol_receiver_scrapes_total', { outcome: 'success' })).toBe(2);

      const [first, second] = sink.bundles as [(typeof sink.bundles)[0], (typeof sink.bundles)[0]];
      // Resource, tags, source; one bundle per round with back-to-back windows.
      for (const bundle of [first, second]) {
        expect(bundle.source).toBe('pprof');
        expect(bundle.resource).toEqual({ service: 'go-demo', env: 'dev', version: '0.0.0', language: 'golang', instance: url, host: target.ready.addr });
        expect(bundle.tags).toEqual({ team: 'e2e' });
        expect(bundle.window.endNanos).toBeGreaterThan(bundle.window.startNanos);
        expect(bundle.profiles.every((p) => p.decoded !== undefined)).toBe(true);
      }
      expect(second.window.startNanos).toBe(first.window.endNanos);
      // A round lasts about cpu_seconds (everything else is fetched while the CPU profile runs).
      const roundSeconds = Number(second.window.endNanos - second.window.startNanos) / 1e9;
      expect(roundSeconds).toBeGreaterThanOrEqual(CPU_SECONDS * 0.95);
      expect(roundSeconds).toBeLessThan(CPU_SECONDS + 3);

      // CPU: its own window of cpu_seconds; ≈ 1 core spinning in main.spinWorker.
      const cpu = profileOf(second, 'cpu');
      const cpuSeconds = Number(cpu.window!.endNanos - cpu.window!.startNanos) / 1e9;
      expect(cpuSeconds).toBeGreaterThan(CPU_SECONDS * 0.95);
      expect(cpuSeconds).toBeLessThan(CPU_SECONDS * 1.2);
      expect(cpu.delta).toBeUndefined();
      const cpuIdx = indexOf(second, 'cpu', 'cpu');
      const cores = totalOf(second, 'cpu', 'cpu') / (cpuSeconds * 1e9);
      const spin = sumSamplesWhere(cpu.decoded!.pprof, cpuIdx, (name) => name === 'main.spinWorker');
      const spinCores = spin.matched / (cpuSeconds * 1e9);
      // Bounds: one goroutine can use at most one core, and it is most of the process's CPU. How
      // much it gets depends on what else runs on this (2-core, shared) machine, so the lower
      // bound is loose; the check against the kernel's own accounting below is the tight one.
      expect(spinCores).toBeGreaterThan(0.35);
      expect(spinCores).toBeLessThan(1.05);
      expect(spin.matched / totalOf(second, 'cpu', 'cpu')).toBeGreaterThan(0.5);
      expect(cores).toBeGreaterThanOrEqual(spinCores);
      expect(cores).toBeLessThan(2.05);
      // The profile agrees with the CPU time Linux charged the process over the round (±25 %;
      // the round is slightly longer than the profile, and 100 Hz sampling is an estimate).
      if (cpuTicksBefore !== undefined && cpuTicksAfter !== undefined) {
        const kernelCores = (cpuTicksAfter - cpuTicksBefore) / CLOCK_TICKS / roundSeconds;
        expect(Math.abs(cores - kernelCores) / kernelCores).toBeLessThan(0.25);
      }

      // Goroutines: baseline + parked, plus what serves this round's 8 concurrent requests: up to 2
      // per request (the connection's goroutine and its background reader) and runtime/pprof's CPU
      // profile writer. (Handler stacks can be deeper than the goroutine profile's depth limit, so
      // they cannot be told apart by their root frame.) The parked ones are counted exactly.
      const goroutines = totalOf(second, 'goroutine', 'goroutine');
      expect(goroutines).toBeGreaterThanOrEqual(target.ready.expected_goroutines);
      expect(goroutines).toBeLessThanOrEqual(target.ready.expected_goroutines + 2 * (ALL_TYPES.length + 1) + 2);
      expect(sumSamplesWhere(profileOf(second, 'goroutine').decoded!.pprof, 0, (name) => name === 'main.parkedWorker').matched).toBe(PARKED);

      // Heap: a delta over [previous TimeNanos, current TimeNanos]; inuse is the 64 MiB retained (16 MiB chunks: sampled, see RETAIN_CHUNK_MIB).
      const heap = profileOf(second, 'heap');
      expect(heap.delta).toBe(true);
      expect(heap.window).toEqual({ startNanos: heap.decoded!.timeNanos - heap.decoded!.durationNanos, endNanos: heap.decoded!.timeNanos });
      expect(summarizePprof(heap.data).totals).toEqual(heap.decoded!.totals); // data: the raw delta protobuf
      const heapWindowSeconds = Number(heap.decoded!.durationNanos) / 1e9;
      expect(heapWindowSeconds).toBeGreaterThan(CPU_SECONDS * 0.9);
      expect(heapWindowSeconds).toBeLessThan(CPU_SECONDS + 3);
      const retained = sumSamplesWhere(heap.decoded!.pprof, indexOf(second, 'heap', 'inuse_space'), (name) => name === 'main.retainHeap').matched;
      // The chunks (see RETAIN_CHUNK_MIB) plus the small slice holding them.
      expect(target.ready.retained_bytes).toBe(RETAIN_MIB * MiB);
      expect(retained).toBeGreaterThanOrEqual(RETAIN_MIB * MiB);
      expect(retained).toBeLessThan(RETAIN_MIB * MiB * 1.001);
      const inuse = totalOf(second, 'heap', 'inuse_space');
      expect(inuse).toBeGreaterThanOrEqual(RETAIN_MIB * MiB);
      expect(inuse).toBeLessThan((RETAIN_MIB + 48) * MiB);
      // alloc_space is the delta: ≈ 200 MiB/s × window in main.allocWorker. The heap profile lags up to
      // two GC cycles (≈ 0.3 s each at this rate and a 64 MiB live heap), and is a sampled estimate: ±60 %.
      const allocated = sumSamplesWhere(heap.decoded!.pprof, indexOf(second, 'heap', 'alloc_space'), (name) => name === 'main.allocWorker').matched;
      const expectedAlloc = ALLOC_MIB_PER_SEC * MiB * heapWindowSeconds;
      expect(allocated).toBeGreaterThan(expectedAlloc * 0.4);
      expect(allocated).toBeLessThan(expectedAlloc * 1.6);
      // The retained chunks were allocated before the baseline: not in the delta.
      expect(sumSamplesWhere(heap.decoded!.pprof, indexOf(second, 'heap', 'alloc_space'), (name) => name === 'main.retainHeap').matched).toBe(0);
      expect(profileOf(second, 'allocs').delta).toBe(true);

      // Mutex and block: deltas with the contending workers on their stacks.
      for (const [type, fn] of [
        ['mutex', 'main.mutexWorker'],
        ['block', 'main.blockConsumer'],
      ] as const) {
        const profile = profileOf(second, type);
        expect(profile.delta).toBe(true);
        expect(totalOf(second, type, 'contentions')).toBeGreaterThan(0);
        expect(totalOf(second, type, 'delay')).toBeGreaterThan(0);
        expect(sumSamplesWhere(profile.decoded!.pprof, indexOf(second, type, 'delay'), (name) => name === fn).matched).toBeGreaterThan(0);
        expect(Number(profile.window!.endNanos - profile.window!.startNanos) / 1e9).toBeGreaterThan(CPU_SECONDS * 0.9);
      }
      // The block producer ticks every 1 ms: ≈ 1000 blocking events per second, at least some hundreds per second here.
      expect(totalOf(second, 'block', 'contentions') / heapWindowSeconds).toBeGreaterThan(200);

      // MemStats, once per round: TotalAlloc grew by ≈ the allocation rate (exact counter, not sampled).
      expect(first.memStats && second.memStats).toBeTruthy();
      const seconds = Number(second.memStats!.readAtNanos - first.memStats!.readAtNanos) / 1e9;
      const rate = (second.memStats!.values.TotalAlloc! - first.memStats!.values.TotalAlloc!) / seconds / MiB;
      expect(rate).toBeGreaterThan(ALLOC_MIB_PER_SEC * 0.5);
      expect(rate).toBeLessThan(ALLOC_MIB_PER_SEC * 1.6);
      expect(second.memStats!.values.NumGC!).toBeGreaterThan(first.memStats!.values.NumGC!);
      expect(second.memStats!.values.HeapAlloc!).toBeGreaterThan(RETAIN_MIB * MiB);
      expect(second.memStats!.pauseNs).toHaveLength(256);

      // threadcreate: a snapshot.
      expect(totalOf(second, 'threadcreate', 'threadcreate')).toBeGreaterThan(2);
    } finally {
      await receiver.shutdown();
    }
  });

  it('a restarted target (same address, counters back near zero) starts a new baseline instead of negative deltas', async () => {
    const port = await freePort();
    let own = await startTarget(`127.0.0.1:${port}`);
    const { receiver, sink, registry } = pullPipeline({
      targets: [{ url: `http://127.0.0.1:${port}`, service: 'restart' }],
      enabled_types: ['heap', 'goroutine'],
      memstats: false,
      cpu_seconds: 1,
    });
    try {
      await receiver.scrapeOnce(); // baseline
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const [delta] = await receiver.scrapeOnce();
      expect(delta!.emitted.sort()).toEqual(['goroutine', 'heap']);
      await own.stop();
      own = await startTarget(`127.0.0.1:${port}`);
      const [afterRestart] = await receiver.scrapeOnce();
      expect(afterRestart!.resets).toEqual(['heap']);
      expect(afterRestart!.emitted).toEqual(['goroutine']);
      expect(registry.value('profcol_receiver_delta_resets_total', { type: 'heap' })).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const [next] = await receiver.scrapeOnce();
      expect(next!.emitted.sort()).toEqual(['goroutine', 'heap']);
      const heap = profileOf(sink.bundles.at(-1)!, 'heap');
      expect(heap.decoded!.totals.every((v) => v >= 0)).toBe(true);
      expect(totalOf(sink.bundles.at(-1)!, 'heap', 'inuse_space')).toBeGreaterThanOrEqual(RETAIN_MIB * MiB);
    } finally {
      await receiver.shutdown();
      await own.stop();
    }
  });

  it("the target's own exclusive CPU profiler: a second scraper's CPU request is refused (500) and reported, the rest of its round goes on", async () => {
    const a = pullPipeline({ targets: [{ url }], enabled_types: ['cpu'], memstats: false, cpu_seconds: 2 }, 'pprof/a');
    const b = pullPipeline({ targets: [{ url }], enabled_types: ['cpu', 'goroutine'], memstats: false, cpu_seconds: 1 }, 'pprof/b');
    try {
      const first = a.receiver.scrapeOnce();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const [refused] = await b.receiver.scrapeOnce();
      expect(refused!.outcome).toBe('partial');
      expect(refused!.failures).toEqual([
        {
          type: 'cpu',
          reason: 'http_status',
          message: expect.stringMatching(/returned HTTP 500: Could not enable CPU profiling: cpu profiling already in use/),
        },
      ]);
      expect(refused!.emitted).toEqual(['goroutine']);
      expect((await first)[0]!.outcome).toBe('success');
    } finally {
      await a.receiver.shutdown();
      await b.receiver.shutdown();
    }
  });
});
