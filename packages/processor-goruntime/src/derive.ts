/**
 * The arithmetic of the `prof_go_*` metrics: one Go profile bundle in, up to 15 values out.
 * Per metric the sources are tried in a fixed order (README, "Where each value comes from"):
 * dd-trace-go's metrics.json first, then two MemStats trailers of a pulled target, then the
 * profiles. Only profile totals are read, plus the GC-frame sums of the CPU profile (made in
 * the decoder's summary pass when it was given `GC_STACK_FILTER`, else one walk over its stacks).
 */
import { windowSeconds, type ProfileSummary, type Profile, type ProfileBundle, type TimeWindow } from '@profcol/core';
import { GC_STACK_FILTER, sumSamplesWhere } from '@profcol/pprof';
import { isDefaultGcFrameMatcher } from './gc-frames.js';
import type { MemStatsOutcome } from './memstats.js';
import type { GoMetricName } from './metrics.js';

export type OmitReason =
  | 'no_cpu_profile'
  | 'no_heap_profile'
  | 'no_block_profile'
  | 'no_mutex_profile'
  | 'no_goroutine_profile'
  | 'no_sample_type'
  | 'cumulative_profile'
  | 'negative_delta'
  | 'empty_window'
  | 'no_source'
  | 'memstats_baseline'
  | 'memstats_restart'
  | 'memstats_out_of_order';

export interface DeriveOptions {
  /** The metrics to compute; the others are neither computed nor reported as omitted. */
  enabled: ReadonlySet<GoMetricName>;
  /** True for function names that mark a CPU sample as garbage collection. */
  isGcFrame: (functionName: string) => boolean;
  /** What the bundle's MemStats trailer gave against the target's previous one (pull mode). */
  memStats?: MemStatsOutcome | undefined;
  /** The decoded form of a profile, decoding it on first use; undefined when it cannot be decoded. */
  decode: (profile: Profile) => ProfileSummary | undefined;
}

export interface DerivedMetrics {
  values: Map<GoMetricName, number>;
  /**
   * For each rate (`*_per_sec`, the CPU cores): the seconds it was measured over, so that rate ×
   * seconds is the amount in that span (what a counter adds). Contiguous spans tile time: the
   * upload windows of one process, the rounds of one target, the time between two MemStats trailers.
   */
  spans: Map<GoMetricName, number>;
  omitted: { metric: GoMetricName; reason: OmitReason }[];
}

const TIME_UNIT_NANOS: Record<string, number> = { nanoseconds: 1, microseconds: 1e3, milliseconds: 1e6, seconds: 1e9 };

/** The multiplier that turns a sample type's unit into nanoseconds, when it is a time. */
function nanosPer(unit: string): number | undefined {
  return TIME_UNIT_NANOS[unit.toLowerCase()];
}

function windowNanos(window: TimeWindow): number {
  return Number(window.endNanos - window.startNanos);
}

/**
 * The wall time the CPU profile covers: its own window when the receiver set one (a pulled
 * `profile?seconds=N`); else its `duration_nanos` when that is shorter than the bundle's window
 * (dd-trace-go with `CPUDuration` below its period profiles only part of the upload window);
 * else the bundle's window. A duration longer than the window (a profile stopped a little after
 * the window's end) leaves the window, so the reference values of a full-period upload stay.
 */
function cpuWindowNanos(profile: Profile, decoded: ProfileSummary | undefined, bundleWindowNs: number): number {
  if (profile.window) return windowNanos(profile.window);
  const own = decoded ? Number(decoded.durationNanos) : 0;
  return own > 0 && own < bundleWindowNs ? own : bundleWindowNs;
}

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1).toLowerCase();
}

/**
 * Whether a profile's counting values cover one window. The pull receiver marks the deltas it
 * made; dd-trace-go names its per-cycle attachments `delta-*.pprof` and godeltaprof serves
 * `/debug/pprof/delta_*`. An explicit `delta: false` wins over the name.
 */
export function isDeltaProfile(profile: Profile): boolean {
  return profile.delta ?? /^delta[-_]/.test(baseName(profile.name));
}

/**
 * The first profile of one of `types`. dd-trace-go also uploads `goroutineswait.pprof`; a
 * receiver that types it as a goroutine profile must not have it counted, so names with `wait`
 * come last.
 */
function pickProfile(bundle: ProfileBundle, types: readonly string[]): Profile | undefined {
  const candidates = bundle.profiles.filter((p) => types.includes(p.type.toLowerCase()));
  return candidates.find((p) => !baseName(p.name).includes('wait')) ?? candidates[0];
}

