/**
 * Helpers of the prof_go_* end-to-end tests: run the real `profcol run` on a temporary YAML
 * config, read what the `file` exporter wrote (metrics.jsonl, bundles.jsonl, the .pprof files),
 * and check values against bounds with messages that say what was measured.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decompressAndSummarize, sumSamplesWhere } from '@profcol/pprof';
import { expect } from 'vitest';
import { startProfcol, type RunningProfcol } from '../lib/profcol.js';
import type { MetricRecord } from '@profcol/exporter-file';

export const MiB = 1024 * 1024;

/**
 * For the beforeAll hooks that build the Go programs and run the pipeline: a cold Go build takes
 * minutes (test/setup/README.md), a cached one milliseconds. As test/vitest.config.ts's
 * hookTimeout, stated here so that the files also work under another config.
 */
export const BUILD_AND_RUN_TIMEOUT_MS = 20 * 60_000;

/** The 15 metrics and their UCUM units, as packages/processor-goruntime/README.md documents them. */
export const GO_METRIC_UNITS: Record<string, string> = {
  prof_go_cpu_cores: '{cpu}',
  prof_go_cpu_cores_gc_overhead: '{cpu}',
  prof_go_alloc_bytes_per_sec: 'By/s',
  prof_go_frees_per_sec: '{object}/s',
  prof_go_heap_growth_bytes_per_sec: 'By/s',
  prof_go_allocs_per_sec: '{object}/s',
  prof_go_alloc_bytes_total: 'By',
  prof_go_blocked_time: 'ns',
  prof_go_mutex_delay_time: 'ns',
  prof_go_gcs_per_sec: '{gc}/s',
  prof_go_max_gc_pause_time: 'ns',
  prof_go_gc_pause_time: 'ns',
  prof_go_num_goroutine: '{goroutine}',
  prof_go_lifetime_heap_bytes: 'By',
  prof_go_lifetime_heap_objects: '{object}',
};
export const ALL_15 = Object.keys(GO_METRIC_UNITS).sort();

/** Upload tags and resource keys that must never reach a point (one series per process or upload). */
export const HIGH_CARDINALITY = ['runtime_id', 'runtime-id', 'profile_seq', 'process_id', 'pid'];

/** One line of metrics.jsonl, as the file exporter writes it. */
export type Point = MetricRecord;

/** One line of bundles.jsonl. */
export interface BundleLine {
  source: string;
  resource: Record<string, string>;
  tags: Record<string, string>;
  window: { start: string; end: string; startNanos: string; endNanos: string };
  profiles: { type: string; name: string; delta?: boolean; path: string; encoding: string }[];
  runtimeMetrics?: Record<string, number>;
}

function readJsonLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

export function readMetrics(dir: string): Point[] {
  return readJsonLines<Point>(path.join(dir, 'metrics.jsonl'));
}

export function readBundles(dir: string): BundleLine[] {
  return readJsonLines<BundleLine>(path.join(dir, 'bundles.jsonl'));
}

/**
 * The points of one bundle (one upload or one scrape round): its points carry its window
 * (`startTimeNanos`..`timeNanos`) and its service. Keyed by metric name; a name appearing twice
 * is an error.
 */
export interface Round {
  bundle: BundleLine;
  points: Map<string, Point>;
  /** Window length in seconds. */
  seconds: number;
  /** The value of a metric of this round (fails the test when it is missing or null). */
  value(name: string): number;
}

/** Groups the points by the bundle they came from, in window order, for bundles matching `where`. */
export function rounds(dir: string, where: (bundle: BundleLine) => boolean = () => true): Round[] {
  const points = readMetrics(dir);
  return readBundles(dir)
    .filter(where)
    .sort((a, b) => (BigInt(a.window.endNanos) < BigInt(b.window.endNanos) ? -1 : 1))
    .map((bundle) => {
      const mine = points.filter(
        (p) => p.timeNanos === bundle.window.endNanos && p.startTimeNanos === bundle.window.startNanos && p.resource.service === bundle.resource.service,
      );
      const byName = new Map<string, Point>();
      for (const point of mine) {
        expect(byName.has(point.name), `${point.name} appears twice for the bundle ending ${bundle.window.end}`).toBe(false);
        byName.set(point.name, point);
      }
      const label = `${bundle.resource.service} ${bundle.window.start}..${bundle.window.end}`;
      return {
        bundle,
        points: byName,
        seconds: Number(BigInt(bundle.window.endNanos) - BigInt(bundle.window.startNanos)) / 1e9,
        value(name: string): number {
          const point = byName.get(name);
          if (!point) throw new Error(`${name} is missing for ${label} (has ${[...byName.keys()].join(', ')})`);
          if (typeof point.value !== 'number') throw new Error(`${name} is ${String(point.value)} for ${label}`);
          return point.value;
        },
      };
    });
}

