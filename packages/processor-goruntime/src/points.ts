import type { MetricPoint, MetricTemporality, ProfileBundle } from '@profcol/core';
import { isProfilerTag } from './config.js';
import type { CumulativeTotals } from './cumulative.js';
import { GO_METRICS, GO_METRIC_NAMES, type GoMetricName } from './metrics.js';
import { SEMCONV_METRICS, type SemconvValue } from './semconv.js';

export interface LabelOptions {
  copyTags: boolean;
  /** Copy the tags a dd-trace profiler adds about itself too (see PROFILER_TAG_KEYS). */
  copyProfilerTags: boolean;
  /** Configured attributes; they win over every other source. */
  attributes: Record<string, string>;
  /** Keys removed from attributes and resource (empty when high-cardinality keys are wanted). */
  dropKeys: ReadonlySet<string>;
}

const BASE_KEYS = ['service', 'env', 'version', 'host'] as const;

/**
 * Point attributes, lowest precedence first: `service`, `env`, `version`, `host` from the
 * resource; the bundle's tags but for those a profiler adds about itself (so a `tags`
 * processor placed before this one is honoured);
 * `language: golang`; the configured attributes. Keys of `dropKeys` are removed from the first
 * two (a configured attribute is kept: it was asked for).
 */
export function pointAttributes(bundle: ProfileBundle, options: LabelOptions): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const key of BASE_KEYS) {
    const value = bundle.resource[key];
    if (value !== undefined) attributes[key] = value;
  }
  if (options.copyTags) {
    for (const [key, value] of Object.entries(bundle.tags)) if (options.copyProfilerTags || !isProfilerTag(key)) attributes[key] = value;
  }
  for (const key of options.dropKeys) delete attributes[key];
  attributes.language = 'golang';
  return Object.assign(attributes, options.attributes);
}

export function pointResource(bundle: ProfileBundle, options: LabelOptions): Record<string, string> {
  const resource = { ...bundle.resource };
  for (const key of options.dropKeys) delete resource[key];
  return resource;
}

/**
 * One gauge per derived value, in the order of the metric table, stamped with the bundle's window.
 * The points of one bundle share one `resource` object (as the points of one OTLP
 * `ResourceMetrics` do), so that exporters can map it once; each has its own `attributes`.
 * A processor that changes a point's resource replaces the object rather than editing it.
 */
export function toPoints(
  bundle: ProfileBundle,
  values: ReadonlyMap<GoMetricName, number>,
  options: LabelOptions,
  skip: Readonly<Partial<Record<GoMetricName, unknown>>> = {},
  resource: Record<string, string> = pointResource(bundle, options),
): MetricPoint[] {
  const attributes = pointAttributes(bundle, options);
  const points: MetricPoint[] = [];
  for (const name of GO_METRIC_NAMES) {
    const value = values.get(name);
    if (value === undefined || name in skip) continue;
    const spec = GO_METRICS[name];
    points.push({
      name,
      description: spec.description,
      unit: spec.unit,
      kind: 'gauge',
      value,
      timeNanos: bundle.window.endNanos,
      startTimeNanos: bundle.window.startNanos,
      attributes: { ...attributes },
      resource,
    });
  }
  return points;
}

/** What the convention sums need beyond the bundle: the temporality asked for and the running totals. */
export interface SumOptions {
  temporality: MetricTemporality;
  totals: CumulativeTotals;
  /** The process the values come from (one pulled target, one dd-trace runtime id): totals never mix two. */
  sourceKey: string;
  nowMs: number;
  /** Told of each counter window: added to its total, the same window again (retry), or older than the last one (dropped). */
  onWindow: (outcome: 'added' | 'retry' | 'out_of_order', name: string) => void;
}

/**
 * The convention values of a bundle as OpenTelemetry sums, stamped with the bundle's end.
 * Counters: monotonic, `cumulative` (the source's running total since the series start) or
 * `delta` (the amount over its own span). UpDownCounters: non-monotonic and always cumulative,
 * as the OpenTelemetry SDKs keep them under a delta preference: the value is the count itself.
 */
export function toSemconvPoints(
  bundle: ProfileBundle,
  values: readonly SemconvValue[],
  options: LabelOptions,
  sums: SumOptions,
  resource: Record<string, string> = pointResource(bundle, options),
): MetricPoint[] {
  const base = pointAttributes(bundle, options);
  const endNanos = bundle.window.endNanos;
  const points: MetricPoint[] = [];
  for (const value of values) {
    const spec = SEMCONV_METRICS[value.name];
    const attributes = { ...base, ...value.attributes };
    const seriesKey = JSON.stringify([value.name, Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
    const common = { name: value.name, description: spec.description, unit: spec.unit, kind: 'sum' as const, timeNanos: endNanos, attributes, resource };
    if (spec.instrument === 'updowncounter') {
      const startTimeNanos = sums.totals.startOf(sums.sourceKey, seriesKey, bundle.window.startNanos, endNanos, sums.nowMs);
      points.push({ ...common, monotonic: false, temporality: 'cumulative', value: value.value, startTimeNanos });
      continue;
    }
    const spanStart = endNanos - BigInt(Math.round((value.seconds ?? 0) * 1e9));
    if (sums.temporality === 'delta') {
      sums.onWindow('added', value.name);
      points.push({ ...common, monotonic: true, temporality: 'delta', value: value.value, startTimeNanos: spanStart });
      continue;
    }
    const outcome = sums.totals.add(sums.sourceKey, seriesKey, value.value, spanStart, endNanos, sums.nowMs);
    sums.onWindow(outcome.kind, value.name);
    if (outcome.kind === 'out_of_order') continue;
    points.push({ ...common, monotonic: true, temporality: 'cumulative', value: outcome.total, startTimeNanos: outcome.startNanos });
  }
  return points;
}
