/**
 * The OpenTelemetry JS metric exporter (`OTLPMetricExporterBase` of
 * `@opentelemetry/exporter-metrics-otlp-http`, with the OTLP JSON or protobuf serializer of
 * `@opentelemetry/otlp-transformer` — exactly what the `-http` and `-proto` exporter packages
 * assemble) on top of the single-attempt `HttpTransport`.
 */
import type http from 'node:http';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporterBase } from '@opentelemetry/exporter-metrics-otlp-http';
import { createOtlpNetworkExportDelegate, ExporterMetrics } from '@opentelemetry/otlp-exporter-base';
import { JsonMetricsSerializer, MetricsExporterMetricsHelper, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { HttpTransport, OtlpSendError } from './transport.js';
import { SCOPE_VERSION } from './version.js';

export type SendResult = { ok: true } | { ok: false; retryable: boolean; reason: string; message: string; status?: number; retryAfterMs?: number };

export interface SenderOptions {
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
  agent: http.Agent;
  retryableStatusCodes: readonly number[];
  concurrency: number;
  /** The backend accepted a request but rejected some of its points. */
  onPartialSuccess?: (rejectedDataPoints: number, message: string) => void;
}

interface PartialSuccess {
  partialSuccess?: { rejectedDataPoints?: number | string | { low: number; high: number }; errorMessage?: string };
}

export class OtlpSender {
  private readonly exporter: OTLPMetricExporterBase;
  private readonly transport: HttpTransport;

  constructor(options: SenderOptions) {
    const json = options.protocol === 'http/json';
    const serializer = json ? JsonMetricsSerializer : ProtobufMetricsSerializer;
    this.transport = new HttpTransport({
      url: options.url,
      headers: options.headers,
      contentType: json ? 'application/json' : 'application/x-protobuf',
      compression: options.compression,
      agent: options.agent,
      retryableStatusCodes: options.retryableStatusCodes,
      userAgent: `profcol/${SCOPE_VERSION}`,
    });
    if (options.onPartialSuccess) {
      const report = options.onPartialSuccess;
      this.transport.onSuccessBody = (body) => {
        if (body.length === 0) return;
        let response: PartialSuccess;
        try {
          response = serializer.deserializeResponse(body) as PartialSuccess;
        } catch {
          return;
        }
        const rejected = toNumber(response.partialSuccess?.rejectedDataPoints);
        if (rejected > 0 || response.partialSuccess?.errorMessage) report(rejected, response.partialSuccess?.errorMessage ?? '');
      };
    }
    const metrics = new ExporterMetrics({
      componentType: 'otlp_http_metric_exporter',
      metricsHelper: MetricsExporterMetricsHelper,
      url: options.url,
      meterProvider: undefined,
      responseAttributesFromError: () => ({}),
    });
    const delegate = createOtlpNetworkExportDelegate(
      { timeoutMillis: options.timeoutMs, concurrencyLimit: options.concurrency, compression: options.compression },
      serializer,
      metrics,
      this.transport,
    );
    this.exporter = new OTLPMetricExporterBase(delegate);
  }

  /** One attempt. Never throws. */
  send(resourceMetrics: ResourceMetrics): Promise<SendResult> {
    return new Promise<SendResult>((resolve) => {
      try {
        this.exporter.export(resourceMetrics, (result: ExportResult) => resolve(classify(result)));
      } catch (error) {
        // The serializer throws on data it cannot encode: sending it again would not help.
        resolve({ ok: false, retryable: false, reason: 'serialize', message: `could not encode the request: ${(error as Error).message}` });
      }
    });
  }

  /** Ends requests in flight (they report `aborted`). */
  abort(): void {
    this.transport.abortAll();
  }

  async shutdown(): Promise<void> {
    this.transport.abortAll();
    await this.exporter.shutdown();
  }
}

function classify(result: ExportResult): SendResult {
  if (result.code === ExportResultCode.SUCCESS) return { ok: true };
  const error = result.error;
  if (error instanceof OtlpSendError) {
    return {
      ok: false,
      retryable: error.retryable,
      reason: error.reason,
      message: error.message,
      ...(error.code !== undefined ? { status: error.code } : {}),
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    };
  }
  // The delegate's own refusals ("Concurrent export limit reached") are about us, not the data.
  return { ok: false, retryable: true, reason: 'exporter', message: error?.message ?? 'export failed' };
}

function toNumber(value: number | string | { low: number; high: number } | undefined): number {
  if (value === undefined) return 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Number(value) || 0;
  return value.high * 2 ** 32 + (value.low >>> 0);
}
