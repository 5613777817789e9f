import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { BackpressureError, PermanentError, ProfcolError, readTlsFiles, type Batch, type CreateSettings, type Exporter, type Host, type Logger } from '@profcol/core';
import { metricsUrl, type OtlpExporterConfig } from './config.js';
import { encodeRequest, toRequests, toResourceMetrics, type ExportRequest } from './convert.js';
import { Backoff, sleep } from './retry.js';
import { OtlpSender } from './sender.js';
import { CorruptFileError, DiskStore, StorageError } from './storage.js';

/** One queued request: held in memory, or only on disk (replayed after a restart). */
interface Entry {
  request: ExportRequest | undefined;
  file: string | undefined;
  bytes: number;
  points: number;
}

type Outcome = { kind: 'delivered' } | { kind: 'dropped'; reason: string; message: string; retryable: boolean } | { kind: 'aborted' };

export class OtlpExporterError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('otlp_exporter', message, options);
  }
}

/** A directory name for a component id (`otlp/vm` → `otlp_vm`). */
export function storageSubdir(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_');
}

export class OtlpExporter implements Exporter {
  private readonly logger: Logger;
  private readonly url: string;
  private sender: OtlpSender | undefined;
  private store: DiskStore | undefined;
  private agent: http.Agent | undefined;

  private readonly queue: Entry[] = [];
  /** Requests held (queued or being sent) and their bytes: what `queue_size`/`max_bytes` bound. */
  private held = 0;
  private heldBytes = 0;
  private takers: ((entry: Entry | undefined) => void)[] = [];
  private consumers: Promise<void>[] = [];
  /** Sends of `consume()` calls when the queue is off. */
  private readonly direct = new Set<Promise<unknown>>();

  private started = false;
  private refusedLoggedAt = 0;
  private refusedUnlogged = 0;
  private closing = false;
  private readonly hardStop = new AbortController();
  private shutdownPromise: Promise<void> | undefined;

  private readonly m;
  /** The same counts as the telemetry, for the shutdown log line. */
  private readonly tally: Record<string, number> = {};

  constructor(private readonly settings: CreateSettings, private readonly config: OtlpExporterConfig) {
    this.logger = settings.logger;
    this.url = metricsUrl(config);
    const tally = this.tally;
    const counter = (name: string, description: string) => {
      const inner = settings.telemetry.counter(name, description);
      const short = name.replace(/^profcol_exporter_/, '').replace(/_total$/, '');
      return {
        add: (value = 1, labels: Record<string, string> = {}) => {
          inner.add(value, labels);
          const key = labels['reason'] ? `${short}{${labels['reason']}}` : short;
          tally[key] = (tally[key] ?? 0) + value;
        },
      };
    };
    const t = { counter, gauge: (name: string, description: string) => settings.telemetry.gauge(name, description) };
    this.m = {
      sentPoints: t.counter('profcol_exporter_sent_metric_points_total', 'Metric points an exporter delivered.'),
      sentRequests: t.counter('profcol_exporter_sent_requests_total', 'OTLP requests the backend accepted.'),
      failedAttempts: t.counter('profcol_exporter_send_failed_attempts_total', 'Failed OTLP send attempts (a retried request may fail several), by reason (http_503, ECONNREFUSED, timeout, ...).'),
      retries: t.counter('profcol_exporter_retries_total', 'OTLP requests scheduled for another attempt, by reason.'),
      failedPoints: t.counter('profcol_exporter_send_failed_metric_points_total', 'Metric points an exporter failed to deliver, by reason.'),
      refused: t.counter('profcol_exporter_queue_refused_batches_total', 'Batches the sending queue refused with backpressure, by reason (queue_full, shutting_down, storage_error).'),
      corrupt: t.counter('profcol_exporter_queue_corrupt_files_total', 'Queue files that failed their checksum or did not parse; moved to corrupt/ and skipped.'),
      replayed: t.counter('profcol_exporter_queue_replayed_requests_total', 'Requests found on disk at start and sent again.'),
      queueSize: t.gauge('profcol_exporter_queue_size', 'Requests held by the sending queue (waiting or being sent).'),
      queueBytes: t.gauge('profcol_exporter_queue_bytes', 'JSON bytes of the requests held by the sending queue.'),
    };
  }

