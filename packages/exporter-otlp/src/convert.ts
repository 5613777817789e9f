/**
 * Metric points → the OpenTelemetry SDK's `ResourceMetrics`, built directly (no meter, no
 * aggregation): every point keeps its own timestamps, the profile window it describes.
 */
import { ValueType, type HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { MetricPoint } from '@profcol/core';
import { mapResource, resourceKey } from './resource.js';
import { SCOPE_NAME, SCOPE_VERSION } from './version.js';

/** A point without its resource: requests carry the resource once. */
export type RequestPoint = Omit<MetricPoint, 'resource'>;

/** What one OTLP request carries: the points of one resource. The unit of queueing and retrying. */
export interface ExportRequest {
  /** Resource attributes, already mapped to semantic conventions. */
  resource: Record<string, string>;
  points: RequestPoint[];
}

/** Splits a batch's points into one request per (mapped) resource, keeping their order. */
export function toRequests(points: readonly MetricPoint[], dropResourceKeys: readonly string[] = []): ExportRequest[] {
  const byResource = new Map<string, ExportRequest>();
  // Points of one bundle share their resource object (goruntime makes them so): map and key it
  // once per object rather than once per point.
  const byObject = new Map<Readonly<Record<string, string>>, ExportRequest>();
  for (const point of points) {
    let request = byObject.get(point.resource);
    if (!request) {
      const resource = mapResource(point.resource, dropResourceKeys);
      const key = resourceKey(resource);
      request = byResource.get(key);
      if (!request) {
        request = { resource, points: [] };
        byResource.set(key, request);
      }
      byObject.set(point.resource, request);
    }
    const { resource: _ignored, ...rest } = point;
    request.points.push(rest);
  }
  return [...byResource.values()];
}

export function nanosToHrTime(nanos: bigint): HrTime {
  return [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)];
}

/** One request as the SDK structure the OTLP serializers take. */
export function toResourceMetrics(request: ExportRequest): ResourceMetrics {
  const metrics = new Map<string, MetricData>();
  for (const point of request.points) {
    const monotonic = point.kind === 'sum' ? point.monotonic === true : false;
    // A sum without a temporality is cumulative: that is what every producer meant before the field existed.
    const delta = point.kind === 'sum' && point.temporality === 'delta';
    const key = JSON.stringify([point.name, point.unit, point.kind, monotonic, delta, point.description ?? '']);
    let metric = metrics.get(key);
    if (!metric) {
      const descriptor = { name: point.name, description: point.description ?? '', unit: point.unit, valueType: ValueType.DOUBLE };
      const temporality = delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
      metric =
        point.kind === 'sum'
          ? { descriptor, dataPointType: DataPointType.SUM, aggregationTemporality: temporality, isMonotonic: monotonic, dataPoints: [] }
          : { descriptor, dataPointType: DataPointType.GAUGE, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPoints: [] };
      metrics.set(key, metric);
    }
    const endTime = nanosToHrTime(point.timeNanos);
    (metric.dataPoints as { startTime: HrTime; endTime: HrTime; attributes: Record<string, string>; value: number }[]).push({
      // A gauge without a window leaves its start unset (0), as OTLP says for gauges; a sum
      // without one starts where it ends.
      startTime: point.startTimeNanos !== undefined ? nanosToHrTime(point.startTimeNanos) : point.kind === 'gauge' ? [0, 0] : endTime,
      endTime,
      attributes: point.attributes,
      value: point.value,
    });
  }
  return {
    resource: resourceFromAttributes(request.resource),
    scopeMetrics: [{ scope: { name: SCOPE_NAME, version: SCOPE_VERSION }, metrics: [...metrics.values()] }],
  };
}

// ---- persistence form ----------------------------------------------------------------

type Encoded = Omit<RequestPoint, 'timeNanos' | 'startTimeNanos' | 'value'> & { value: number | string; timeNanos: string; startTimeNanos?: string };

/** JSON text of a request: bigints as decimal strings, non-finite values as strings. */
export function encodeRequest(request: ExportRequest): string {
  const points: Encoded[] = request.points.map(({ startTimeNanos: _s, ...p }) => ({
    ...p,
    value: Number.isFinite(p.value) ? p.value : String(p.value),
    timeNanos: p.timeNanos.toString(),
    ...(_s !== undefined ? { startTimeNanos: _s.toString() } : {}),
  }));
  return JSON.stringify({ v: 1, resource: request.resource, points });
}

/** The inverse of `encodeRequest`; throws on anything that is not a well-formed request. */
export function decodeRequest(text: string): ExportRequest {
  const raw = JSON.parse(text) as { v?: unknown; resource?: unknown; points?: unknown };
  if (raw.v !== 1 || typeof raw.resource !== 'object' || raw.resource === null || !Array.isArray(raw.points)) throw new Error('not a version 1 export request');
  const points = (raw.points as Encoded[]).map((p) => {
    if (typeof p.name !== 'string' || typeof p.timeNanos !== 'string' || (p.kind !== 'gauge' && p.kind !== 'sum')) throw new Error('malformed point');
    if (p.temporality !== undefined && p.temporality !== 'cumulative' && p.temporality !== 'delta') throw new Error('malformed point');
    const point: RequestPoint = {
      ...p,
      value: typeof p.value === 'string' ? Number(p.value) : p.value,
      timeNanos: BigInt(p.timeNanos),
      ...(p.startTimeNanos !== undefined ? { startTimeNanos: BigInt(p.startTimeNanos) } : {}),
    } as RequestPoint;
    return point;
  });
  return { resource: raw.resource as Record<string, string>, points };
}
