import type http from 'node:http';

import {
  createQueuedExporter,
  PermanentSendError,
  ProfcolError,
  createHttpAgent,
  RetryableSendError,
  type Batch,
  type ConsumeOptions,
  type CreateSettings,
  type Exporter,
  type Host,
  type QueuedExporter,
} from '@profcol/core';
import { metricsUrl, type OtlpExporterConfig } from './config.js';
import { toRequests, toResourceMetrics, type ExportRequest } from './convert.js';
import { OtlpSender } from './sender.js';
import { QUEUE_FILE_SUFFIX, requestCodec } from './storage.js';

export class OtlpExporterError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('otlp_exporter', message, options);
  }
}

export { storageSubdir } from '@profcol/core';

/**
 * The `otlp` exporter: one OTLP/HTTP request per resource of a batch, sent once by `OtlpSender`;
 * the queue, retries, persistence and their counters are the exporter helper's (@profcol/core).
 */
export class OtlpExporter implements Exporter {
  private readonly url: string;
  private sender: OtlpSender | undefined;
  private agent: http.Agent | undefined;
  private readonly helper: QueuedExporter<ExportRequest>;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: OtlpExporterConfig,
  ) {
    this.url = metricsUrl(config);
    const failedPoints = settings.telemetry.counter(
      'profcol_exporter_send_failed_metric_points_total',
      'Metric points an exporter failed to deliver, by reason.',
    );
    this.helper = createQueuedExporter<ExportRequest>({
      settings,
      config,
      name: 'OTLP exporter',
      destination: this.url,
      toRequests: (batch) => toRequests(batch.metrics, config.resource_drop),
      itemsOf: (request) => ({ points: request.points.length }),
      codec: requestCodec,
      fileSuffix: QUEUE_FILE_SUFFIX,
      send: (request, { signal }) => this.send(request, signal),
      start: async () => {
        this.agent = await this.createAgent();
        this.sender = new OtlpSender({
          url: this.url,
          protocol: config.protocol,
          headers: config.headers,
          compression: config.compression,
          timeoutMs: config.timeout,
          agent: this.agent,
          retryableStatusCodes: config.retry_on_failure.retryable_status_codes,
          concurrency: Math.max(64, config.sending_queue.num_consumers * 2),
          onPartialSuccess: (rejected, message) => {
            failedPoints.add(rejected, { reason: 'partial_success' });
            settings.logger.warn(
              { exporter: settings.id, rejectedDataPoints: rejected, message },
              'the OTLP backend accepted a request but rejected some of its points',
            );
          },
        });
      },
      shutdown: async () => {
        await this.sender?.shutdown();
        this.agent?.destroy();
      },
    });
  }

  /** One attempt; a failure is thrown as the helper reads it (retryable or permanent, with its reason). */
  private async send(request: ExportRequest, signal: AbortSignal): Promise<void> {
    if (!this.sender) throw new OtlpExporterError(`exporter "${this.settings.id}" sent before it was started`);
    // The OpenTelemetry delegate takes no per-request signal: a cancelled attempt is no longer
    // waited for (the helper stops at the signal) and ends at its own `timeout`.
    const result = await this.sender.send(toResourceMetrics(request));
    if (result.ok) return;
    if (signal.aborted) throw signal.reason;
    const message = `${this.url}: ${result.message}`;
    if (!result.retryable) throw new PermanentSendError(message, { reason: result.reason, status: result.status });
    throw new RetryableSendError(message, { reason: result.reason, status: result.status, retryAfterMs: result.retryAfterMs });
  }

  async start(host?: Host): Promise<void> {
    await this.helper.start(host);
    const queue = this.config.sending_queue;
    this.settings.logger.info(
      {
        exporter: this.settings.id,
        url: this.url,
        protocol: this.config.protocol,
        compression: this.config.compression,
        queue: queue.enabled ? { size: queue.queue_size, consumers: queue.num_consumers, storage: this.helper.storageDir ?? null } : false,
      },
      'OTLP exporter started',
    );
  }

  consume(batch: Batch, options?: ConsumeOptions): Promise<void> {
    if (batch.metrics.length === 0) return Promise.resolve();
    return this.helper.consume(batch, options);
  }

  /**
   * Refuses new batches, keeps sending what is queued for up to `drain_timeout`, then stops
   * what is still in flight. Unsent persistent requests stay on disk for the next start.
   */
  shutdown(): Promise<void> {
    return this.helper.shutdown();
  }

  /** What this exporter did, for logs and tests: `sent_metric_points`, `send_failed_metric_points{http_400}`, ... */
  stats(): Record<string, number> {
    return this.helper.stats();
  }

  private createAgent(): Promise<http.Agent> {
    return createHttpAgent({
      url: this.url,
      tls: this.config.tls,
      baseDir: this.settings.baseDir,
      where: `exporters::${this.settings.id}::tls`,
      maxSockets: Math.max(this.config.sending_queue.num_consumers, 16),
      logger: this.settings.logger,
    });
  }
}
