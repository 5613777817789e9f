/**
 * The data that flows through a pipeline: batches of profile bundles and metric points.
 * Times are Unix nanoseconds as bigint, because Unix time in ns does not fit a double.
 */

/** One sample type of a pprof profile, e.g. `{ type: 'cpu', unit: 'nanoseconds' }`. */
export interface SampleType {
  type: string;
  unit: string;
}

/**
 * What `pprof_decode` attaches to a profile: the decompressed protobuf and the cheap
 * summary every metric needs. Later processors read this instead of decoding again.
 */
export interface ProfileSummary {
  /** The decompressed pprof protobuf. */
  pprof: Uint8Array;
  sampleTypes: SampleType[];
  /** For each entry of `sampleTypes`, the sum of that value over every sample. */
  totals: number[];
  sampleCount: number;
  timeNanos: bigint;
  durationNanos: bigint;
  periodType: SampleType | undefined;
  period: number;
  /** Per stack filter name: for each sample type, the sum over samples whose stack has a frame (inlined ones too) of a matching function. Only for filters asked for at decode time. */
  stackTotals?: Record<string, number[]>;
}

/** One profile of a bundle, as received. */
export interface Profile {
  /** The profile type: cpu, heap, allocs, goroutine, mutex, block, threadcreate, wall, space, ... */
  type: string;
  /** The name it arrived under (`delta-heap.pprof`, `/debug/pprof/heap`). */
  name: string;
  /** The bytes as received, possibly compressed. */
  data: Uint8Array;
  /** Set once a processor decoded it (decode once, share). */
  decoded?: ProfileSummary;
  /** True when `type`'s cumulative values were already turned into a per-window delta. */
  delta?: boolean;
  /**
   * The window this profile's values cover, when it differs from the bundle's (a pulled CPU
   * profile covers its `seconds`; a pulled delta covers the time between two scrapes).
   */
  window?: TimeWindow;
}

/** An attachment that is not a pprof profile (`go.trace`, `events.pprof` kept opaque). */
export interface Attachment {
  name: string;
  data: Uint8Array;
}

export interface TimeWindow {
  startNanos: bigint;
  endNanos: bigint;
}

/**
 * The profiles of one source over one time window: one dd-trace upload, or one scrape
 * round of one target.
 */
export interface ProfileBundle {
  /** The component id of the receiver that made it (`ddtrace`, `pprof/payments`). */
  source: string;
  /**
   * Who the profiles describe. Well-known keys: service, env, version, host, language
   * (golang, nodejs, ...), runtime, runtime_version, runtime_id, profile_seq, process_id,
   * and for pulled targets `instance` (the target URL).
   */
  resource: Record<string, string>;
  /** User tags (upload tags, configured tags). */
  tags: Record<string, string>;
  window: TimeWindow;
  profiles: Profile[];
  /** dd-trace-go's metrics.json, name → number. */
  runtimeMetrics?: Record<string, number>;
  /** The parsed `# runtime.MemStats` trailer of `/debug/pprof/heap?debug=1` (pull mode). */
  memStats?: MemStats;
  attachments?: Attachment[];
}

/** Numbers from Go's `runtime.MemStats`, as printed by `heap?debug=1`. */
export interface MemStats {
  /** When the trailer was read (Unix ns). */
  readAtNanos: bigint;
  values: Record<string, number>;
  /** The last 256 GC pause durations (ns), a ring indexed by `(NumGC+255) % 256` for the newest. */
  pauseNs: number[];
  /** When each of those pauses ended (Unix ns). */
  pauseEnd: bigint[];
}

export type MetricKind = 'gauge' | 'sum';

/**
 * How the values of a sum add up (OTLP `AggregationTemporality`). `cumulative`: each value is the
 * total since `startTimeNanos`, the start of the series (the same start on every point until the
 * series restarts). `delta`: each value is what was added between `startTimeNanos` and `timeNanos`.
 */
export type MetricTemporality = 'cumulative' | 'delta';

/** One value of one metric at one time. */
export interface MetricPoint {
  name: string;
  description?: string;
  /** UCUM unit (`By`, `ns`, `{cpu}`, `{goroutine}`, `1`). */
  unit: string;
  kind: MetricKind;
  /** For sums: whether the value only grows (an OpenTelemetry Counter; false for an UpDownCounter). */
  monotonic?: boolean;
  /** For sums: how values add up; absent means `cumulative` (what every consumer assumed before it existed). */
  temporality?: MetricTemporality;
  value: number;
  /** The time the value describes: the profile window's end, not the export time. */
  timeNanos: bigint;
  /**
   * The start of the window the value covers: for a gauge or a delta sum, that window's start; for
   * a cumulative sum, the start of the series (when accumulation began).
   */
  startTimeNanos?: bigint;
  attributes: Record<string, string>;
  /** Often one object shared by every point of a bundle: to change it, replace it; never edit it in place. */
  resource: Record<string, string>;
}

export interface Batch {
  bundles: ProfileBundle[];
  metrics: MetricPoint[];
}

export function emptyBatch(): Batch {
  return { bundles: [], metrics: [] };
}

/**
 * A copy a pipeline may change without affecting the other pipelines it fans out to.
 * Profile bytes and decoded forms are shared: processors add to them, never rewrite them.
 */
export function cloneBatch(batch: Batch): Batch {
  const copyOnce = resourceCopier();
  return {
    bundles: batch.bundles.map((bundle) => ({
      ...bundle,
      resource: { ...bundle.resource },
      tags: { ...bundle.tags },
      profiles: bundle.profiles.map((profile) => ({ ...profile })),
      ...(bundle.attachments ? { attachments: [...bundle.attachments] } : {}),
    })),
    metrics: batch.metrics.map((point) => ({ ...point, attributes: { ...point.attributes }, resource: copyOnce(point.resource) })),
  };
}

/** Points of one bundle share one resource object (exporters group by identity): keep it shared in the copy. */
function resourceCopier(): (resource: Record<string, string>) => Record<string, string> {
  const copies = new Map<Record<string, string>, Record<string, string>>();
  return (resource) => {
    let copy = copies.get(resource);
    if (!copy) copies.set(resource, (copy = { ...resource }));
    return copy;
  };
}

/** Nanoseconds since the Unix epoch, now. */
export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export function nanosToIso(nanos: bigint): string {
  const ms = nanos / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  const fraction = (nanos % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${fraction}Z`;
}

/** The length of a window in seconds. */
export function windowSeconds(window: TimeWindow): number {
  return Number(window.endNanos - window.startNanos) / 1e9;
}
