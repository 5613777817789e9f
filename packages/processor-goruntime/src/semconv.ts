/**
 * The Go runtime metrics of the OpenTelemetry semantic conventions (`model/go/metrics.yaml`,
 * semconv v1.41.0 and later; `@opentelemetry/semantic-conventions` 1.45.0 names them) that the
 * profiles and MemStats trailers can honestly give, with the instrument and unit the conventions
 * prescribe. Each comes from `prof_go_*` values already derived for the bundle (rates with the
 * span they cover) or, for `go.memory.used`, from the pulled MemStats trailer.
 */
import type { MemStats } from '@profcol/core';
import type { DerivedMetrics } from './derive.js';
import type { GoMetricName } from './metrics.js';

export const NAMINGS = ['prof_go', 'otel', 'both'] as const;
export type Naming = (typeof NAMINGS)[number];

/** Counter: only grows, sent as a monotonic sum. UpDownCounter: a current value, sent as a non-monotonic cumulative sum. */
export type Instrument = 'counter' | 'updowncounter';

export interface SemconvSpec {
  unit: string;
  instrument: Instrument;
  /** The convention's brief. */
  description: string;
}

export const SEMCONV_METRICS = {
  'go.goroutine.count': { unit: '{goroutine}', instrument: 'updowncounter', description: 'Count of live goroutines.' },
  'go.memory.used': { unit: 'By', instrument: 'updowncounter', description: 'Memory used by the Go runtime.' },
  'go.memory.allocated': { unit: 'By', instrument: 'counter', description: 'Memory allocated to the heap by the application.' },
  'go.memory.allocations': { unit: '{allocation}', instrument: 'counter', description: 'Count of allocations to the heap by the application.' },
  'go.memory.gc.cycles': { unit: '{gc_cycle}', instrument: 'counter', description: 'Number of completed GC cycles.' },
  'go.cpu.time': { unit: 's', instrument: 'counter', description: 'Estimated CPU time spent by the Go runtime.' },
} as const satisfies Record<string, SemconvSpec>;

export type SemconvName = keyof typeof SEMCONV_METRICS;

/**
 * The `prof_go_*` metrics a convention metric carries: under `naming: otel` they are not emitted
 * under their own names. The rest have no convention and keep their names under every naming.
 */
export const COVERED_BY_SEMCONV: Readonly<Partial<Record<GoMetricName, SemconvName>>> = {
  prof_go_num_goroutine: 'go.goroutine.count',
  prof_go_alloc_bytes_per_sec: 'go.memory.allocated',
  prof_go_alloc_bytes_total: 'go.memory.allocated',
  prof_go_allocs_per_sec: 'go.memory.allocations',
  prof_go_gcs_per_sec: 'go.memory.gc.cycles',
  prof_go_cpu_cores: 'go.cpu.time',
  prof_go_cpu_cores_gc_overhead: 'go.cpu.time',
};

/** One value of a convention metric for one bundle. */
export interface SemconvValue {
  name: SemconvName;
  /** The convention's attributes of this value (`go.cpu.state`, `go.memory.type`). */
  attributes: Record<string, string>;
  /** Counter: the amount added over the `seconds` before the bundle's end. UpDownCounter: the value at the bundle's end. */
  value: number;
  /** Counter only: the seconds the amount covers. */
  seconds?: number;
}

/**
 * The convention values of one bundle.
 *
 * - Counters are rate × the span the rate was measured over: contiguous spans (upload windows of
 *   one process, rounds of one target, the time between two MemStats trailers) add up to the
 *   program's own counter, so `rate()` of the sum is the rate the program had.
 * - `go.cpu.time` splits the CPU profile's time into `go.cpu.state` = `gc` (samples with a GC frame,
 *   as `prof_go_cpu_cores_gc_overhead`) and `user` (the rest: the program's code and the runtime's
 *   non-GC work, such as scheduling; the conventions' `scavenge` and `idle` are not told apart).
 * - `go.memory.used` only from a MemStats trailer (pull): `stack` = StackInuse
 *   (`/memory/classes/heap/stacks:bytes`), `other` = Sys − HeapReleased − StackInuse, as
 *   `go.opentelemetry.io/contrib/instrumentation/runtime` computes them from runtime/metrics
 *   (Sys is `/memory/classes/total:bytes`). A dd-trace-go upload carries none of these.
 */
export function semconvValues(derived: DerivedMetrics, memStats: MemStats | undefined): SemconvValue[] {
  const out: SemconvValue[] = [];
  const amount = (metric: GoMetricName): { value: number; seconds: number } | undefined => {
    const rate = derived.values.get(metric);
    const seconds = derived.spans.get(metric);
    return rate === undefined || seconds === undefined || !(seconds > 0) ? undefined : { value: rate * seconds, seconds };
  };
  const counter = (name: SemconvName, metric: GoMetricName): void => {
    const a = amount(metric);
    // A negative amount is not something a counter can add (a heap delta the receiver got wrong).
    if (a && a.value >= 0) out.push({ name, attributes: {}, value: a.value, seconds: a.seconds });
  };

  const goroutines = derived.values.get('prof_go_num_goroutine');
  if (goroutines !== undefined) out.push({ name: 'go.goroutine.count', attributes: {}, value: goroutines });

  const stack = memStats?.values['StackInuse'];
  const sys = memStats?.values['Sys'];
  const released = memStats?.values['HeapReleased'];
  if (stack !== undefined && sys !== undefined && released !== undefined) {
    out.push({ name: 'go.memory.used', attributes: { 'go.memory.type': 'stack' }, value: stack });
    out.push({ name: 'go.memory.used', attributes: { 'go.memory.type': 'other' }, value: sys - released - stack });
  }

  counter('go.memory.allocated', 'prof_go_alloc_bytes_per_sec');
  counter('go.memory.allocations', 'prof_go_allocs_per_sec');
  counter('go.memory.gc.cycles', 'prof_go_gcs_per_sec');

  const cpu = amount('prof_go_cpu_cores');
  const gc = amount('prof_go_cpu_cores_gc_overhead');
  if (cpu && gc) {
    out.push({ name: 'go.cpu.time', attributes: { 'go.cpu.state': 'user' }, value: Math.max(0, cpu.value - gc.value), seconds: cpu.seconds });
    out.push({ name: 'go.cpu.time', attributes: { 'go.cpu.state': 'gc' }, value: gc.value, seconds: gc.seconds });
  }
  return out;
}
