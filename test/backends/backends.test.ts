/**
 * Smoke test of the real OTLP backends: start each one, POST one OTLP/HTTP
 * metrics request, read the point back.
 *
 * The first run on a machine builds both binaries (see README.md for timings);
 * later runs reuse ~/.cache/profcol/backends and take a few seconds.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOtelCollector, startVictoriaMetrics, type OtelCollector, type VictoriaMetrics } from './index.js';

const BUILD_AND_START_TIMEOUT = 30 * 60_000;

// ---- a minimal OTLP protobuf encoder (one gauge, double points) -------------
function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);
const bytesField = (field: number, payload: Uint8Array | number[]): number[] => [...tag(field, 2), ...varint(payload.length), ...payload];
const strField = (field: number, s: string): number[] => bytesField(field, [...Buffer.from(s, 'utf8')]);
function fixed64Field(field: number, v: bigint): number[] {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return [...tag(field, 1), ...b];
}
function doubleField(field: number, v: number): number[] {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return [...tag(field, 1), ...b];
}
// KeyValue{key=1, value=2:AnyValue{string_value=1}}
const kv = (k: string, v: string): number[] => [...strField(1, k), ...bytesField(2, strField(1, v))];

interface Gauge {
  name: string;
  unit: string;
  value: number;
  timeUnixNano: bigint;
  attributes: Record<string, string>;
  resource: Record<string, string>;
}

/** ExportMetricsServiceRequest with one gauge data point, protobuf-encoded. */
function gaugeRequestProtobuf(g: Gauge): Uint8Array {
  const dp = [...Object.entries(g.attributes).flatMap(([k, v]) => bytesField(7, kv(k, v))), ...fixed64Field(3, g.timeUnixNano), ...doubleField(4, g.value)];
  const metric = [...strField(1, g.name), ...strField(3, g.unit), ...bytesField(5, bytesField(1, dp))];
  const scopeMetrics = [...bytesField(1, strField(1, 'profcol.smoke')), ...bytesField(2, metric)];
  const resource = Object.entries(g.resource).flatMap(([k, v]) => bytesField(1, kv(k, v)));
  const resourceMetrics = [...bytesField(1, resource), ...bytesField(2, scopeMetrics)];
  return Uint8Array.from(bytesField(1, resourceMetrics));
}

/** The same request as OTLP JSON. */
function gaugeRequestJson(g: Gauge): string {
  const kvs = (r: Record<string, string>) => Object.entries(r).map(([key, v]) => ({ key, value: { stringValue: v } }));
  return JSON.stringify({
    resourceMetrics: [
      {
        resource: { attributes: kvs(g.resource) },
        scopeMetrics: [
          {
            scope: { name: 'profcol.smoke' },
            metrics: [
              {
                name: g.name,
                unit: g.unit,
                gauge: { dataPoints: [{ attributes: kvs(g.attributes), timeUnixNano: String(g.timeUnixNano), asDouble: g.value }] },
              },
            ],
          },
        ],
      },
    ],
  });
}

async function post(url: string, contentType: string, body: string | Uint8Array): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await res.text();
  expect(res.status, `${url} (${contentType}): ${text}`).toBe(200);
}

const now = (): bigint => BigInt(Date.now()) * 1_000_000n;

// -----------------------------------------------------------------------------

describe('otelcol backend', () => {
  let col: OtelCollector;
  beforeAll(async () => {
    col = await startOtelCollector();
  }, BUILD_AND_START_TIMEOUT);
  afterAll(async () => {
    await col?.stop();
  });

  test('accepts OTLP/HTTP JSON and protobuf, file exporter writes OTLP JSON', async () => {
    expect(col.otlpHttpEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const base = { name: 'prof_go_cpu_cores', unit: '{cpu}', attributes: { 'profile.type': 'cpu' } };
    await post(
      col.otlpMetricsUrl,
      'application/json',
      gaugeRequestJson({ ...base, value: 1.5, timeUnixNano: now(), resource: { 'service.name': 'smoke-json' } }),
    );
    await post(
      col.otlpMetricsUrl,
      'application/x-protobuf',
      gaugeRequestProtobuf({ ...base, value: 2.5, timeUnixNano: now(), resource: { 'service.name': 'smoke-proto' } }),
    );
    const points = await col.waitForPoints((p) => p.length >= 2);
    const byService = Object.fromEntries(points.map((p) => [String(p.resource['service.name']), p]));
    expect(byService['smoke-json']).toMatchObject({ name: 'prof_go_cpu_cores', unit: '{cpu}', type: 'gauge', value: 1.5 });
    expect(byService['smoke-proto']).toMatchObject({ name: 'prof_go_cpu_cores', unit: '{cpu}', type: 'gauge', value: 2.5 });
    expect(byService['smoke-proto']?.attributes).toEqual({ 'profile.type': 'cpu' });
  });
});

describe('victoriametrics backend', () => {
  let vm: VictoriaMetrics;
  beforeAll(async () => {
    vm = await startVictoriaMetrics();
  }, BUILD_AND_START_TIMEOUT);
  afterAll(async () => {
    await vm?.stop();
  });

  test('accepts OTLP/HTTP protobuf; names and attribute keys are kept verbatim', async () => {
    expect(vm.otlpEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/opentelemetry$/);
    await post(
      `${vm.otlpEndpoint}/v1/metrics`,
      'application/x-protobuf',
      gaugeRequestProtobuf({
        name: 'prof_go_cpu_cores',
        unit: '{cpu}',
        value: 2.5,
        timeUnixNano: now(),
        attributes: { 'profile.type': 'cpu' },
        resource: { 'service.name': 'smoke-vm' },
      }),
    );
    const series = await vm.waitForSeries('prof_go_cpu_cores');
    expect(series).toHaveLength(1);
    expect(series[0]!.metric).toEqual({
      __name__: 'prof_go_cpu_cores',
      'service.name': 'smoke-vm',
      'profile.type': 'cpu',
      // Scope metadata is promoted to labels; a missing (empty) scope name/version becomes "unknown".
      'scope.name': 'profcol.smoke',
      'scope.version': 'unknown',
    });
    expect(series[0]!.values).toEqual([2.5]);

    const result = await vm.query('prof_go_cpu_cores{service.name="smoke-vm"}');
    expect(result.map((r) => r.value[1])).toEqual(['2.5']);
  });

  test('rejects OTLP JSON (this VictoriaMetrics version is protobuf-only)', async () => {
    const res = await fetch(`${vm.otlpEndpoint}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"resourceMetrics":[]}',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/json encoding isn't supported/);
  });
});