  async start(_host?: Host): Promise<void> {
    if (this.started) return;
    const { config, settings } = this;
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
        this.m.failedPoints.add(rejected, { reason: 'partial_success' });
        this.logger.warn({ exporter: settings.id, rejectedDataPoints: rejected, message }, 'the OTLP backend accepted a request but rejected some of its points');
      },
    });
    const queue = config.sending_queue;
    if (queue.enabled && queue.storage) {
      const dir = path.resolve(settings.baseDir, queue.storage, storageSubdir(settings.id));
      this.store = new DiskStore(dir);
      const { entries, leftovers } = await this.store.open((error) => this.countCorrupt(error));
      if (leftovers > 0) this.logger.info({ exporter: settings.id, dir, files: leftovers }, 'removed half-written queue files of batches that were never acknowledged');
      for (const stored of entries) this.enqueue({ request: undefined, file: stored.file, bytes: stored.bytes, points: stored.points });
      if (entries.length > 0) {
        this.m.replayed.add(entries.length);
        this.logger.info({ exporter: settings.id, dir, requests: entries.length, points: entries.reduce((n, e) => n + e.points, 0) }, 'replaying the persistent sending queue');
      }
    }
    if (queue.enabled) {
      for (let i = 0; i < queue.num_consumers; i++) this.consumers.push(this.runConsumer());
    }
    this.started = true;
    this.logger.info(
      { exporter: settings.id, url: this.url, protocol: config.protocol, compression: config.compression, queue: queue.enabled ? { size: queue.queue_size, consumers: queue.num_consumers, storage: this.store?.dir ?? null } : false },
      'OTLP exporter started',
    );
  }

  async consume(batch: Batch): Promise<void> {
    if (batch.metrics.length === 0) return;
    if (this.closing) {
      this.m.refused.add(1, { reason: 'shutting_down' });
      throw new BackpressureError(`exporter "${this.settings.id}" is shutting down and takes no more batches`, 1000);
    }
    if (!this.started || !this.sender) throw new OtlpExporterError(`exporter "${this.settings.id}" got a batch before it was started`);
    const requests = toRequests(batch.metrics, this.config.resource_drop);
    if (!this.config.sending_queue.enabled) return this.sendDirect(requests);

    const { queue_size, max_bytes } = this.config.sending_queue;
    const sized = requests.map((request) => {
      const json = this.store || max_bytes !== undefined ? encodeRequest(request) : undefined;
      return { request, json, bytes: json === undefined ? 0 : Buffer.byteLength(json) };
    });
    const bytes = sized.reduce((n, s) => n + s.bytes, 0);
    // An empty queue always takes a batch, however big, so that one large batch cannot wedge a pipeline.
    const full = this.held > 0 && (this.held + requests.length > queue_size || (max_bytes !== undefined && this.heldBytes + bytes > max_bytes));
    if (full) {
      this.m.refused.add(1, { reason: 'queue_full' });
      // Under sustained backpressure every batch is refused: log the first and then a count every 10 s.
      this.refusedUnlogged++;
      if (Date.now() - this.refusedLoggedAt >= 10_000) {
        this.logger.warn({ exporter: this.settings.id, refused: this.refusedUnlogged, held: this.held, queue_size, heldBytes: this.heldBytes, max_bytes }, 'sending queue is full; refusing batches (backpressure)');
        this.refusedLoggedAt = Date.now();
        this.refusedUnlogged = 0;
      }
      throw new BackpressureError(
        `exporter "${this.settings.id}": the sending queue is full (${this.held} of ${queue_size} requests${max_bytes !== undefined ? `, ${this.heldBytes} of ${max_bytes} bytes` : ''}); ${this.url} is not keeping up or is down — retry later`,
        this.config.retry_on_failure.initial_interval,
      );
    }
    // Reserve before any await, so that concurrent batches cannot overshoot the bounds.
    this.held += requests.length;
    this.heldBytes += bytes;
    const entries: Entry[] = sized.map(({ request, bytes: b }) => ({ request, file: undefined, bytes: b, points: request.points.length }));
    if (this.store) {
      const store = this.store;
      const results = await Promise.allSettled(entries.map(async (entry, i) => (entry.file = (await store.write(entry.request!, sized[i]!.json)).file)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        await Promise.all(entries.filter((e) => e.file).map((e) => store.remove(e.file!)));
        this.held -= requests.length;
        this.heldBytes -= bytes;
        this.m.refused.add(1, { reason: 'storage_error' });
        this.logger.error({ exporter: this.settings.id, err: failed.reason }, 'could not persist a batch; refusing it');
        throw new BackpressureError(`exporter "${this.settings.id}": ${(failed.reason as Error).message}`, this.config.retry_on_failure.initial_interval, { cause: failed.reason });
      }
    }
    // Accounted already: push without counting again.
    for (const entry of entries) this.push(entry);
    this.updateGauges();
  }

  /** Counts a restored entry against the bounds and queues it. */
  private enqueue(entry: Entry): void {
    this.held++;
    this.heldBytes += entry.bytes;
    this.push(entry);
    this.updateGauges();
  }

  private push(entry: Entry): void {
    const taker = this.takers.shift();
    if (taker) taker(entry);
    else this.queue.push(entry);
  }

  private release(entry: Entry): void {
    this.held--;
    this.heldBytes -= entry.bytes;
    this.updateGauges();
  }

  private updateGauges(): void {
    this.m.queueSize.set(this.held);
    this.m.queueBytes.set(this.heldBytes);
  }

  /** The next entry, or undefined once the exporter stops (queue drained, or hard stop). */
  private take(): Promise<Entry | undefined> {
    if (this.hardStop.signal.aborted) return Promise.resolve(undefined);
    const entry = this.queue.shift();
    if (entry) return Promise.resolve(entry);
    if (this.closing) return Promise.resolve(undefined);
    return new Promise((resolve) => this.takers.push(resolve));
  }

  private async runConsumer(): Promise<void> {
    for (let entry = await this.take(); entry; entry = await this.take()) {
      try {
        await this.deliver(entry);
      } catch (error) {
        this.logger.error({ exporter: this.settings.id, err: error }, 'unexpected error while sending a queued request');
      } finally {
        this.release(entry);
      }
    }
  }

  private async deliver(entry: Entry): Promise<void> {
    let request = entry.request;
    if (!request) {
      try {
        request = await this.store!.read(entry.file!);
      } catch (error) {
        if (error instanceof CorruptFileError) this.countCorrupt(error);
        else this.logger.error({ exporter: this.settings.id, file: entry.file, err: error }, 'cannot read a queued request; it stays on disk for the next start');
        return;
      }
    }
    const outcome = await this.sendWithRetry(request);
    if (outcome.kind === 'aborted') {
      if (this.store) return; // stays on disk, sent on the next start
      this.m.failedPoints.add(entry.points, { reason: 'shutdown' });
      this.logger.error({ exporter: this.settings.id, points: entry.points }, 'dropped an unsent request at shutdown (no persistent storage)');
      return;
    }
    if (outcome.kind === 'dropped') {
      this.m.failedPoints.add(entry.points, { reason: outcome.reason });
      this.logger.error({ exporter: this.settings.id, points: entry.points, reason: outcome.reason, url: this.url }, `dropped a request: ${outcome.message}`);
    }
    if (entry.file) await this.store!.remove(entry.file);
  }

  private async sendDirect(requests: ExportRequest[]): Promise<void> {
    const work = Promise.all(requests.map((request) => this.sendWithRetry(request)));
    this.direct.add(work);
    let outcomes: Outcome[];
    try {
      outcomes = await work;
    } finally {
      this.direct.delete(work);
    }
    const failed = outcomes.find((o): o is Extract<Outcome, { kind: 'dropped' }> => o.kind === 'dropped');
    if (failed) {
      const message = `exporter "${this.settings.id}" could not deliver a batch to ${this.url}: ${failed.message}`;
      throw failed.retryable ? new BackpressureError(message, this.config.retry_on_failure.initial_interval) : new PermanentError(message);
    }
    if (outcomes.some((o) => o.kind === 'aborted')) throw new BackpressureError(`exporter "${this.settings.id}" stopped before the batch was delivered`, 1000);
  }

  /** Sends one request, retrying as configured. */
  private async sendWithRetry(request: ExportRequest): Promise<Outcome> {
    const retry = this.config.retry_on_failure;
    const backoff = new Backoff(retry);
    const started = Date.now();
    const resourceMetrics = toResourceMetrics(request);
    const points = request.points.length;
    for (let attempt = 1; ; attempt++) {
      if (this.hardStop.signal.aborted) return { kind: 'aborted' };
      const result = await this.sender!.send(resourceMetrics);
      if (result.ok) {
        this.m.sentPoints.add(points);
        this.m.sentRequests.add(1);
        if (attempt > 1) this.logger.info({ exporter: this.settings.id, attempt, points }, 'request delivered after retrying');
        return { kind: 'delivered' };
      }
      if (this.hardStop.signal.aborted) return { kind: 'aborted' };
      this.m.failedAttempts.add(1, { reason: result.reason });
      if (!result.retryable) return { kind: 'dropped', reason: result.reason, message: result.message, retryable: false };
      if (!retry.enabled) return { kind: 'dropped', reason: result.reason, message: `${result.message} (retry_on_failure is disabled)`, retryable: true };
      let delay = backoff.next();
      if (result.retryAfterMs !== undefined) delay = Math.max(delay, result.retryAfterMs);
      const elapsed = Date.now() - started;
      if (retry.max_elapsed_time > 0 && elapsed + delay > retry.max_elapsed_time) {
        return { kind: 'dropped', reason: 'retries_exhausted', message: `gave up after ${attempt} attempts in ${elapsed} ms (max_elapsed_time ${retry.max_elapsed_time} ms); last error: ${result.message}`, retryable: true };
      }
      this.m.retries.add(1, { reason: result.reason });
      this.logger.warn({ exporter: this.settings.id, attempt, reason: result.reason, status: result.status, retryAfterMs: result.retryAfterMs, delayMs: delay, points }, `send failed, retrying: ${result.message}`);
      if (!(await sleep(delay, this.hardStop.signal))) return { kind: 'aborted' };
    }
  }

  private countCorrupt(error: CorruptFileError): void {
    this.m.corrupt.add(1);
    this.logger.error({ exporter: this.settings.id, file: error.file }, error.message);
  }

  private async createAgent(): Promise<http.Agent> {
    const { tls } = this.config;
    const { ca, cert, key } = await readTlsFiles(this.settings.baseDir, tls, `exporters::${this.settings.id}::tls`);
    const options = { keepAlive: true, maxSockets: Math.max(this.config.sending_queue.num_consumers, 16) };
    if (new URL(this.url).protocol === 'https:') {
      return new https.Agent({ ...options, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: !tls.insecure_skip_verify });
    }
    if (ca || cert || tls.insecure_skip_verify) this.logger.warn({ exporter: this.settings.id, url: this.url }, 'tls settings are ignored for an http:// endpoint');
    return new http.Agent(options);
  }

  /**
   * Refuses new batches, keeps sending what is queued for up to `drain_timeout`, then stops
   * what is still in flight. Unsent persistent requests stay on disk for the next start.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.stop();
    return this.shutdownPromise;
  }

  private async stop(): Promise<void> {
    this.closing = true;
    for (const taker of this.takers.splice(0)) taker(undefined);
    if (!this.started) return;
    const startedAt = Date.now();
    const work = Promise.all([...this.consumers, ...this.direct]).then(() => true);
    // The drain timer is cancelled as soon as the work wins: a pending timer would keep a
    // library user's process alive for the rest of drain_timeout.
    const drainTimer = new AbortController();
    const drained = await Promise.race([work, sleep(this.config.drain_timeout, drainTimer.signal).then(() => false)]);
    drainTimer.abort();
    if (!drained) {
      this.hardStop.abort();
      this.sender?.abort();
      await work;
    }
    const left = this.queue.splice(0);
    const leftPoints = left.reduce((n, e) => n + e.points, 0);
    if (left.length > 0 && !this.store) {
      this.m.failedPoints.add(leftPoints, { reason: 'shutdown' });
      this.logger.error({ exporter: this.settings.id, requests: left.length, points: leftPoints }, 'dropped unsent requests at shutdown (no persistent storage)');
    }
    for (const entry of left) this.release(entry);
    await this.sender?.shutdown();
    this.agent?.destroy();
    const onDisk = this.store ? (await fs.readdir(this.store.dir).catch(() => [] as string[])).filter((n) => n.endsWith('.otlpq')).length : 0;
    this.logger.info(
      { exporter: this.settings.id, drained, tookMs: Date.now() - startedAt, leftOnDisk: onDisk, stats: this.stats() },
      drained ? 'OTLP exporter stopped; queue drained' : `OTLP exporter stopped after drain_timeout; ${this.store ? `${onDisk} requests stay on disk for the next start` : `${this.tally['send_failed_metric_points{shutdown}'] ?? 0} points dropped`}`,
    );
  }

  /** What this exporter did, for logs and tests: `sent_metric_points`, `send_failed_metric_points{http_400}`, ... */
  stats(): Record<string, number> {
    return { ...this.tally, queue_size: this.held, queue_bytes: this.heldBytes };
  }
}

export { StorageError };
