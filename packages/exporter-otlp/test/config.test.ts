import { readFileSync } from 'node:fs';
import { renderSchemaMarkdown } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { describe, expect, it } from 'vitest';
import plugin, { mapResource, metricsUrl, sdkLanguage, OtlpExporterSchema, otlpExporterFactory, SCOPE_VERSION, toRequests } from '../src/index.js';
import { point } from './helpers.js';

describe('otlp exporter configuration', () => {
  it('defaults to the Collector’s otlphttp behaviour: protobuf, gzip, 30s timeout, retries, a 1000-request queue', () => {
    const parsed = OtlpExporterSchema.parse({});
    expect(parsed.ok && parsed.value).toMatchObject({
      endpoint: 'http://localhost:4318',
      protocol: 'http/protobuf',
      compression: 'gzip',
      timeout: 30_000,
      headers: {},
      tls: { insecure_skip_verify: false },
      retry_on_failure: {
        enabled: true,
        initial_interval: 5000,
        max_interval: 30_000,
        max_elapsed_time: 300_000,
        multiplier: 1.5,
        randomization_factor: 0.5,
        retryable_status_codes: [429, 502, 503, 504],
      },
      sending_queue: { enabled: true, num_consumers: 10, queue_size: 1000 },
      drain_timeout: 10_000,
      resource_drop: ['profile_seq'],
    });
  });

  it('appends /v1/metrics to endpoint unless metrics_endpoint is given', () => {
    expect(metricsUrl({ endpoint: 'http://collector:4318' })).toBe('http://collector:4318/v1/metrics');
    expect(metricsUrl({ endpoint: 'http://vm:8428/opentelemetry/' })).toBe('http://vm:8428/opentelemetry/v1/metrics');
    expect(metricsUrl({ endpoint: 'http://x', metrics_endpoint: 'https://y/otlp/v1/metrics' })).toBe('https://y/otlp/v1/metrics');
  });

  it('reports every mistake with its path', () => {
    const parsed = OtlpExporterSchema.parse({
      endpoint: 'localhost:4318',
      protocol: 'grpc',
      compression: 'zstd',
      sending_queue: { queue_size: 0, storge: './q' },
      retry_on_failure: { randomization_factor: 2 },
    });
    expect(parsed.ok).toBe(false);
    const issues = parsed.ok ? [] : parsed.issues.map((i) => `${i.path.join('::')}: ${i.message}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        'endpoint: "localhost:4318" must be an http:// or https:// URL',
        'protocol: "grpc" is not one of "http/protobuf", "http/json"',
        'compression: "zstd" is not one of "gzip", "none"',
        'sending_queue::storge: unknown key "storge" (did you mean "storage"?)',
        'sending_queue::queue_size: 0 is below the minimum of 1',
        'retry_on_failure::randomization_factor: 2 is above the maximum of 1',
      ]),
    );
  });

  it('is a plugin with one exporter component of type otlp', () => {
    expect(plugin.name).toBe('@profcol/exporter-otlp');
    expect(plugin.components).toEqual([otlpExporterFactory]);
    expect(otlpExporterFactory).toMatchObject({ kind: 'exporter', type: 'otlp' });
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(SCOPE_VERSION).toBe(pkg.version);
    expect(plugin.version).toBe(pkg.version);
  });

  it('has every option documented in the README (the table renderSchemaMarkdown makes)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(renderSchemaMarkdown(OtlpExporterSchema));
  });
});

describe('resource mapping', () => {
  it('renames profcol’s keys to OpenTelemetry semantic conventions and keeps the others', () => {
    expect(
      mapResource({
        service: 's',
        version: 'v',
        env: 'e',
        host: 'h',
        language: 'go',
        runtime: 'go',
        runtime_version: 'go1.22',
        runtime_id: 'r',
        process_id: '7',
        team: 't',
      }),
    ).toEqual({
      'service.name': 's',
      'service.version': 'v',
      'deployment.environment.name': 'e',
      'host.name': 'h',
      'telemetry.sdk.language': 'go',
      'process.runtime.name': 'go',
      'process.runtime.version': 'go1.22',
      'service.instance.id': 'r',
      'process.pid': '7',
      team: 't',
    });
  });

  it('normalises the language to the semantic-convention values', () => {
    expect(mapResource({ language: 'golang' })['telemetry.sdk.language']).toBe('go');
    expect(mapResource({ language: 'node' })['telemetry.sdk.language']).toBe('nodejs');
    expect(mapResource({ language: 'jvm' })['telemetry.sdk.language']).toBe('java');
    expect(mapResource({ language: 'nodejs' })['process.runtime.name']).toBeUndefined();
  });

  it('maps every canonical language, and resolves any other name through core’s alias table', () => {
    const canonical = { golang: 'go', java: 'java', python: 'python', nodejs: 'nodejs', dotnet: 'dotnet', ruby: 'ruby', php: 'php', cpp: 'cpp', rust: 'rust' };
    for (const [name, semconv] of Object.entries(canonical)) expect(sdkLanguage(name)).toBe(semconv);
    const aliases = {
      go: 'go',
      js: 'nodejs',
      'Node.js': 'nodejs',
      kotlin: 'java',
      scala: 'java',
      csharp: 'dotnet',
      'c#': 'dotnet',
      '.NET': 'dotnet',
      cplusplus: 'cpp',
      'pyroscope-rs': 'rust',
    };
    for (const [name, semconv] of Object.entries(aliases)) expect(sdkLanguage(name)).toBe(semconv);
    // Names core does not know are kept (lowercased): the semantic conventions have erlang and swift, too.
    expect(['Erlang', 'swift', 'unknown'].map(sdkLanguage)).toEqual(['erlang', 'swift', 'unknown']);
  });

  it('uses a pulled target’s instance URL as service.instance.id unless the program named its instance', () => {
    expect(mapResource({ service: 's', instance: 'http://localhost:6060' })).toEqual({ 'service.name': 's', 'service.instance.id': 'http://localhost:6060' });
    expect(mapResource({ runtime_id: 'r', instance: 'http://localhost:6060' })).toEqual({ 'service.instance.id': 'r', instance: 'http://localhost:6060' });
  });

  it('leaves out the dropped keys and empty values', () => {
    expect(mapResource({ service: 's', profile_seq: '12', env: '' }, ['profile_seq'])).toEqual({ 'service.name': 's' });
  });
});

describe('otlp exporter own metrics', () => {
  it('uses the names every profcol exporter shares (sent_metric_points, send_failed_metric_points), and lists each in the README', () => {
    const settings = createTestSettings({ id: 'otlp', kind: 'exporter' });
    const parsed = OtlpExporterSchema.parse({});
    if (!parsed.ok) throw new Error('config');
    otlpExporterFactory.create(settings, parsed.value);
    const names = [...settings.registry.renderPrometheus().matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!);
    expect(names).toContain('profcol_exporter_sent_metric_points_total');
    expect(names).toContain('profcol_exporter_send_failed_metric_points_total');
    expect(names.filter((n) => /points/.test(n)).sort()).toEqual([
      'profcol_exporter_send_failed_metric_points_total',
      'profcol_exporter_sent_metric_points_total',
    ]);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of names) expect(readme).toContain(`| \`${name}\``);
  });
});

describe('otlp exporter requests', () => {
  it('makes one request per mapped resource, whether points share one resource object (as goruntime makes them) or carry equal copies', () => {
    const shared = { service: 'checkout', env: 'prod', profile_seq: '1' };
    const points = [
      point({ value: 1, resource: shared }),
      point({ value: 2, resource: { service: 'cart' } }),
      point({ value: 3, resource: shared }),
      point({ value: 4, resource: { ...shared, profile_seq: '2' } }), // equal once profile_seq is dropped
      point({ value: 5, resource: { service: 'cart' } }),
    ];
    const requests = toRequests(points, ['profile_seq']);
    expect(requests.map((r) => [r.resource, r.points.map((p) => p.value)])).toEqual([
      [{ 'service.name': 'checkout', 'deployment.environment.name': 'prod' }, [1, 3, 4]],
      [{ 'service.name': 'cart' }, [2, 5]],
    ]);
    expect(requests[0]!.points[0]).not.toHaveProperty('resource');
  });
});