function sampleTypeIndex(decoded: ProfileSummary, types: readonly string[]): number {
  return decoded.sampleTypes.findIndex((t) => types.includes(t.type));
}

function finiteOf(record: Record<string, number> | undefined, key: string): number | undefined {
  const value = record?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

const MEMSTATS_PROBLEM: Record<MemStatsOutcome['kind'], OmitReason> = {
  delta: 'empty_window',
  baseline: 'memstats_baseline',
  restart: 'memstats_restart',
  out_of_order: 'memstats_out_of_order',
};

/** A per-second value and the seconds it was measured over. */
interface Rate {
  perSecond: number;
  seconds: number;
}

interface AllocDelta {
  bytes: number;
  objects: number;
  seconds: number;
}

/** D4: Δalloc_space and Δalloc_objects of a delta'd heap or allocs profile, over that profile's window. */
function heapAllocDelta(bundle: ProfileBundle, decode: DeriveOptions['decode']): AllocDelta | OmitReason {
  const heaps = [pickProfile(bundle, ['heap']), pickProfile(bundle, ['allocs'])].filter((p): p is Profile => p !== undefined);
  const profile = heaps.find(isDeltaProfile);
  if (!profile) return heaps.length > 0 ? 'cumulative_profile' : 'no_heap_profile';
  const decoded = decode(profile);
  if (!decoded) return 'no_heap_profile';
  const bytesIndex = sampleTypeIndex(decoded, ['alloc_space']);
  const objectsIndex = sampleTypeIndex(decoded, ['alloc_objects']);
  if (bytesIndex < 0 || objectsIndex < 0) return 'no_sample_type';
  const bytes = decoded.totals[bytesIndex]!;
  const objects = decoded.totals[objectsIndex]!;
  // The receiver resets its baseline when a target restarts; a negative sum that slips through is not a rate.
  if (bytes < 0 || objects < 0) return 'negative_delta';
  const seconds = windowSeconds(profile.window ?? bundle.window);
  if (!(seconds > 0)) return 'empty_window';
  return { bytes, objects, seconds };
}

/**
 * The CPU value of the samples in GC frames: the sum the decoder made in its summary pass
 * (`stackTotals.gc`, when it was asked for the default frames), else a walk over the stacks
 * with the configured matcher (`gc_frames` set, or a profile decoded without the filter).
 */
function gcSum(decoded: ProfileSummary, valueIndex: number, isGcFrame: (functionName: string) => boolean): number {
  const summed = decoded.stackTotals?.[GC_STACK_FILTER.name]?.[valueIndex];
  if (summed !== undefined && isDefaultGcFrameMatcher(isGcFrame)) return summed;
  return sumSamplesWhere(decoded.pprof, valueIndex, isGcFrame).matched;
}

export function deriveGoMetrics(bundle: ProfileBundle, options: DeriveOptions): DerivedMetrics {
  const values = new Map<GoMetricName, number>();
  const spans = new Map<GoMetricName, number>();
  const omitted: DerivedMetrics['omitted'] = [];
  const json = bundle.runtimeMetrics;
  const bundleWindowNs = windowNanos(bundle.window);
  const wants = (metric: GoMetricName): boolean => options.enabled.has(metric);
  const set = (metric: GoMetricName, value: number | OmitReason): void => {
    if (typeof value === 'number') values.set(metric, value);
    else omitted.push({ metric, reason: value });
  };
  /** A rate and the seconds it covers. */
  const setRate = (metric: GoMetricName, rate: Rate | OmitReason): void => {
    if (typeof rate === 'string') return set(metric, rate);
    values.set(metric, rate.perSecond);
    spans.set(metric, rate.seconds);
  };
  const bundleSeconds = bundleWindowNs / 1e9;
  /** metrics.json's `go_<x>` for `prof_go_<x>`. */
  const fromJson = (metric: GoMetricName): number | undefined => finiteOf(json, metric.replace(/^prof_/, ''));

  // CPU profile: cores and GC cores over the same window (the profile's own, else the bundle's).
  const cpu = pickProfile(bundle, ['cpu']);
  const cpuNeeded = (wants('prof_go_cpu_cores') && fromJson('prof_go_cpu_cores') === undefined) || wants('prof_go_cpu_cores_gc_overhead');
  const cpuDecoded = cpu && cpuNeeded ? options.decode(cpu) : undefined;
  const cpuWindowNs = cpu ? cpuWindowNanos(cpu, cpuDecoded, bundleWindowNs) : bundleWindowNs;
  const cpuIndex = cpuDecoded ? sampleTypeIndex(cpuDecoded, ['cpu']) : -1;
  const cpuNanosPer = cpuDecoded && cpuIndex >= 0 ? nanosPer(cpuDecoded.sampleTypes[cpuIndex]!.unit) : undefined;
  const cpuProblem = (): OmitReason => (!cpuDecoded ? 'no_cpu_profile' : cpuNanosPer === undefined ? 'no_sample_type' : 'empty_window');
  const cpuUsable = cpuDecoded !== undefined && cpuNanosPer !== undefined && cpuWindowNs > 0;

  if (wants('prof_go_cpu_cores')) {
    const value = fromJson('prof_go_cpu_cores');
    // Cores over the CPU profile's window stand for the whole bundle window (dd-trace-go with a short
    // CPUDuration samples part of it; a pulled round's profile covers cpu_seconds of it).
    if (value !== undefined) setRate('prof_go_cpu_cores', { perSecond: value, seconds: bundleSeconds });
    else if (cpuUsable) setRate('prof_go_cpu_cores', { perSecond: (cpuDecoded.totals[cpuIndex]! * cpuNanosPer) / cpuWindowNs, seconds: bundleSeconds });
    else set('prof_go_cpu_cores', cpuProblem());
  }

  if (wants('prof_go_cpu_cores_gc_overhead')) {
    // D2: the CPU profile first; a metrics.json value (never sent by dd-trace-go) only without one.
    if (cpuUsable) {
      setRate('prof_go_cpu_cores_gc_overhead', {
        perSecond: (gcSum(cpuDecoded, cpuIndex, options.isGcFrame) * cpuNanosPer) / cpuWindowNs,
        seconds: bundleSeconds,
      });
    } else {
      const json = fromJson('prof_go_cpu_cores_gc_overhead');
      setRate('prof_go_cpu_cores_gc_overhead', json !== undefined ? { perSecond: json, seconds: bundleSeconds } : cpuProblem());
    }
  }

  // MemStats (pull mode, D6): derived values, or why there are none this round.
  const memStats = options.memStats;
  const memDelta = memStats?.kind === 'delta' && memStats.delta.seconds > 0 ? memStats.delta : undefined;
  const memProblem: OmitReason | undefined = !memStats || memDelta ? undefined : MEMSTATS_PROBLEM[memStats.kind];
  const perSecond = (change: number | undefined): Rate | undefined =>
    memDelta && change !== undefined ? { perSecond: change / memDelta.seconds, seconds: memDelta.seconds } : undefined;
  /** A metrics.json rate: dd-trace-go's Δ over its period, which is the upload window. */
  const jsonRate = (metric: GoMetricName): Rate | undefined => {
    const value = fromJson(metric);
    return value === undefined ? undefined : { perSecond: value, seconds: bundleSeconds };
  };

  // D4: heap-profile alloc deltas, the fallback for bundles that carry no MemStats trailer.
  let allocDelta: AllocDelta | OmitReason | undefined;
  const fromHeapDelta =
    <T>(pick: (delta: AllocDelta) => T) =>
    (): T | OmitReason => {
      allocDelta ??= heapAllocDelta(bundle, options.decode);
      return typeof allocDelta === 'string' ? allocDelta : pick(allocDelta);
    };

  /** metrics.json, then MemStats, then (only when the bundle has no trailer) the profiles. */
  const runtimeValue = <T>(fromMetricsJson: T | undefined, fromMemStats: T | undefined, fromProfile?: () => T | OmitReason): T | OmitReason => {
    if (fromMetricsJson !== undefined) return fromMetricsJson;
    if (fromMemStats !== undefined) return fromMemStats;
    if (memProblem) return memProblem;
    if (fromProfile && !bundle.memStats) return fromProfile();
    return 'no_source';
  };

  if (wants('prof_go_alloc_bytes_per_sec')) {
    setRate(
      'prof_go_alloc_bytes_per_sec',
      runtimeValue(
        jsonRate('prof_go_alloc_bytes_per_sec'),
        perSecond(memDelta?.allocBytes),
        fromHeapDelta((d) => ({ perSecond: d.bytes / d.seconds, seconds: d.seconds })),
      ),
    );
  }
  if (wants('prof_go_frees_per_sec')) setRate('prof_go_frees_per_sec', runtimeValue(jsonRate('prof_go_frees_per_sec'), perSecond(memDelta?.frees)));
  if (wants('prof_go_heap_growth_bytes_per_sec')) {
    setRate('prof_go_heap_growth_bytes_per_sec', runtimeValue(jsonRate('prof_go_heap_growth_bytes_per_sec'), perSecond(memDelta?.heapAllocChange)));
  }
  if (wants('prof_go_allocs_per_sec')) {
    setRate(
      'prof_go_allocs_per_sec',
      runtimeValue(
        jsonRate('prof_go_allocs_per_sec'),
        perSecond(memDelta?.mallocs),
        fromHeapDelta((d) => ({ perSecond: d.objects / d.seconds, seconds: d.seconds })),
      ),
    );
  }
  if (wants('prof_go_alloc_bytes_total')) {
    // dd-trace-go sends only the rate; the total over the upload window is rate × window.
    const rate = fromJson('prof_go_alloc_bytes_per_sec');
    const fromMetricsJson = fromJson('prof_go_alloc_bytes_total') ?? (rate !== undefined && bundleWindowNs > 0 ? rate * (bundleWindowNs / 1e9) : undefined);
    set(
      'prof_go_alloc_bytes_total',
      runtimeValue(
        fromMetricsJson,
        memDelta?.allocBytes,
        fromHeapDelta((d) => d.bytes),
      ),
    );
  }

  const delaySum = (types: string[], missing: OmitReason): number | OmitReason => {
    const profile = pickProfile(bundle, types);
    if (!profile) return missing;
    if (!isDeltaProfile(profile)) return 'cumulative_profile';
    const decoded = options.decode(profile);
    if (!decoded) return missing;
    const index = sampleTypeIndex(decoded, ['delay']);
    const factor = index >= 0 ? nanosPer(decoded.sampleTypes[index]!.unit) : undefined;
    if (factor === undefined) return 'no_sample_type';
    const total = decoded.totals[index]! * factor;
    return total < 0 ? 'negative_delta' : total;
  };
  if (wants('prof_go_blocked_time')) set('prof_go_blocked_time', fromJson('prof_go_blocked_time') ?? delaySum(['block'], 'no_block_profile'));
  if (wants('prof_go_mutex_delay_time')) set('prof_go_mutex_delay_time', fromJson('prof_go_mutex_delay_time') ?? delaySum(['mutex'], 'no_mutex_profile'));

  if (wants('prof_go_gcs_per_sec')) setRate('prof_go_gcs_per_sec', runtimeValue(jsonRate('prof_go_gcs_per_sec'), perSecond(memDelta?.gcs)));
  if (wants('prof_go_max_gc_pause_time')) set('prof_go_max_gc_pause_time', runtimeValue(fromJson('prof_go_max_gc_pause_time'), memDelta?.maxPauseNs));
  if (wants('prof_go_gc_pause_time')) {
    // D1: dd-trace-go sends the paused fraction of its period; × the upload window gives nanoseconds.
    const fraction = fromJson('prof_go_gc_pause_time');
    if (fraction !== undefined) set('prof_go_gc_pause_time', bundleWindowNs > 0 ? fraction * bundleWindowNs : 'empty_window');
    else set('prof_go_gc_pause_time', runtimeValue(undefined, memDelta?.pauseTotalNs));
  }

  if (wants('prof_go_num_goroutine')) {
    const value = fromJson('prof_go_num_goroutine');
    if (value !== undefined) set('prof_go_num_goroutine', value);
    else {
      // D3: Go writes the sample type `goroutine`; `goroutines` is accepted as an alias.
      const profile = pickProfile(bundle, ['goroutine', 'goroutines']);
      const decoded = profile && options.decode(profile);
      const index = decoded ? sampleTypeIndex(decoded, ['goroutine', 'goroutines']) : -1;
      set('prof_go_num_goroutine', !decoded ? 'no_goroutine_profile' : index < 0 ? 'no_sample_type' : decoded.totals[index]!);
    }
  }

  if (wants('prof_go_lifetime_heap_bytes') || wants('prof_go_lifetime_heap_objects')) {
    // inuse_* is a snapshot in every heap profile, delta'd or not.
    const heap = pickProfile(bundle, ['heap']) ?? pickProfile(bundle, ['allocs']);
    const needed = fromJson('prof_go_lifetime_heap_bytes') === undefined || fromJson('prof_go_lifetime_heap_objects') === undefined;
    const decoded = heap && needed ? options.decode(heap) : undefined;
    const live = (metric: GoMetricName, type: string): void => {
      if (!wants(metric)) return;
      const value = fromJson(metric);
      if (value !== undefined) return set(metric, value);
      const index = decoded ? sampleTypeIndex(decoded, [type]) : -1;
      set(metric, !decoded ? 'no_heap_profile' : index < 0 ? 'no_sample_type' : decoded.totals[index]!);
    };
    live('prof_go_lifetime_heap_bytes', 'inuse_space');
    live('prof_go_lifetime_heap_objects', 'inuse_objects');
  }

  return { values, spans, omitted };
}
