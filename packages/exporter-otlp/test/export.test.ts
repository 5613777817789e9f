import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOtlpStub, type OtlpStub } from '../src/testing.js';
import { point, startExporter, T0, until, type Harness } from './helpers.js';

let stub: OtlpStub;
let harness: Harness | undefined;

beforeEach(async () => {
  stub = await startOtlpStub();
});
afterEach(async () => {
  await harness?.exporter.shutdown();
  harness = undefined;
  await stub.close();
});

describe.each(['http/protobuf', 'http/json'] as const)('otlp exporter over %s', (protocol) => {
  it('POSTs to <endpoint>/v1/metrics with the content type of the protocol, gzip-compressed by default', async () => {
    harness = await startExporter({ endpoint: stub.url, protocol });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitForAccepted(1);
    const request = stub.requests[0]!;
    expect(request.path).toBe('/v1/metrics');
    expect(request.contentType).toBe(protocol === 'http/json' ? 'application/json' : 'application/x-protobuf');
    expect(request.headers['content-encoding']).toBe('gzip');
    expect(request.headers['user-agent']).toMatch(/^profcol\//);
  });

  it('keeps every point’s own timestamps to the nanosecond (the profile window, not the export time)', async () => {
    harness = await startExporter({ endpoint: stub.url, protocol });
    const start = T0 - 60_000_000_001n;
    await harness.exporter.consume({
      bundles: [],
      metrics: [
        point({ name: 'prof_go_cpu_time', unit: 's', kind: 'sum', monotonic: true, value: 1.25, timeNanos: T0, startTimeNanos: start }),
        point({ value: 7, timeNanos: T0 + 1n }),
        point({ value: 8, timeNanos: 1n }),
      ],
    });
    await stub.waitForAccepted(3);
    const got = stub.accepted.map((p) => [p.name, p.startTimeUnixNano, p.timeUnixNano, p.value]);
    expect(got).toEqual([
      ['prof_go_cpu_time', start, T0, 1.25],
      ['prof_go_goroutines', 0n, T0 + 1n, 7],
      ['prof_go_goroutines', 0n, 1n, 8],
    ]);
  });

  it('sends gauges as gauges and sums as cumulative sums with their monotonicity, with UCUM units and descriptions', async () => {
    harness = await startExporter({ endpoint: stub.url, protocol });
    await harness.exporter.consume({
      bundles: [],
      metrics: [
        point({ name: 'prof_go_heap_live_bytes', unit: 'By', kind: 'gauge', value: 1024, description: 'Live heap' }),
        point({ name: 'prof_go_gc_cycles', unit: '{gc_cycle}', kind: 'sum', monotonic: true, value: 12, startTimeNanos: T0 - 1n }),
        point({ name: 'prof_go_threads_delta', unit: '{thread}', kind: 'sum', monotonic: false, value: -2, startTimeNanos: T0 - 1n }),
      ],
    });
    await stub.waitForAccepted(3);
    const byName = Object.fromEntries(stub.accepted.map((p) => [p.name, p]));
    expect(byName['prof_go_heap_live_bytes']).toMatchObject({ type: 'gauge', unit: 'By', value: 1024, description: 'Live heap' });
    expect(byName['prof_go_gc_cycles']).toMatchObject({ type: 'sum', temporality: 2, monotonic: true, unit: '{gc_cycle}', value: 12 });
    expect(byName['prof_go_threads_delta']).toMatchObject({ type: 'sum', temporality: 2, monotonic: false, value: -2 });
  });

  it('sends a sum marked delta with DELTA temporality and its own window, apart from a cumulative one of the same name', async () => {
    harness = await startExporter({ endpoint: stub.url, protocol });
    const seriesStart = T0 - 600_000_000_000n;
    await harness.exporter.consume({
      bundles: [],
      metrics: [
        point({
          name: 'go.memory.allocated',
          unit: 'By',
          kind: 'sum',
          monotonic: true,
          temporality: 'delta',
          value: 4096,
          startTimeNanos: T0 - 10_000_000_000n,
        }),
        point({ name: 'go.memory.allocated', unit: 'By', kind: 'sum', monotonic: true, temporality: 'cumulative', value: 65536, startTimeNanos: seriesStart }),
        point({ name: 'go.goroutine.count', unit: '{goroutine}', kind: 'sum', monotonic: false, value: 12, startTimeNanos: seriesStart }),
      ],
    });
    await stub.waitForAccepted(3);
    const got = stub.accepted.map((p) => [p.name, p.temporality, p.monotonic, p.startTimeUnixNano, p.value]);
    // OTLP AggregationTemporality: 1 = DELTA, 2 = CUMULATIVE; a sum without one stays cumulative.
    expect(got).toEqual([
      ['go.memory.allocated', 1, true, T0 - 10_000_000_000n, 4096],
      ['go.memory.allocated', 2, true, seriesStart, 65536],
      ['go.goroutine.count', 2, false, seriesStart, 12],
    ]);
  });

  it('maps the resource to semantic conventions and names profcol in the scope, not the resource', async () => {
    harness = await startExporter({ endpoint: stub.url, protocol });
    await harness.exporter.consume({
      bundles: [],
      metrics: [
        point({
          resource: {
            service: 'checkout',
            env: 'prod',
            version: '1.2.3',
            host: 'web-1',
            language: 'golang',
            runtime_version: 'go1.22.4',
            runtime_id: 'a1b2',
            profile_seq: '17',
            team: 'payments',
          },
        }),
      ],
    });
    await stub.waitForAccepted(1);
    const received = stub.accepted[0]!;
    expect(received.resource).toEqual({
      'service.name': 'checkout',
      'deployment.environment.name': 'prod',
      'service.version': '1.2.3',
      'host.name': 'web-1',
      'telemetry.sdk.language': 'go',
      'process.runtime.name': 'go',
      'process.runtime.version': 'go1.22.4',
      'service.instance.id': 'a1b2',
      team: 'payments',
    });
    expect(received.scope).toEqual({ name: 'profcol', version: '0.1.0' });
  });

  it('groups points per resource: one request per resource, one metric per name with all its points', async () => {
    harness = await startExporter({ endpoint: stub.url, protocol, sending_queue: { num_consumers: 1 } });
    const a = { service: 'a' };
    const b = { service: 'b' };
    await harness.exporter.consume({
      bundles: [],
      metrics: [
        point({ resource: a, value: 1, attributes: { type: 'x' } }),
        point({ resource: b, value: 2 }),
        point({ resource: a, value: 3, attributes: { type: 'y' } }),
      ],
    });
    await stub.waitForAccepted(3);
    expect(stub.requests).toHaveLength(2);
    const perRequest = stub.requests.map((r) => ({
      service: r.points[0]!.resource['service.name'],
      values: r.points.map((p) => p.value),
      attrs: r.points.map((p) => p.attributes),
    }));
    expect(perRequest).toContainEqual({ service: 'a', values: [1, 3], attrs: [{ type: 'x' }, { type: 'y' }] });
    expect(perRequest).toContainEqual({ service: 'b', values: [2], attrs: [{}] });
    await until(() => harness!.counter('profcol_exporter_sent_metric_points_total') === 3);
    expect(harness.counter('profcol_exporter_sent_requests_total')).toBe(2);
  });
});

describe('otlp exporter options', () => {
  it('sends uncompressed with compression: none, adds configured headers, and uses metrics_endpoint as is', async () => {
    harness = await startExporter({
      endpoint: 'http://127.0.0.1:1',
      metrics_endpoint: `${stub.url}/custom/path`,
      compression: 'none',
      headers: { Authorization: 'Bearer s3cret', 'X-Scope-OrgID': 'team-a' },
    });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitForAccepted(1);
    const request = stub.requests[0]!;
    expect(request.path).toBe('/custom/path');
    expect(request.headers['content-encoding']).toBeUndefined();
    expect(request.headers['authorization']).toBe('Bearer s3cret');
    expect(request.headers['x-scope-orgid']).toBe('team-a');
  });

  it('ignores batches without metric points (profile bundles are for other exporters)', async () => {
    harness = await startExporter({ endpoint: stub.url });
    await harness.exporter.consume({
      bundles: [{ source: 'ddtrace', resource: {}, tags: {}, window: { startNanos: 0n, endNanos: 1n }, profiles: [] }],
      metrics: [],
    });
    await harness.exporter.shutdown();
    expect(stub.requests).toHaveLength(0);
  });

  it('counts and logs points the backend rejected in a partial success', async () => {
    stub.reply = () => ({
      status: 200,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ partialSuccess: { rejectedDataPoints: '2', errorMessage: 'out of order samples' } }),
    });
    harness = await startExporter({ endpoint: stub.url, protocol: 'http/json' });
    await harness.exporter.consume({ bundles: [], metrics: [point(), point({ value: 1 })] });
    await harness.exporter.shutdown();
    expect(harness.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'partial_success' })).toBe(2);
    expect(harness.logs().some((l) => l['message'] === 'out of order samples')).toBe(true);
  });

  it('without a queue, consume() resolves only once the backend accepted the batch', async () => {
    harness = await startExporter({ endpoint: stub.url, sending_queue: { enabled: false } });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    expect(stub.accepted).toHaveLength(1);
  });
});
