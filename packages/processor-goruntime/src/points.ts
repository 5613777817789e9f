import type { MetricPoint, ProfileBundle } from '@profcol/core';
import { isProfilerTag } from './config.js';
import { GO_METRICS, GO_METRIC_NAMES, type GoMetricName } from './metrics.js';

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
export function toPoints(bundle: ProfileBundle, values: ReadonlyMap<GoMetricName, number>, options: LabelOptions): MetricPoint[] {
  const attributes = pointAttributes(bundle, options);
  const resource = pointResource(bundle, options);
  const points: MetricPoint[] = [];
  for (const name of GO_METRIC_NAMES) {
    const value = values.get(name);
    if (value === undefined) continue;
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
