/**
 * The OpenTelemetry SDK readers of profcol's own metrics, as the Collector's
 * `service.telemetry.metrics`: `address` (or a `pull` reader) serves them in Prometheus text
 * through the SDK's Prometheus exporter; each `periodic` reader pushes them over OTLP/HTTP on
 * an interval. One `MeterProvider` owns them all; `Telemetry` is their metric producer.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { listenHttp } from '../http-server.js';
import type { ExportResult } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporterBase } from '@opentelemetry/exporter-metrics-otlp-http';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonMetricsSerializer, MetricsExporterMetricsHelper, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../logger.js';
import type { Telemetry } from '../telemetry.js';
import { parseEndpoint } from '../units.js';

/** The resource own metrics are exported with, as the Collector's own telemetry (`service.name`, version, instance id). */
export function ownTelemetryResource(version: string): Resource {
  return resourceFromAttributes({ 'service.name': 'profcol', 'service.version': version, 'service.instance.id': randomUUID() });
}

export interface OtlpReaderSettings {
  protocol: 'http/protobuf' | 'http/json';
  endpoint: string;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
}

export interface TelemetryReaderSettings {
  pull?: { exporter: { prometheus: { host: string; port: number } } } | undefined;
  periodic?: { interval: number; timeout: number; exporter: { otlp: OtlpReaderSettings } } | undefined;
}

export interface TelemetryMetricsSettings {
  address?: string | undefined;
  readers: TelemetryReaderSettings[];
}

/**
 * The OTLP URL of an `endpoint`: a bare `scheme://host:port` gets the signal path `/v1/metrics`
 * (as the Collector's own-telemetry readers do), a URL with a path is used as written.
 */
export function otlpMetricsUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/metrics';
  return url.toString();
}

/** An OTLP/HTTP metric exporter built as `@opentelemetry/exporter-metrics-otlp-{http,proto}` build theirs. */
function otlpExporter(settings: OtlpReaderSettings, timeoutMs: number): OTLPMetricExporterBase {
  const protobuf = settings.protocol === 'http/protobuf';
  const options = convertLegacyHttpOptions(
    {
      url: otlpMetricsUrl(settings.endpoint),
      headers: settings.headers,
      timeoutMillis: timeoutMs,
      ...(settings.compression === 'gzip' ? { compression: 'gzip' as never } : {}),
    },
    'METRICS',
    'v1/metrics',
    { 'Content-Type': protobuf ? 'application/x-protobuf' : 'application/json' },
  );
  const delegate = createOtlpHttpExportDelegate(
    options,
    protobuf ? ProtobufMetricsSerializer : JsonMetricsSerializer,
    'otlp_http_metric_exporter',
    MetricsExporterMetricsHelper,
    undefined,
  );
  return new OTLPMetricExporterBase(delegate);
}

/**
 * Counts and logs an own-telemetry export that failed: the SDK reports it only to its global
 * `diag` logger, which is silent unless set, and nothing may fail unseen. The next export
 * carries the cumulative values again, so a failed one loses no count, only its moment.
 */
function countingExporter(inner: PushMetricExporter, endpoint: string, telemetry: Telemetry, logger: Logger): PushMetricExporter {
  const failed = telemetry.counter(
    'profcol_telemetry_export_failed_total',
    "Exports of profcol's own metrics to an OTLP reader's endpoint that failed (the next one sends the cumulative values again).",
  );
  let failing = false;
  return {
    export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
      inner.export(metrics, (result) => {
        if (result.code !== 0) {
          failed.add(1, { endpoint });
          if (!failing)
            logger.warn(
              { endpoint, err: result.error },
              "exporting profcol's own metrics failed; retrying at the next interval (logged once until one succeeds)",
            );
          failing = true;
        } else if (failing) {
          failing = false;
          logger.info({ endpoint }, "exporting profcol's own metrics works again");
        }
        resultCallback(result);
      });
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
    ...(inner.selectAggregationTemporality ? { selectAggregationTemporality: inner.selectAggregationTemporality.bind(inner) } : {}),
  };
}

/** The readers of one collector's own metrics, started and stopped with it. */
export class TelemetryReaders {
  private readonly provider: MeterProvider;
  private readonly pulls: { exporter: PrometheusExporter; host: string; port: number }[] = [];
  private readonly servers: http.Server[] = [];

  constructor(
    telemetry: Telemetry,
    settings: TelemetryMetricsSettings,
    private readonly logger: Logger,
  ) {
    const readers: MetricReader[] = [];
    const pullAddresses: { host: string; port: number }[] = [];
    if (settings.address) pullAddresses.push(parseEndpoint(settings.address)!); // validated by the service schema
    for (const reader of settings.readers) {
      if (reader.pull) pullAddresses.push(reader.pull.exporter.prometheus);
      if (reader.periodic) {
        const { otlp } = reader.periodic.exporter;
        readers.push(
          new PeriodicExportingMetricReader({
            exporter: countingExporter(otlpExporter(otlp, reader.periodic.timeout), otlp.endpoint, telemetry, logger),
            exportIntervalMillis: reader.periodic.interval,
            exportTimeoutMillis: Math.min(reader.periodic.timeout, reader.periodic.interval),
            metricProducers: [telemetry],
          }),
        );
      }
    }
    for (const { host, port } of pullAddresses) {
      // The exporter's own server would report a taken port only to `diag`; ours fails the start.
      const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true, metricProducers: [telemetry] });
      readers.push(exporter);
      this.pulls.push({ exporter, host, port });
    }
    this.provider = new MeterProvider({ resource: telemetry.resource, readers });
  }

  /** Listens on every pull address; rejects (naming the address) when one cannot be bound. */
  async start(): Promise<void> {
    for (const { exporter, host, port } of this.pulls) {
      const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const listener = await listenHttp(address, (request, response) => {
        if (new URL(request.url ?? '/', 'http://localhost').pathname === '/metrics') exporter.getMetricsRequestHandler(request, response);
        else response.writeHead(404).end();
      }).catch((error: Error) => {
        throw new Error(`service::telemetry::metrics: cannot serve own metrics on ${address}: ${error.message}`, { cause: error });
      });
      const server = listener.server;
      this.servers.push(server);
      this.logger.info({ address: addressOf(server) }, 'own metrics served at /metrics');
    }
  }

  /** The addresses actually bound (a configured port 0 becomes the one the system chose). */
  addresses(): string[] {
    return this.servers.map(addressOf);
  }

  /** Pushes the final values to every OTLP reader and closes the pull servers. */
  async shutdown(): Promise<void> {
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    try {
      await this.provider.shutdown();
    } catch (error) {
      this.logger.warn({ err: error }, "flushing profcol's own metrics at shutdown failed");
    }
  }
}

function addressOf(server: http.Server): string {
  const bound = server.address();
  if (!bound || typeof bound === 'string') return String(bound);
  return bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
}
