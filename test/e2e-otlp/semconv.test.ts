/**
 * `goruntime` with `naming: otel`, end to end: the real `profcol run` scrapes test/go/pprof-target
 * (pull, every 10 s) and exports the semantic-convention Go metrics to a real OpenTelemetry
 * Collector and to real VictoriaMetrics (with Prometheus naming, as a Prometheus user queries
 * them). The counters must be cumulative monotonic sums whose `rate()` in VictoriaMetrics is the
 * rate the program really has, and whose totals are exactly what its MemStats counters grew by.
 *
 * Ground truth: the target's own counter of the bytes its allocWorker allocated
 * (`/debug/target` `alloc_bytes_total`, read before and after), its `-spin 1` core, and the
 * MemStats trailers profcol read (bundles.jsonl of the file exporter beside the OTLP ones).
 * Round 1 is a MemStats baseline; 5 rounds take ≈45 s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startOtelCollector, startVictoriaMetrics } from '../backends/index.js';
import { startProfcol } from '../lib/profcol.js';
import { buildGoProgram, startGoProgram, type PprofTargetReady } from '../setup/go-build.js';
import { until, useBackend } from './helpers.js';

const collectorBackend = useBackend('otelcol');
const vmBackend = useBackend('victoriametrics');
const MiB = 1024 * 1024;
const ROUNDS = 5;

interface TargetCounters {
  alloc_bytes_total: number;
  num_gc: number;
}
interface BundleLine {
  window: { endNanos: string };
  memStats?: { readAt: string; values: Record<string, number> };
}

async function readTarget(addr: string, pid: number): Promise<{ atMs: number; counters: TargetCounters; cpuSeconds: number }> {
  const response = await fetch(`http://${addr}/debug/target`);
  // utime + stime of /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux): what the kernel charged the target.
  const fields = fs
    .readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100;
  return { atMs: Date.now(), counters: (await response.json()) as TargetCounters, cpuSeconds };
}

function readBundles(data: string): BundleLine[] {
  const file = path.join(data, 'bundles.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as BundleLine);
}

function within(value: number, low: number, high: number, what: string): void {
  expect(value, `${what} = ${value}, expected within [${low}, ${high}]`).toBeGreaterThanOrEqual(low);
  expect(value, `${what} = ${value}, expected within [${low}, ${high}]`).toBeLessThanOrEqual(high);
}

describe('goruntime naming: otel → real Collector and VictoriaMetrics', () => {
  it('pull: the counters are cumulative sums whose rate() is what the program does, and their totals what its MemStats counters grew by', async (ctx) => {
    collectorBackend.need(ctx);
    vmBackend.need(ctx);
    const cleanup = vmBackend.cleanup;
    const vm = await startVictoriaMetrics({ usePrometheusNaming: true });
    cleanup.push(() => vm.stop());
    const col = await startOtelCollector();
    cleanup.push(() => col.stop());
    const target = await startGoProgram<PprofTargetReady>(await buildGoProgram('pprof-target'), [
      '-addr',
      '127.0.0.1:0',
      '-spin',
      '1',
      '-parked',
      '20',
      '-alloc-mib-per-sec',
      '20',
      '-mutex=false',
      '-block=false',
    ]);
    cleanup.push(() => target.stop());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-e2e-semconv-'));
    cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const data = path.join(dir, 'data');
    fs.writeFileSync(
      path.join(dir, 'profcol.yaml'),
      `receivers:
  pprof:
    interval: 10s
    cpu_seconds: 3
    jitter: 0s
    targets:
      - url: http://${target.ready.addr}
        service: semconv-target
        env: e2e
processors:
  pprof_decode: {}
  goruntime:
    naming: otel
exporters:
  otlp/vm:
    endpoint: ${vm.otlpEndpoint}
  otlp/collector:
    endpoint: ${col.otlpHttpEndpoint}
  file:
    directory: ${data}
service:
  pipelines:
    go:
      receivers: [pprof]
      processors: [pprof_decode, goruntime]
      exporters: [otlp/vm, otlp/collector, file]
`,
    );

    const before = await readTarget(target.ready.addr, target.ready.pid);
    const profcol = await startProfcol(['profcol.yaml'], { cwd: dir });
    cleanup.push(() => profcol.stop('SIGTERM'));
    await until(() => readBundles(data).length >= ROUNDS, 90_000, `${ROUNDS} scrape rounds`);
    const after = await readTarget(target.ready.addr, target.ready.pid);
    expect(await profcol.stop('SIGTERM'), 'profcol exit code').toBe(0); // flushes both exporters
    const bundles = readBundles(data);
    const trailers = bundles.map((b) => b.memStats!).filter(Boolean);
    expect(trailers.length).toBe(bundles.length);
    const programRate = (after.counters.alloc_bytes_total - before.counters.alloc_bytes_total) / ((after.atMs - before.atMs) / 1000);
    console.log(`allocWorker: ${(programRate / MiB).toFixed(2)} MiB/s over ${((after.atMs - before.atMs) / 1000).toFixed(1)} s; ${bundles.length} rounds`);

    // --- VictoriaMetrics, under Prometheus naming -------------------------------------------
    const series = await vm.waitForSeries(
      '{__name__=~"go_.*"}',
      (s) => s.some((x) => x.metric['__name__'] === 'go_memory_allocated_bytes_total' && x.values.length >= ROUNDS - 1),
      20_000,
    );
    const names = [...new Set(series.map((s) => s.metric['__name__']))].sort();
    console.log(`VictoriaMetrics series: ${names.join(', ')}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'go_cpu_time_seconds_total',
        'go_goroutine_count',
        'go_memory_allocated_bytes_total',
        'go_memory_allocations_total',
        'go_memory_gc_cycles_total',
        'go_memory_used_bytes',
      ]),
    );
    expect(names.some((name) => name.startsWith('prof_go_alloc') || name.startsWith('prof_go_cpu_cores'))).toBe(false);

    // The stored totals are exactly the running sums of ΔTotalAlloc between the trailers.
    const allocated = series.find((s) => s.metric['__name__'] === 'go_memory_allocated_bytes_total')!;
    const expectedTotals = trailers.slice(1).map((t) => t.values['TotalAlloc']! - trailers[0]!.values['TotalAlloc']!);
    expect(allocated.values.length).toBe(expectedTotals.length);
    allocated.values.forEach((value, i) => expect(value, `total after round ${i + 2}`).toBeCloseTo(expectedTotals[i]!, 0));

    // rate() over the last 3 rounds, as a dashboard asks: the program's allocation rate. MemStats also
    // counts what serving the scrapes allocates in the target (measured 1.02–1.03× in e2e-metrics).
    const at = allocated.timestamps.at(-1)! / 1000;
    const [rate] = await vm.query('rate(go_memory_allocated_bytes_total[35s])', { time: at });
    console.log(
      `rate(go_memory_allocated_bytes_total[35s]) = ${(Number(rate!.value[1]) / MiB).toFixed(3)} MiB/s (${(Number(rate!.value[1]) / programRate).toFixed(4)}× the allocWorker's own count)`,
    );
    within(Number(rate!.value[1]) / programRate, 0.97, 1.15, 'rate(go_memory_allocated_bytes_total) ÷ the allocWorker rate');

    // go.cpu.time: the kernel's CPU time of the target over the run, in cores. -spin 1 keeps a goroutine
    // busy, but on a loaded machine it gets well under a core, so the kernel's figure is the truth. The
    // CPU profile samples 3 s of each 10 s round and stands for the round: ±30 % for a load that varies.
    const kernelCores = (after.cpuSeconds - before.cpuSeconds) / ((after.atMs - before.atMs) / 1000);
    const cores = await vm.query('sum(rate(go_cpu_time_seconds_total[35s]))', { time: at });
    console.log(
      `sum(rate(go_cpu_time_seconds_total[35s])) = ${Number(cores[0]!.value[1]).toFixed(4)} cores; the kernel charged the target ${kernelCores.toFixed(4)} cores over the run`,
    );
    within(Number(cores[0]!.value[1]) / kernelCores, 0.7, 1.3, "sum(rate(go_cpu_time_seconds_total)) ÷ the kernel's cores");
    const states = await vm.query('sum by (go_cpu_state) (rate(go_cpu_time_seconds_total[35s]))', { time: at });
    expect(states.map((s) => s.metric['go_cpu_state']).sort()).toEqual(['gc', 'user']);

    // GC cycles: the total is what NumGC grew by since the baseline trailer.
    const [cycles] = await vm.query('go_memory_gc_cycles_total', { time: at });
    expect(Number(cycles!.value[1])).toBe(trailers.at(-1)!.values['NumGC']! - trailers[0]!.values['NumGC']!);
    // UpDownCounters arrive as gauges; the goroutine count is the target's (+ the scrape's own connection).
    const [goroutines] = await vm.query('go_goroutine_count', { time: at });
    within(Number(goroutines!.value[1]), target.ready.expected_goroutines + 1, target.ready.expected_goroutines + 4, 'go_goroutine_count');
    const used = await vm.query('go_memory_used_bytes', { time: at });
    expect(Object.fromEntries(used.map((s) => [s.metric['go_memory_type'], Number(s.value[1])]))).toEqual({
      stack: trailers.at(-1)!.values['StackInuse'],
      other: trailers.at(-1)!.values['Sys']! - trailers.at(-1)!.values['HeapReleased']! - trailers.at(-1)!.values['StackInuse']!,
    });

    // --- The Collector: what was on the wire ----------------------------------------------
    const points = await col.waitForPoints((p) => p.filter((x) => x.name === 'go.memory.allocated').length >= ROUNDS - 1, 20_000);
    const wire = (name: string) => points.filter((p) => p.name === name);
    for (const name of ['go.memory.allocated', 'go.memory.allocations', 'go.memory.gc.cycles', 'go.cpu.time']) {
      for (const p of wire(name)) expect(p, name).toMatchObject({ type: 'sum', isMonotonic: true, aggregationTemporality: 2 });
    }
    for (const name of ['go.goroutine.count', 'go.memory.used']) {
      for (const p of wire(name))
        expect({ type: p.type, monotonic: p.isMonotonic ?? false, temporality: p.aggregationTemporality }, name).toEqual({
          type: 'sum',
          monotonic: false,
          temporality: 2,
        });
    }
    expect(
      Object.fromEntries(
        ['go.memory.allocated', 'go.memory.allocations', 'go.memory.gc.cycles', 'go.cpu.time', 'go.goroutine.count', 'go.memory.used'].map((n) => [
          n,
          wire(n)[0]!.unit,
        ]),
      ),
    ).toEqual({
      'go.memory.allocated': 'By',
      'go.memory.allocations': '{allocation}',
      'go.memory.gc.cycles': '{gc_cycle}',
      'go.cpu.time': 's',
      'go.goroutine.count': '{goroutine}',
      'go.memory.used': 'By',
    });
    // One series, one start time: the baseline trailer's read, before every point's time.
    const starts = new Set(wire('go.memory.allocated').map((p) => p.startTimeUnixNano));
    expect(starts.size).toBe(1);
    for (const p of wire('go.memory.allocated')) expect(BigInt(p.timeUnixNano!)).toBeGreaterThan(BigInt([...starts][0]!));
  });
});