/** Asserts lo ≤ value ≤ hi with a message naming the value and the bound. */
export function expectWithin(value: number, lo: number, hi: number, what: string): void {
  const message = `${what} = ${value}, expected within [${lo}, ${hi}]`;
  expect(value, message).toBeGreaterThanOrEqual(lo);
  expect(value, message).toBeLessThanOrEqual(hi);
}

/** Polls `check` (which throws or returns false while not ready) until it passes. */
export async function waitUntil(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export interface Pipeline {
  /** The temporary folder profcol runs in. */
  dir: string;
  /** The file exporter's directory. */
  data: string;
  profcol: RunningProfcol;
  /** Stops profcol (SIGTERM) and returns its exit code; idempotent. */
  stop(): Promise<number | null>;
  /** Removes the temporary folder unless PROFCOL_KEEP_TMP is set. */
  cleanup(): void;
}

/**
 * Writes `receivers` (YAML, already indented by two spaces) into a config with
 * processors [pprof_decode, goruntime] and the file exporter, and starts `profcol run` on it.
 */
export async function startMetricsPipeline(name: string, receiversYaml: string, receiverIds: string[], options: { node?: string } = {}): Promise<Pipeline> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `profcol-metrics-${name}-`));
  const data = path.join(dir, 'data');
  fs.writeFileSync(
    path.join(dir, 'profcol.yaml'),
    `receivers:
${receiversYaml}
processors:
  pprof_decode: {}
  goruntime: {}
exporters:
  file:
    directory: ${data}
service:
  pipelines:
    go:
      receivers: [${receiverIds.join(', ')}]
      processors: [pprof_decode, goruntime]
      exporters: [file]
`,
  );
  const profcol = await startProfcol(['profcol.yaml'], { cwd: dir, node: options.node });
  let stopped: Promise<number | null> | undefined;
  return {
    dir,
    data,
    profcol,
    stop: () => (stopped ??= profcol.stop('SIGTERM')),
    cleanup: () => {
      if (!process.env['PROFCOL_KEEP_TMP']) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A profile file the file exporter wrote, decoded. */
export function writtenProfile(data: string, bundle: BundleLine, type: string) {
  const profile = bundle.profiles.find((p) => p.type === type);
  if (!profile) throw new Error(`bundle ${bundle.window.end} has no ${type} profile`);
  return decompressAndSummarize(new Uint8Array(fs.readFileSync(path.join(data, profile.path))));
}

/** Σ of one sample type over the samples whose stack has a function matching `matches`. */
export function sumWhere(profile: ReturnType<typeof decompressAndSummarize>, sampleType: string, matches: (fn: string) => boolean): number {
  const index = profile.sampleTypes.findIndex((t) => t.type === sampleType);
  if (index < 0) throw new Error(`no sample type ${sampleType} (has ${profile.sampleTypes.map((t) => t.type).join(', ')})`);
  return sumSamplesWhere(profile.pprof, index, matches).matched;
}

/** The total of one sample type of a decoded profile. */
export function totalOf(profile: ReturnType<typeof decompressAndSummarize>, sampleType: string): number {
  const index = profile.sampleTypes.findIndex((t) => t.type === sampleType);
  if (index < 0) throw new Error(`no sample type ${sampleType}`);
  return profile.totals[index]!;
}

/**
 * The CPU time the kernel charged to a process (user + system, /proc/<pid>/stat), sampled every
 * 50 ms with the wall clock, so that the CPU cores it really used over any span can be compared
 * with what its CPU profile says. Linux only.
 */
export class CpuSampler {
  private readonly samples: { atNanos: number; cpuSeconds: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly ticksPerSecond: number;

  constructor(private readonly pid: number) {
    const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
    this.ticksPerSecond = Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
    this.sample();
    this.timer = setInterval(() => this.sample(), 50);
  }

  private sample(): void {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    } catch {
      return; // exited
    }
    // Fields after the command name (which may hold spaces and parentheses): state is field 3,
    // utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / this.ticksPerSecond;
    this.samples.push({ atNanos: (performance.timeOrigin + performance.now()) * 1e6, cpuSeconds });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** CPU seconds used by `atNanos` (Unix ns), interpolated between the samples around it. */
  private cpuAt(atNanos: number): number | undefined {
    const after = this.samples.findIndex((s) => s.atNanos >= atNanos);
    if (after <= 0) return undefined; // before the first sample or after the last
    const a = this.samples[after - 1]!;
    const b = this.samples[after]!;
    return a.cpuSeconds + ((b.cpuSeconds - a.cpuSeconds) * (atNanos - a.atNanos)) / (b.atNanos - a.atNanos);
  }

  /** The cores the process used between two Unix times in ns; undefined outside the sampled span. */
  coresBetween(startNanos: number, endNanos: number): number | undefined {
    const start = this.cpuAt(startNanos);
    const end = this.cpuAt(endNanos);
    return start === undefined || end === undefined ? undefined : (end - start) / ((endNanos - startNanos) / 1e9);
  }
}

/**
 * The kernel's view of the cores a process used over the span of a CPU profile the file
 * exporter wrote ([TimeNanos, TimeNanos + DurationNanos]), and that span in seconds.
 */
export function kernelCoresOverCpuProfile(sampler: CpuSampler, data: string, bundle: BundleLine): { cores: number; seconds: number } | undefined {
  const cpu = writtenProfile(data, bundle, 'cpu');
  const start = Number(cpu.timeNanos);
  const seconds = Number(cpu.durationNanos) / 1e9;
  const cores = sampler.coresBetween(start, start + seconds * 1e9);
  return cores === undefined ? undefined : { cores, seconds };
}

/**
 * The CPU profiler (setitimer/timer_create at 100 Hz) against the kernel's accounting, sampled
 * every 50 ms at 10 ms ticks and interpolated: both are estimates of the same thing. ±10 %, and
 * ±0.03 core for the tick and sampling granularity over a 2–5 s span.
 */
export function expectSameCores(metric: number, kernel: number, what: string): void {
  expectWithin(metric, kernel * 0.9 - 0.03, kernel * 1.1 + 0.03, `${what} (the kernel says ${kernel.toFixed(4)} cores)`);
}

/** Checks what every point of a round must satisfy: unit, gauge, finite value, window, attributes. */
export function expectWellFormed(round: Round, attributes: Record<string, string>): void {
  for (const [name, point] of round.points) {
    expect(point.unit, `unit of ${name}`).toBe(GO_METRIC_UNITS[name]);
    expect(point.kind, name).toBe('gauge');
    expect(Number.isFinite(point.value), `${name} = ${String(point.value)}`).toBe(true);
    // Stamped with the window of the bundle it was derived from (upload or scrape round).
    expect(point.timeNanos).toBe(round.bundle.window.endNanos);
    expect(point.startTimeNanos).toBe(round.bundle.window.startNanos);
    expect(point.time).toBe(round.bundle.window.end);
    expect(point.attributes, name).toMatchObject(attributes);
    for (const key of HIGH_CARDINALITY) {
      expect(point.attributes, `${name} attributes`).not.toHaveProperty(key);
      expect(point.resource, `${name} resource`).not.toHaveProperty(key);
    }
  }
}

/** One line per round with every metric's value, for the test log. */
export function describeRounds(label: string, list: Round[]): string {
  const short = (v: number) => (Math.abs(v) >= 1000 ? v.toExponential(3) : Number(v.toPrecision(4)).toString());
  return list
    .map(
      (round, i) =>
        `${label} #${i + 1} (${round.seconds.toFixed(2)} s): ${[...round.points.values()].map((p) => `${p.name.replace(/^prof_go_/, '')}=${short(p.value ?? NaN)}`).join(' ')}`,
    )
    .join('\n');
}
