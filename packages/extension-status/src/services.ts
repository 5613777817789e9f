/**
 * What the status page keeps of the batches flowing through: every service seen, its latest CPU
 * and heap profile, and a bounded history of each Go runtime metric. Everything is bounded by
 * configuration; what does not fit is counted, never kept by luck.
 */
import type { Batch, Counter, MetricPoint, ProfileBundle } from '@profcol/core';

/** Profile types that get a flame graph. */
export const FLAME_PROFILE_TYPES = ['cpu', 'heap'] as const;
export type FlameProfileType = (typeof FLAME_PROFILE_TYPES)[number];

export interface KeptProfile {
  type: FlameProfileType;
  /** The name it arrived under (`cpu.pprof`, `/debug/pprof/profile`). */
  name: string;
  /** The receiver that made the bundle (`ddtrace`, `pprof`). */
  source: string;
  /** The end of the profile's window (ms since the epoch). */
  windowEndMs: number;
  /** The profile as received (possibly compressed), copied: the received buffer may be shared with a whole upload. */
  data: Uint8Array;
  /** Bumped whenever a newer profile replaces this one, so a cached flame tree is recomputed. */
  generation: number;
}

export interface ServiceState {
  service: string;
  env?: string;
  version?: string;
  language?: string;
  /** Where it was seen from: receiver ids and, for pulled targets, their instance. */
  sources: Set<string>;
  lastSeenMs: number;
  bundles: number;
  profiles: Partial<Record<FlameProfileType, KeptProfile>>;
}

export interface RuntimeSeries {
  service: string;
  name: string;
  unit: string;
  attributes: Record<string, string>;
  /** [time ms, value], oldest first. */
  points: [number, number][];
}

export interface ServiceStoreLimits {
  maxServices: number;
  maxSeries: number;
  maxPointsPerSeries: number;
  historyMs: number;
  maxProfileBytes: number;
}

export interface ServiceStoreCounters {
  /** Points not kept, by reason (`max_series`). */
  droppedPoints: Counter;
  /** Services forgotten to make room (`max_services`). */
  evictedServices: Counter;
  /** Profiles not kept for a flame graph, by reason (`too_large`). */
  skippedProfiles: Counter;
}

const UNKNOWN_SERVICE = 'unknown_service';
const RUNTIME_METRIC_PREFIX = 'prof_go_';

function nanosToMs(nanos: bigint): number {
  return Number(nanos / 1_000_000n);
}

function seriesKey(service: string, name: string, attributes: Record<string, string>): string {
  return JSON.stringify([service, name, Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

export class ServiceStore {
  /** In least recently updated order (a Map keeps insertion order; an update re-inserts). */
  private readonly services = new Map<string, ServiceState>();
  private readonly series = new Map<string, RuntimeSeries>();
  private generation = 0;

  constructor(
    private readonly limits: ServiceStoreLimits,
    private readonly counters: ServiceStoreCounters,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes what the page shows from a batch a pipeline delivered. Reads the batch only. */
  observe(batch: Batch): void {
    for (const bundle of batch.bundles) this.observeBundle(bundle);
    for (const point of batch.metrics) if (point.name.startsWith(RUNTIME_METRIC_PREFIX)) this.observePoint(point);
  }

  private touch(resource: Record<string, string>): ServiceState {
    const name = resource['service'] || UNKNOWN_SERVICE;
    let state = this.services.get(name);
    if (state) {
      this.services.delete(name);
    } else {
      state = { service: name, sources: new Set(), lastSeenMs: 0, bundles: 0, profiles: {} };
      while (this.services.size >= this.limits.maxServices) {
        const oldest = this.services.keys().next().value!;
        this.services.delete(oldest);
        this.forgetSeriesOf(oldest);
        this.counters.evictedServices.add(1, { reason: 'max_services' });
      }
    }
    this.services.set(name, state);
    state.lastSeenMs = this.now();
    for (const key of ['env', 'version', 'language'] as const) if (resource[key]) state[key] = resource[key];
    return state;
  }

  private observeBundle(bundle: ProfileBundle): void {
    const state = this.touch(bundle.resource);
    state.bundles++;
    // A bounded set: one entry per receiver and pulled instance of this service.
    if (state.sources.size < 16) state.sources.add(bundle.resource['instance'] ? `${bundle.source} ${bundle.resource['instance']}` : bundle.source);
    for (const profile of bundle.profiles) {
      const type = profile.type as FlameProfileType;
      if (!FLAME_PROFILE_TYPES.includes(type)) continue;
      const size = profile.decoded?.pprof.length ?? profile.data.length;
      if (size > this.limits.maxProfileBytes) {
        this.counters.skippedProfiles.add(1, { reason: 'too_large' });
        continue;
      }
      state.profiles[type] = {
        type,
        name: profile.name,
        source: bundle.source,
        windowEndMs: nanosToMs((profile.window ?? bundle.window).endNanos),
        data: profile.data.slice(),
        generation: ++this.generation,
      };
    }
  }

  private observePoint(point: MetricPoint): void {
    const service = point.resource['service'] || UNKNOWN_SERVICE;
    const key = seriesKey(service, point.name, point.attributes);
    let series = this.series.get(key);
    if (!series) {
      if (this.series.size >= this.limits.maxSeries) {
        this.counters.droppedPoints.add(1, { reason: 'max_series' });
        return;
      }
      series = { service, name: point.name, unit: point.unit, attributes: { ...point.attributes }, points: [] };
      this.series.set(key, series);
      this.touch(point.resource);
    }
    const timeMs = nanosToMs(point.timeNanos);
    const points = series.points;
    // Points arrive in time order per service; one out of order is put in its place.
    let at = points.length;
    while (at > 0 && points[at - 1]![0] > timeMs) at--;
    points.splice(at, 0, [timeMs, point.value]);
    this.trim(series);
  }

  private trim(series: RuntimeSeries): void {
    const oldestMs = this.now() - this.limits.historyMs;
    let drop = Math.max(0, series.points.length - this.limits.maxPointsPerSeries);
    while (drop < series.points.length && series.points[drop]![0] < oldestMs) drop++;
    if (drop > 0) series.points.splice(0, drop);
  }

  private forgetSeriesOf(service: string): void {
    for (const [key, series] of this.series) if (series.service === service) this.series.delete(key);
  }

  /** Every service, most recently seen first, with its runtime series (each trimmed to the history). */
  list(): { state: ServiceState; series: RuntimeSeries[] }[] {
    const byService = new Map<string, RuntimeSeries[]>();
    for (const series of this.series.values()) {
      this.trim(series);
      if (series.points.length === 0) continue;
      byService.set(series.service, [...(byService.get(series.service) ?? []), series]);
    }
    return [...this.services.values()].reverse().map((state) => ({
      state,
      series: (byService.get(state.service) ?? []).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    }));
  }

  profile(service: string, type: string): KeptProfile | undefined {
    return this.services.get(service)?.profiles[type as FlameProfileType];
  }
}
