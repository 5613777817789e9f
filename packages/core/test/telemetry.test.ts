import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, ComponentRegistry, loadConfigFiles, planOrThrow, planPipelines, Telemetry, TelemetryConflictError } from '../src/index.js';
import { pino } from 'pino';
import { TelemetryReaders, type TelemetryMetricsSettings } from '../src/telemetry/readers.js';
import { newRecorder, testPlugin } from './support.js';
import { decodeMetricsRequest } from './telemetry-otlp-decode.js';

const silent = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(
  telemetry: Telemetry,
  settings: Partial<TelemetryMetricsSettings> = { address: '127.0.0.1:0' },
): Promise<{ url: string; readers: TelemetryReaders }> {
  const readers = new TelemetryReaders(telemetry, { readers: [], ...settings }, silent);
  await readers.start();
  cleanups.push(() => readers.shutdown());
  return { url: `http://${readers.addresses()[0]}/metrics`, readers };
}

/** `name{labels} value` lines of an exposition, by series. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('own metrics in Prometheus text (the SDK Prometheus exporter at service.telemetry.metrics.address)', () => {
  it('serves counters and gauges over HTTP under the names and labels components registered', async () => {
    const telemetry = new Telemetry();
    const ddtrace = telemetry.scoped({ receiver: 'ddtrace' });
    const accepted = ddtrace.counter('profcol_receiver_accepted_uploads_total', 'dd-trace uploads accepted by the pipeline, by format (v4, v3, v1).');
    accepted.add(1, { format: 'v4' });
    accepted.add(2, { format: 'v4' });
    accepted.add(1, { format: 'v3' });
    telemetry.scoped({ exporter: 'otlp' }).gauge('profcol_exporter_queue_size', 'Requests held by the sending queue (waiting or being sent).').set(7);
    telemetry
      .counter('profcol_pipeline_bundles_total', 'Profile bundles delivered to the exporters of a pipeline.')
      .add(5, { pipeline: 'go', note: 'a "quoted"\\value' });

    const response = await fetch((await serve(telemetry)).url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toContain(
      '# HELP profcol_receiver_accepted_uploads_total dd-trace uploads accepted by the pipeline, by format (v4, v3, v1).\n# TYPE profcol_receiver_accepted_uploads_total counter\n',
    );
    expect(text).toContain('# TYPE profcol_exporter_queue_size gauge\n');
    const values = samples(text);
    expect(values.get('profcol_receiver_accepted_uploads_total{receiver="ddtrace",format="v4"}')).toBe(3);
    expect(values.get('profcol_receiver_accepted_uploads_total{receiver="ddtrace",format="v3"}')).toBe(1);
    expect(values.get('profcol_exporter_queue_size{exporter="otlp"}')).toBe(7);
    expect(values.get('profcol_pipeline_bundles_total{pipeline="go",note="a \\"quoted\\"\\\\value"}')).toBe(5);
    // Nothing the SDK exporter adds by default: profcol's labels are the whole label set.
    expect(text).not.toMatch(/otel_scope_|target_info/);
    expect(await (await fetch(new URL('/other', response.url))).status).toBe(404);
  });

  it('exposes every name exactly as registered: counters ending in _total, gauges, bytes and sizes, no unit suffix added', async () => {
    const telemetry = new Telemetry();
    // Names the e2e tests, the status page and the health check read today.
    const counters = [
      'profcol_receiver_refused_uploads_total',
      'profcol_exporter_sent_metric_points_total',
      'profcol_processor_memory_limiter_refused_batches_total',
      'profcol_receiver_scrapes_total',
    ];
    const gauges = [
      'profcol_exporter_queue_size',
      'profcol_exporter_queue_bytes',
      'profcol_receiver_uploads_in_flight',
      'profcol_processor_memory_limiter_limit_bytes',
    ];
    for (const name of counters) telemetry.counter(name, `counter ${name}`).add(1);
    for (const name of gauges) telemetry.gauge(name, `gauge ${name}`).set(1);
    telemetry.histogram('profcol_receiver_upload_duration_seconds', 'upload duration', { unit: 's' }).record(0.01);

    const text = await (await fetch((await serve(telemetry)).url)).text();
    const help = [...text.matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]);
    expect(help).toEqual([...counters, ...gauges, 'profcol_receiver_upload_duration_seconds']);
    expect([...samples(text).keys()].filter((k) => !k.includes('duration'))).toEqual([...counters, ...gauges]);
    // The HTTP endpoint and renderPrometheus() (read by README tests) are one serializer.
    expect(telemetry.renderPrometheus()).toBe(text);
  });

  it("serves a histogram's count, sum and cumulative buckets with le labels", async () => {
    const telemetry = new Telemetry();
    const rounds = telemetry
      .scoped({ receiver: 'pprof' })
      .histogram('profcol_receiver_scrape_round_duration_seconds', 'Scrape round duration.', { unit: 's', boundaries: [0.1, 1, 10] });
    for (const seconds of [0.05, 0.1, 0.7, 9.5, 42]) rounds.record(seconds, { outcome: 'success' });
    rounds.record(3, { outcome: 'failed' });

    const text = await (await fetch((await serve(telemetry)).url)).text();
    expect(text).toContain('# TYPE profcol_receiver_scrape_round_duration_seconds histogram\n');
    expect(text).toContain('# UNIT profcol_receiver_scrape_round_duration_seconds s\n');
    const values = samples(text);
    const series = (suffix: string, extra = '') =>
      values.get(`profcol_receiver_scrape_round_duration_seconds_${suffix}{receiver="pprof",outcome="success"${extra}}`);
    expect(series('count')).toBe(5);
    expect(series('sum')).toBeCloseTo(0.05 + 0.1 + 0.7 + 9.5 + 42);
    // Upper bounds are inclusive: 0.1 lands in le="0.1".
    expect([series('bucket', ',le="0.1"'), series('bucket', ',le="1"'), series('bucket', ',le="10"'), series('bucket', ',le="+Inf"')]).toEqual([2, 3, 4, 5]);
    expect(values.get('profcol_receiver_scrape_round_duration_seconds_count{receiver="pprof",outcome="failed"}')).toBe(1);
  });

  it('adds to one series whatever object carries the labels and in whatever order, as before', () => {
    const telemetry = new Telemetry();
    const refused = telemetry.scoped({ receiver: 'ddtrace' }).counter('profcol_receiver_refused_uploads_total', 'refused');
    for (let i = 0; i < 3; i++) refused.add(1, { reason: 'too_many_uploads', format: 'v4' });
    refused.add(1, { format: 'v4', reason: 'too_many_uploads' });
    refused.add(1, { reason: 'memory_budget', format: 'v4' });
    expect(telemetry.value('profcol_receiver_refused_uploads_total', { reason: 'too_many_uploads' })).toBe(4);
    expect(telemetry.value('profcol_receiver_refused_uploads_total')).toBe(5);
    expect(telemetry.snapshot().filter((s) => s.name === 'profcol_receiver_refused_uploads_total')).toHaveLength(2);
  });

  it('refuses to listen on a taken port, naming the address', async () => {
    const { readers } = await serve(new Telemetry());
    const taken = readers.addresses()[0]!;
    const second = new TelemetryReaders(new Telemetry(), { address: taken, readers: [] }, silent);
    await expect(second.start()).rejects.toThrow(`cannot serve own metrics on ${taken}`);
  });
});

/** A local OTLP/HTTP endpoint: keeps each request's path, headers and (gunzipped) body. */
async function otlpEndpoint(status = 200): Promise<{ url: string; requests: { path: string; headers: http.IncomingHttpHeaders; body: Buffer }[] }> {
  const requests: { path: string; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request
      .on('data', (c: Buffer) => chunks.push(c))
      .on('end', () => {
        const raw = Buffer.concat(chunks);
        requests.push({ path: request.url ?? '', headers: request.headers, body: request.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw) : raw });
        response.writeHead(status, { 'content-type': 'application/x-protobuf' }).end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
}

describe('own metrics over OTLP (service.telemetry.metrics.readers: periodic)', () => {
  it('pushes counters, gauges and histograms as OTLP/HTTP protobuf with the collector resource, cumulative', async () => {
    const backend = await otlpEndpoint();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-telemetry-'));
    fs.writeFileSync(
      path.join(dir, 'p.yaml'),
      `receivers:\n  source: {}\nexporters:\n  sink: {}\nservice:\n  pipelines:\n    go:\n      receivers: [source]\n      exporters: [sink]\n  telemetry:\n    metrics:\n      readers:\n        - periodic:\n            interval: 1h\n            exporter:\n              otlp:\n                protocol: http/protobuf\n                endpoint: ${backend.url}\n                compression: gzip\n                headers: { x-tenant: profcol-test }\n`,
    );
    const registry = new ComponentRegistry();
    const recorder = newRecorder();
    registry.register(testPlugin(recorder));
    const collector = new Collector(planOrThrow(loadConfigFiles([path.join(dir, 'p.yaml')], {}), registry));
    await collector.start();
    collector.telemetry.scoped({ receiver: 'source' }).counter('profcol_receiver_accepted_uploads_total', 'Uploads accepted.').add(4, { format: 'v4' });
    const exports = collector.telemetry
      .scoped({ exporter: 'otlp' })
      .histogram('profcol_exporter_send_duration_seconds', 'Send attempt duration.', { unit: 's', boundaries: [0.01, 0.1] });
    exports.record(0.005, { outcome: 'delivered' });
    exports.record(0.05, { outcome: 'delivered' });
    collector.telemetry.gauge('profcol_exporter_queue_size', 'Requests held.').set(3);
    // The interval is an hour: what arrives is the final export a stop makes.
    await collector.shutdown();

    expect(backend.requests).toHaveLength(1);
    const [request] = backend.requests;
    expect(request!.path).toBe('/v1/metrics');
    expect(request!.headers['content-type']).toBe('application/x-protobuf');
    expect(request!.headers['x-tenant']).toBe('profcol-test');
    const metrics = decodeMetricsRequest(request!.body);
    const byName = new Map(metrics.map((m) => [m.name, m]));
    expect(metrics[0]!.resource['service.name']).toBe('profcol');
    expect(metrics[0]!.resource['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(metrics[0]!.scope).toBe('profcol');

    const accepted = byName.get('profcol_receiver_accepted_uploads_total')!;
    expect(accepted).toMatchObject({ type: 'sum', monotonic: true, temporality: 2, description: 'Uploads accepted.' });
    expect(accepted.points).toEqual([expect.objectContaining({ attributes: { receiver: 'source', format: 'v4' }, value: 4 })]);
    expect(accepted.points[0]!.startTimeUnixNano).toBeLessThanOrEqual(accepted.points[0]!.timeUnixNano);

    expect(byName.get('profcol_exporter_queue_size')).toMatchObject({ type: 'gauge', points: [expect.objectContaining({ value: 3 })] });
    const histogram = byName.get('profcol_exporter_send_duration_seconds')!;
    expect(histogram).toMatchObject({ type: 'histogram', unit: 's', temporality: 2, description: 'Send attempt duration.' });
    expect(histogram.points[0]).toMatchObject({
      attributes: { exporter: 'otlp', outcome: 'delivered' },
      count: 2,
      explicitBounds: [0.01, 0.1],
      bucketCounts: [1, 1, 0],
    });
    expect(histogram.points[0]!.sum).toBeCloseTo(0.055);
  });

  it('sends OTLP JSON to a URL with its own path, as written', async () => {
    const backend = await otlpEndpoint();
    const telemetry = new Telemetry();
    telemetry.counter('profcol_receiver_accepted_uploads_total', 'accepted').add(2, { format: 'v4' });
    const { readers } = await serve(telemetry, {
      readers: [
        {
          periodic: {
            interval: 3_600_000,
            timeout: 5000,
            exporter: { otlp: { protocol: 'http/json', endpoint: `${backend.url}/otlp/v1/metrics`, headers: {}, compression: 'none' } },
          },
        },
      ],
    });
    await readers.shutdown();
    expect(backend.requests.map((r) => r.path)).toEqual(['/otlp/v1/metrics']);
    const body = JSON.parse(backend.requests[0]!.body.toString()) as {
      resourceMetrics: { scopeMetrics: { metrics: { name: string; sum: { dataPoints: { asDouble: number }[] } }[] }[] }[];
    };
    const metric = body.resourceMetrics[0]!.scopeMetrics[0]!.metrics.find((m) => m.name === 'profcol_receiver_accepted_uploads_total');
    expect(metric!.sum.dataPoints[0]!.asDouble).toBe(2);
  });

  it('counts and logs an export the endpoint refused', async () => {
    const backend = await otlpEndpoint(400);
    const telemetry = new Telemetry();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const readers = new TelemetryReaders(
      telemetry,
      {
        readers: [
          {
            periodic: {
              interval: 3_600_000,
              timeout: 5000,
              exporter: { otlp: { protocol: 'http/protobuf', endpoint: backend.url, headers: { authorization: 'Bearer s3cr3t' }, compression: 'none' } },
            },
          },
        ],
      },
      logger,
    );
    await readers.start();
    await readers.shutdown();
    expect(backend.requests).toHaveLength(1);
    expect(telemetry.value('profcol_telemetry_export_failed_total', { endpoint: backend.url })).toBe(1);
    expect(lines.join('')).toContain("exporting profcol's own metrics failed");
    expect(lines.join('')).not.toContain('s3cr3t');
  });

  it('checks the reader configuration and says what is accepted', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-telemetry-'));
    fs.writeFileSync(
      path.join(dir, 'p.yaml'),
      `receivers:\n  source: {}\nexporters:\n  sink: {}\nservice:\n  pipelines:\n    go:\n      receivers: [source]\n      exporters: [sink]\n  telemetry:\n    metrics:\n      readers:\n        - periodic:\n            exporter:\n              otlp:\n                endpoint: localhost:4318\n        - {}\n        - pull:\n            exporter:\n              prometheus: { port: 70000 }\n`,
    );
    const registry = new ComponentRegistry();
    registry.register(testPlugin(newRecorder()));
    const { issues } = planPipelines(loadConfigFiles([path.join(dir, 'p.yaml')], {}), registry);
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'service::telemetry::metrics::readers::0::periodic::exporter::otlp::endpoint: "localhost:4318" is not an http:// or https:// URL (for example http://localhost:4318)',
      'service::telemetry::metrics::readers::1: expected periodic: or pull:',
      'service::telemetry::metrics::readers::2::pull::exporter::prometheus::port: 70000 is above the maximum of 65535',
    ]);
  });
});

describe('one name, one meaning', () => {
  it('fails at registration when a second component gives a name another description, naming both', () => {
    const telemetry = new Telemetry({ onConflict: 'throw' });
    telemetry.scoped({ processor: 'pprof_decode' }).counter('profcol_processor_decode_failed_profiles_total', 'Profiles removed from their bundle.');
    const second = () =>
      telemetry.scoped({ processor: 'goruntime' }).counter('profcol_processor_decode_failed_profiles_total', 'Profiles passed on undecoded.');
    expect(second).toThrow(TelemetryConflictError);
    expect(second).toThrow(
      'own metric "profcol_processor_decode_failed_profiles_total" is registered by processor pprof_decode and again by processor goruntime with a different meaning (description "Profiles removed from their bundle." then "Profiles passed on undecoded.")',
    );
  });

  it('accepts the same name and description from several components (one series each)', () => {
    const telemetry = new Telemetry({ onConflict: 'throw' });
    telemetry.scoped({ exporter: 'otlp' }).counter('profcol_exporter_sent_requests_total', 'Requests the destination accepted.').add(1);
    telemetry.scoped({ exporter: 'file' }).counter('profcol_exporter_sent_requests_total', 'Requests the destination accepted.').add(2);
    expect(telemetry.value('profcol_exporter_sent_requests_total')).toBe(3);
  });

  it('treats another kind, unit or bucket layout under one name as a conflict too', () => {
    const telemetry = new Telemetry({ onConflict: 'throw' });
    telemetry.counter('profcol_x_total', 'x');
    expect(() => telemetry.gauge('profcol_x_total', 'x')).toThrow('kind counter then gauge');
    telemetry.histogram('profcol_d_seconds', 'd', { unit: 's', boundaries: [1, 2] });
    expect(() => telemetry.histogram('profcol_d_seconds', 'd', { unit: 'ms', boundaries: [1, 2] })).toThrow('unit "s" then "ms"');
    expect(() => telemetry.histogram('profcol_d_seconds', 'd', { unit: 's', boundaries: [1, 5] })).toThrow('boundaries [1, 2] then [1, 5]');
    expect(() => telemetry.histogram('profcol_e_seconds', 'e', { boundaries: [2, 1] })).toThrow('strictly ascending');
  });

  it('in production warns once per name, keeps the first description and keeps counting', () => {
    const lines: string[] = [];
    const telemetry = new Telemetry({ onConflict: 'warn', logger: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }) });
    telemetry.counter('profcol_y_total', 'first').add(1);
    telemetry.counter('profcol_y_total', 'second').add(1);
    telemetry.counter('profcol_y_total', 'third').add(1);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).msg).toContain('own metric "profcol_y_total" is registered by the host and again by the host');
    expect(telemetry.renderPrometheus()).toContain('# HELP profcol_y_total first\n');
    expect(telemetry.value('profcol_y_total')).toBe(3);
  });
});
