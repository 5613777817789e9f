import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Batch, MemStats, Profile, ProfileBundle, ServiceLimits } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { Function as PprofFunction, Line, Location, Profile as PprofProfile, Sample, StringTable, ValueType } from 'pprof-format';
import { createGoRuntimeProcessor, GoRuntimeConfig, type GoRuntimeOptions } from '../src/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures');

export function fixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, path)));
}

/** A fixed upload window: 2024-01-01T00:00:00Z plus `seconds`. */
export const WINDOW_START = 1_704_067_200_000_000_000n;
export function windowOf(seconds: number, start = WINDOW_START) {
  return { startNanos: start, endNanos: start + BigInt(Math.round(seconds * 1e9)) };
}

/** metrics.json as dd-trace-go sends it: `[[name, value], ...]`. */
export function runtimeMetricsFixture(): Record<string, number> {
  const pairs = JSON.parse(readFileSync(join(FIXTURES, 'ddtrace-go/metrics.json'), 'utf8')) as [string, number][];
  return Object.fromEntries(pairs);
}

/** The dd-trace-go upload of test/fixtures/ddtrace-go as the ddtrace receiver hands it on, window exactly 60 s. */
export function ddtraceGoBundle(options: { metricsJson?: boolean; seconds?: number } = {}): ProfileBundle {
  const profile = (name: string, type: string): Profile => ({ type, name, data: fixture(`ddtrace-go/${name}`) });
  return {
    source: 'ddtrace',
    resource: {
      service: 'checkout',
      env: 'prod',
      version: '1.4.2',
      host: 'web-1',
      language: 'golang',
      runtime: 'go',
      runtime_version: 'go1.21.5',
      runtime_id: '7f3a2b9c-1111-2222-3333-444455556666',
      profile_seq: '12',
      process_id: '4242',
    },
    tags: { team: 'payments', 'runtime-id': '7f3a2b9c-1111-2222-3333-444455556666', profile_seq: '12' },
    window: windowOf(options.seconds ?? 60),
    profiles: [
      profile('cpu.pprof', 'cpu'),
      profile('delta-heap.pprof', 'heap'),
      profile('delta-block.pprof', 'block'),
      profile('delta-mutex.pprof', 'mutex'),
      profile('goroutines.pprof', 'goroutine'),
    ],
    ...(options.metricsJson === false ? {} : { runtimeMetrics: runtimeMetricsFixture() }),
  };
}

export function makeProcessor(config: Record<string, unknown> = {}, options: GoRuntimeOptions = {}, limits?: ServiceLimits) {
  const parsed = GoRuntimeConfig.parse(config);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const settings = createTestSettings({ id: 'goruntime', kind: 'processor', ...(limits ? { limits } : {}) });
  const processor = createGoRuntimeProcessor(settings, parsed.value, options);
  return {
    settings,
    processor,
    async run(...bundles: ProfileBundle[]): Promise<Batch> {
      return processor.process({ bundles, metrics: [] });
    },
    /** The value of each point of one batch, by metric name. */
    async values(...bundles: ProfileBundle[]): Promise<Record<string, number>> {
      const batch = await processor.process({ bundles, metrics: [] });
      return Object.fromEntries(batch.metrics.map((p) => [p.name, p.value]));
    },
    omitted(metric: string, reason: string): number {
      return settings.registry.value('profcol_processor_omitted_metrics_total', { metric, reason });
    },
  };
}

/** One frame is a function name; an array of names is one location with inlined frames (leaf first). */
export type Frame = string | string[];
export interface CraftedSample {
  /** Leaf first, as pprof stores stacks. */
  stack: Frame[];
  values: number[];
}

/** A pprof protobuf built with pprof-format, for stacks a test needs to control. */
export function craftProfile(
  sampleTypes: [string, string][],
  samples: CraftedSample[],
  extra: { periodType?: [string, string]; period?: number } = {},
): Uint8Array {
  const strings = new StringTable();
  const functions = new Map<string, PprofFunction>();
  const locations = new Map<string, Location>();
  const functionOf = (name: string): PprofFunction => {
    let fn = functions.get(name);
    if (!fn) {
      fn = new PprofFunction({ id: functions.size + 1, name: strings.dedup(name), systemName: strings.dedup(name) });
      functions.set(name, fn);
    }
    return fn;
  };
  const locationOf = (frame: Frame): Location => {
    const names = typeof frame === 'string' ? [frame] : frame;
    const key = names.join('\n');
    let location = locations.get(key);
    if (!location) {
      location = new Location({ id: locations.size + 1, line: names.map((name) => new Line({ functionId: functionOf(name).id, line: 1 })) });
      locations.set(key, location);
    }
    return location;
  };
  const sample = samples.map((s) => new Sample({ locationId: s.stack.map((frame) => locationOf(frame).id), value: s.values }));
  const profile = new PprofProfile({
    sampleType: sampleTypes.map(([type, unit]) => new ValueType({ type: strings.dedup(type), unit: strings.dedup(unit) })),
    sample,
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
    timeNanos: WINDOW_START,
    ...(extra.periodType
      ? { periodType: new ValueType({ type: strings.dedup(extra.periodType[0]), unit: strings.dedup(extra.periodType[1]) }), period: extra.period ?? 0 }
      : {}),
  });
  return profile.encode();
}

/** A Go CPU profile (samples/count, cpu/nanoseconds at 100 Hz) with `count` samples of each stack. */
export function cpuProfile(stacks: { stack: Frame[]; count: number }[]): Uint8Array {
  return craftProfile(
    [
      ['samples', 'count'],
      ['cpu', 'nanoseconds'],
    ],
    stacks.map(({ stack, count }) => ({ stack, values: [count, count * 10_000_000] })),
    { periodType: ['cpu', 'nanoseconds'], period: 10_000_000 },
  );
}

/** A bundle as the pull receiver makes it for one scrape round of one target. */
export function pullBundle(options: { instance?: string; round?: number; profiles?: Profile[]; memStats?: MemStats; seconds?: number } = {}): ProfileBundle {
  const round = options.round ?? 0;
  const start = WINDOW_START + BigInt(round) * 10_000_000_000n;
  return {
    source: 'pprof/payments',
    resource: { service: 'payments', env: 'staging', host: 'pay-1', language: 'golang', instance: options.instance ?? 'http://pay-1:6060' },
    tags: {},
    window: windowOf(options.seconds ?? 10, start),
    profiles: options.profiles ?? [],
    ...(options.memStats ? { memStats: options.memStats } : {}),
  };
}

/** A `# runtime.MemStats` trailer: counters as given, pause ring filled from `pauses` (GC number → ns). */
export function memStats(readAtSeconds: number, values: Record<string, number>, pauses: Record<number, number> = {}): MemStats {
  const readAtNanos = WINDOW_START + BigInt(Math.round(readAtSeconds * 1e9));
  const pauseNs = new Array<number>(256).fill(0);
  const pauseEnd = new Array<bigint>(256).fill(0n);
  for (const [gc, ns] of Object.entries(pauses)) {
    const index = (Number(gc) - 1) % 256;
    pauseNs[index] = ns;
    // Each GC ended shortly before the trailer was read, in GC order.
    pauseEnd[index] = readAtNanos - BigInt(1000 - (Number(gc) % 1000)) * 1_000_000n;
  }
  return { readAtNanos, values, pauseNs, pauseEnd };
}
