/**
 * The exporter helper: what the OpenTelemetry Collector's exporterhelper gives every exporter,
 * for profcol's. An exporter says how a batch becomes requests and how one request is sent
 * once; the helper adds the bounded sending queue (by requests and bytes), retries with
 * exponential backoff that honour `Retry-After`, an optional persistent queue that survives a
 * SIGKILL, a per-attempt timeout, cancellation, the drain on shutdown, and the counters and
 * log lines of each of these.
 */
import path from 'node:path';
import type { ConsumeOptions, CreateSettings, Exporter, Host } from '../component.js';
import { BackpressureError, ProfcolError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Batch } from '../model.js';
import type { Counter, Gauge } from '../telemetry.js';
import { Backoff, sleep } from './backoff.js';
import type { ExporterHelperConfig } from './config.js';
import { CorruptQueueFileError, DiskQueue, storageSubdir, type RequestCodec } from './disk-queue.js';
import { failureReason, isRetryable, retryAfterOf } from './send-errors.js';

/** What a request carries, for the sent and failed counters. */
export interface RequestItems {
  points?: number;
  bundles?: number;
}

export interface SendContext {
  /** Aborted when the attempt timed out (`timeout`), the exporter is stopping for good, or the caller stopped waiting. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
}

export interface ExporterHelperOptions<R> {
  settings: CreateSettings;
  config: ExporterHelperConfig;
  /** What logs call the exporter: `OTLP exporter`, `file exporter`. */
  name: string;
  /** Where requests go, for messages: a URL, a directory. */
  destination: string;
  /** The requests a batch becomes, sent (and retried) one by one; none means nothing to do. */
  toRequests(batch: Batch): R[];
  itemsOf(request: R): RequestItems;
  /**
   * Sends one request once; resolves when the destination has it. Throw a `PermanentError` for
   * a request that can never be sent; anything else thrown is retried (see send-errors.ts).
   */
  send(request: R, context: SendContext): Promise<void>;
  /** Needed for `sending_queue.storage` (and used to size requests for `max_bytes`). */
  codec?: RequestCodec<R>;
  /** The size `max_bytes` counts when there is no codec. */
  sizeOf?(request: R): number;
  /** Names the queue files (`.otlpq`); default `.pcq`. */
  fileSuffix?: string;
  /** Runs first in `start` (open connections, check folders). */
  start?(host: Host | undefined): Promise<void> | void;
  /** Runs last in `shutdown`, once the queue drained or was given up. */
  shutdown?(): Promise<void> | void;
}

/** One queued request: held in memory, or only on disk (replayed after a restart). */
interface Entry<R> {
  request: R | undefined;
  file: string | undefined;
  bytes: number;
  items: Required<RequestItems>;
}

type Outcome = { kind: 'delivered' } | { kind: 'dropped'; reason: string; error: unknown } | { kind: 'aborted' };

export class ExporterHelperError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('exporter_helper', message, options);
  }
}

const ITEM_NOUNS = { points: ['point', 'points'], bundles: ['bundle', 'bundles'] } as const;

/** `3 points`, `1 bundle and 2 points`: what was dropped, for log lines. */
export function describeItems(items: RequestItems): string {
  const parts = (['bundles', 'points'] as const).filter((k) => (items[k] ?? 0) > 0).map((k) => `${items[k]} ${ITEM_NOUNS[k][items[k] === 1 ? 0 : 1]}`);
  return parts.length > 0 ? parts.join(' and ') : '0 points';
}

function fullItems(items: RequestItems): Required<RequestItems> {
  return { points: items.points ?? 0, bundles: items.bundles ?? 0 };
}

/** Builds an exporter around `send`: `createQueuedExporter({...})` is what a factory's `create` returns. */
export function createQueuedExporter<R>(options: ExporterHelperOptions<R>): QueuedExporter<R> {
  return new QueuedExporter(options);
}

export class QueuedExporter<R> implements Exporter {
  private readonly logger: Logger;
  private readonly id: string;
  private store: DiskQueue<R> | undefined;

  private readonly queue: Entry<R>[] = [];
  /** Requests held (queued or being sent) and their bytes: what `queue_size`/`max_bytes` bound. */
  private held = 0;
  private heldBytes = 0;
  private takers: ((entry: Entry<R> | undefined) => void)[] = [];
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
  /** The same counts as the telemetry, for the shutdown log line and `stats()`. */
  private readonly tally: Record<string, number> = {};

  constructor(private readonly options: ExporterHelperOptions<R>) {
    const { settings } = options;
    this.logger = settings.logger;
    this.id = settings.id;
    if (options.config.sending_queue.storage && !options.codec) {
      throw new ExporterHelperError(
        `exporters::${this.id}::sending_queue::storage: this exporter cannot persist its requests (it gives the exporter helper no codec); remove storage`,
      );
    }
    const tally = this.tally;
    const counter = (name: string, description: string) => {
      const inner = settings.telemetry.counter(name, description);
      const short = name.replace(/^profcol_exporter_/, '').replace(/_total$/, '');
      return {
        add: (value = 1, labels: Record<string, string> = {}) => {
          if (value === 0) return;
          inner.add(value, labels);
          const key = labels['reason'] ? `${short}{${labels['reason']}}` : short;
          tally[key] = (tally[key] ?? 0) + value;
        },
      } satisfies Counter;
    };
    const gauge = (name: string, description: string): Gauge => settings.telemetry.gauge(name, description);
    this.m = {
      sentPoints: counter('profcol_exporter_sent_metric_points_total', 'Metric points an exporter delivered.'),
      sentBundles: counter('profcol_exporter_sent_bundles_total', 'Profile bundles an exporter delivered.'),
      sentRequests: counter('profcol_exporter_sent_requests_total', 'Requests the destination accepted.'),
      failedAttempts: counter(
        'profcol_exporter_send_failed_attempts_total',
        'Failed send attempts (a retried request may fail several), by reason (http_503, ECONNREFUSED, ENOSPC, timeout, ...).',
      ),
      retries: counter('profcol_exporter_retries_total', 'Requests scheduled for another attempt, by reason.'),
      failedPoints: counter('profcol_exporter_send_failed_metric_points_total', 'Metric points an exporter failed to deliver, by reason.'),
      failedBundles: counter('profcol_exporter_send_failed_bundles_total', 'Profile bundles an exporter failed to deliver, by reason.'),
      refused: counter(
        'profcol_exporter_queue_refused_batches_total',
        'Batches the sending queue refused with backpressure (enqueue failed), by reason (queue_full, shutting_down, storage_error).',
      ),
      corrupt: counter('profcol_exporter_queue_corrupt_files_total', 'Queue files that failed their checksum or did not parse; moved to corrupt/ and skipped.'),
      replayed: counter('profcol_exporter_queue_replayed_requests_total', 'Requests found on disk at start and sent again.'),
      queueSize: gauge('profcol_exporter_queue_size', 'Requests held by the sending queue (waiting or being sent).'),
      queueBytes: gauge('profcol_exporter_queue_bytes', 'Encoded bytes of the requests held by the sending queue.'),
      queueCapacity: gauge('profcol_exporter_queue_capacity', 'queue_size: the requests the sending queue holds at most.'),
      sendDuration: settings.telemetry.histogram(
        'profcol_exporter_send_duration_seconds',
        'Time one send attempt of a request took, until the destination answered, failed or the attempt timed out, by outcome (delivered, failed), in seconds.',
        { unit: 's' },
      ),
    };
  }

  get config(): ExporterHelperConfig {
    return this.options.config;
  }

  async start(host?: Host): Promise<void> {
    if (this.started) return;
    const { config, settings } = this.options;
    await this.options.start?.(host);
    const queue = config.sending_queue;
    if (queue.enabled && queue.storage) {
      const dir = path.resolve(settings.baseDir, queue.storage, storageSubdir(settings.id));
      this.store = new DiskQueue(dir, this.options.codec!, this.options.fileSuffix);
      const { stored, leftovers } = await this.store.open((error) => this.countCorrupt(error));
      if (leftovers > 0)
        this.logger.info({ exporter: this.id, dir, files: leftovers }, 'removed half-written queue files of batches that were never acknowledged');
      let items: Required<RequestItems> = { points: 0, bundles: 0 };
      for (const found of stored) {
        const entryItems = fullItems(this.options.itemsOf(found.request));
        items = { points: items.points + entryItems.points, bundles: items.bundles + entryItems.bundles };
        this.enqueue({ request: undefined, file: found.file, bytes: found.bytes, items: entryItems });
      }
      if (stored.length > 0) {
        this.m.replayed.add(stored.length);
        this.logger.info({ exporter: this.id, dir, requests: stored.length, ...items }, 'replaying the persistent sending queue');
      }
    }
    if (queue.enabled) {
      this.m.queueCapacity.set(queue.queue_size);
      for (let i = 0; i < queue.num_consumers; i++) this.consumers.push(this.runConsumer());
    }
    this.started = true;
  }

  /** Where the persistent queue keeps its files, when it has one. */
  get storageDir(): string | undefined {
    return this.store?.dir;
  }

  async consume(batch: Batch, options?: ConsumeOptions): Promise<void> {
    if (this.closing) {
      this.m.refused.add(1, { reason: 'shutting_down' });
      throw new BackpressureError(`exporter "${this.id}" is shutting down and takes no more batches`, 1000);
    }
    if (!this.started) throw new ExporterHelperError(`exporter "${this.id}" got a batch before it was started`);
    const requests = this.options.toRequests(batch);
    if (requests.length === 0) return;
    if (!this.options.config.sending_queue.enabled) return this.sendDirect(requests, options?.signal);

    const { queue_size, max_bytes } = this.options.config.sending_queue;
    const encode = this.store || max_bytes !== undefined;
    const sized = requests.map((request) => {
      const data = encode && this.options.codec ? (this.store?.encode(request) ?? Buffer.from(this.options.codec.encode(request))) : undefined;
      return { request, data, bytes: data?.length ?? (max_bytes !== undefined ? (this.options.sizeOf?.(request) ?? 0) : 0) };
    });
    const bytes = sized.reduce((n, s) => n + s.bytes, 0);
    // An empty queue always takes a batch, however big, so that one large batch cannot wedge a pipeline.
    const full = this.held > 0 && (this.held + requests.length > queue_size || (max_bytes !== undefined && this.heldBytes + bytes > max_bytes));
    if (full) {
      this.m.refused.add(1, { reason: 'queue_full' });
      // Under sustained backpressure every batch is refused: log the first and then a count every 10 s.
      this.refusedUnlogged++;
      if (Date.now() - this.refusedLoggedAt >= 10_000) {
        this.logger.warn(
          { exporter: this.id, refused: this.refusedUnlogged, held: this.held, queue_size, heldBytes: this.heldBytes, max_bytes },
          'sending queue is full; refusing batches (backpressure)',
        );
        this.refusedLoggedAt = Date.now();
        this.refusedUnlogged = 0;
      }
      throw new BackpressureError(
        `exporter "${this.id}": the sending queue is full (${this.held} of ${queue_size} requests${max_bytes !== undefined ? `, ${this.heldBytes} of ${max_bytes} bytes` : ''}); ${this.options.destination} is not keeping up or is down — retry later`,
        this.options.config.retry_on_failure.initial_interval,
      );
    }
    // Reserve before any await, so that concurrent batches cannot overshoot the bounds.
    this.held += requests.length;
    this.heldBytes += bytes;
    const entries: Entry<R>[] = sized.map(({ request, bytes: b }) => ({ request, file: undefined, bytes: b, items: fullItems(this.options.itemsOf(request)) }));
    if (this.store) {
      const store = this.store;
      const results = await Promise.allSettled(entries.map(async (entry, i) => (entry.file = (await store.write(sized[i]!.data!)).file)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        await Promise.all(entries.filter((e) => e.file).map((e) => store.remove(e.file!)));
        this.held -= requests.length;
        this.heldBytes -= bytes;
        this.updateGauges();
        this.m.refused.add(1, { reason: 'storage_error' });
        this.logger.error({ exporter: this.id, err: failed.reason }, 'could not persist a batch; refusing it');
        throw new BackpressureError(`exporter "${this.id}": ${(failed.reason as Error).message}`, this.options.config.retry_on_failure.initial_interval, {
          cause: failed.reason,
        });
      }
      // Only the file is needed from now on: what is queued on disk does not stay in memory too.
      for (const entry of entries) entry.request = undefined;
    }
    for (const entry of entries) this.push(entry);
    this.updateGauges();
  }

  /** Counts a restored entry against the bounds and queues it. */
  private enqueue(entry: Entry<R>): void {
    this.held++;
    this.heldBytes += entry.bytes;
    this.push(entry);
    this.updateGauges();
  }

  private push(entry: Entry<R>): void {
    const taker = this.takers.shift();
    if (taker) taker(entry);
    else this.queue.push(entry);
  }

  private release(entry: Entry<R>): void {
    this.held--;
    this.heldBytes -= entry.bytes;
    this.updateGauges();
  }

  private updateGauges(): void {
    this.m.queueSize.set(this.held);
    this.m.queueBytes.set(this.heldBytes);
  }

  /** The next entry, or undefined once the exporter stops (queue drained, or hard stop). */
  private take(): Promise<Entry<R> | undefined> {
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
        this.logger.error({ exporter: this.id, err: error }, 'unexpected error while sending a queued request');
      } finally {
        this.release(entry);
      }
    }
  }

  private countFailed(items: Required<RequestItems>, reason: string): void {
    this.m.failedPoints.add(items.points, { reason });
    this.m.failedBundles.add(items.bundles, { reason });
  }

  private async deliver(entry: Entry<R>): Promise<void> {
    let request = entry.request;
    if (request === undefined) {
      try {
        request = await this.store!.read(entry.file!);
      } catch (error) {
        if (error instanceof CorruptQueueFileError) this.countCorrupt(error);
        else this.logger.error({ exporter: this.id, file: entry.file, err: error }, 'cannot read a queued request; it stays on disk for the next start');
        return;
      }
    }
    const outcome = await this.sendWithRetry(request, entry.items);
    if (outcome.kind === 'aborted') {
      if (this.store) return; // stays on disk, sent on the next start
      this.countFailed(entry.items, 'shutdown');
      this.logger.error({ exporter: this.id, ...entry.items }, `dropped an unsent request at shutdown (no persistent storage): ${describeItems(entry.items)}`);
      return;
    }
    if (outcome.kind === 'dropped') this.logDrop(entry.items, outcome);
    if (entry.file) await this.store!.remove(entry.file);
  }

  private logDrop(items: Required<RequestItems>, outcome: Extract<Outcome, { kind: 'dropped' }>): void {
    this.countFailed(items, outcome.reason);
    this.logger.error(
      { exporter: this.id, ...items, reason: outcome.reason, destination: this.options.destination },
      `dropped a request (${describeItems(items)}): ${(outcome.error as Error)?.message ?? String(outcome.error)}`,
    );
  }

  private async sendDirect(requests: R[], signal: AbortSignal | undefined): Promise<void> {
    const work = Promise.all(
      requests.map(async (request) => {
        const items = fullItems(this.options.itemsOf(request));
        const outcome = await this.sendWithRetry(request, items, signal);
        if (outcome.kind === 'dropped') this.logDrop(items, outcome);
        else if (outcome.kind === 'aborted') this.countFailed(items, signal?.aborted ? 'cancelled' : 'shutdown');
        return outcome;
      }),
    );
    this.direct.add(work);
    let outcomes: Outcome[];
    try {
      outcomes = await work;
    } finally {
      this.direct.delete(work);
    }
    // The error of the send itself, so the receiver can tell "never" (PermanentError) from "later".
    const failed = outcomes.find((o): o is Extract<Outcome, { kind: 'dropped' }> => o.kind === 'dropped');
    if (failed) throw failed.error;
    if (outcomes.some((o) => o.kind === 'aborted')) {
      throw new BackpressureError(
        `exporter "${this.id}" stopped before the batch was delivered to ${this.options.destination}${signal?.aborted ? ' (the caller cancelled it)' : ''}`,
        1000,
      );
    }
  }

  /** One attempt, bounded by `timeout` and by `signals`. Never throws: returns the error. */
  private async attempt(request: R, attempt: number, signals: AbortSignal[]): Promise<{ ok: true } | { ok: false; error: unknown; timedOut: boolean }> {
    const timeout = new AbortController();
    const unlink = follow(timeout, signals);
    const signal = timeout.signal;
    const timedOut = (): boolean => signal.aborted && signal.reason instanceof RetryTimeout;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // A send that ignores its signal is still not waited for past the timeout or a stop.
    const stopped = new Promise<{ ok: false; error: unknown; timedOut: boolean }>((resolve) => {
      onAbort = () => resolve({ ok: false, error: signal.reason, timedOut: timedOut() });
      timer = setTimeout(() => timeout.abort(new RetryTimeout(this.options.config.timeout)), this.options.config.timeout);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([
        this.options.send(request, { signal, attempt }).then(
          () => ({ ok: true }) as const,
          (error: unknown) => ({ ok: false, error, timedOut: timedOut() }) as const,
        ),
        stopped,
      ]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort!);
      unlink();
    }
  }

  /** Sends one request, retrying as configured. */
  private async sendWithRetry(request: R, items: Required<RequestItems>, callerSignal?: AbortSignal): Promise<Outcome> {
    const retry = this.options.config.retry_on_failure;
    const backoff = new Backoff(retry);
    const started = Date.now();
    let stop = this.hardStop.signal;
    let unlinkCaller = (): void => {};
    if (callerSignal) {
      const both = new AbortController();
      unlinkCaller = follow(both, [this.hardStop.signal, callerSignal]);
      stop = both.signal;
    }
    try {
      return await this.sendWithRetryUntil(request, items, retry, backoff, started, stop);
    } finally {
      unlinkCaller();
    }
  }

  private async sendWithRetryUntil(
    request: R,
    items: Required<RequestItems>,
    retry: ExporterHelperConfig['retry_on_failure'],
    backoff: Backoff,
    started: number,
    stop: AbortSignal,
  ): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      if (stop.aborted) return { kind: 'aborted' };
      const attemptStarted = performance.now();
      const result = await this.attempt(request, attempt, [stop]);
      this.m.sendDuration.record((performance.now() - attemptStarted) / 1000, { outcome: result.ok ? 'delivered' : 'failed' });
      if (result.ok) {
        this.m.sentPoints.add(items.points);
        this.m.sentBundles.add(items.bundles);
        this.m.sentRequests.add(1);
        if (attempt > 1) this.logger.info({ exporter: this.id, attempt, ...items }, 'request delivered after retrying');
        return { kind: 'delivered' };
      }
      if (stop.aborted && !result.timedOut) return { kind: 'aborted' };
      const error = result.timedOut ? new RetryTimeout(this.options.config.timeout, result.error) : result.error;
      const reason = failureReason(error);
      this.m.failedAttempts.add(1, { reason });
      if (!isRetryable(error)) return { kind: 'dropped', reason, error };
      if (!retry.enabled) return { kind: 'dropped', reason, error };
      let delay = backoff.next();
      const retryAfterMs = retryAfterOf(error);
      if (retryAfterMs !== undefined) delay = Math.max(delay, retryAfterMs);
      const elapsed = Date.now() - started;
      if (retry.max_elapsed_time > 0 && elapsed + delay > retry.max_elapsed_time) {
        const message = `gave up after ${attempt} attempts in ${elapsed} ms (max_elapsed_time ${retry.max_elapsed_time} ms); last error: ${(error as Error)?.message ?? String(error)}`;
        this.logger.warn({ exporter: this.id, attempt, reason }, message);
        return { kind: 'dropped', reason: 'retries_exhausted', error };
      }
      this.m.retries.add(1, { reason });
      this.logger.warn(
        { exporter: this.id, attempt, reason, status: (error as { status?: number }).status, retryAfterMs, delayMs: delay, ...items },
        `send failed, retrying: ${(error as Error)?.message ?? String(error)}`,
      );
      if (!(await sleep(delay, stop))) return { kind: 'aborted' };
    }
  }

  private countCorrupt(error: CorruptQueueFileError): void {
    this.m.corrupt.add(1);
    this.logger.error({ exporter: this.id, file: error.file }, error.message);
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
    const drained = await Promise.race([work, sleep(this.options.config.drain_timeout, drainTimer.signal).then(() => false)]);
    drainTimer.abort();
    if (!drained) {
      this.hardStop.abort(new ExporterHelperError(`exporter "${this.id}" stopped: drain_timeout passed`));
      await work;
    }
    const left = this.queue.splice(0);
    const leftItems = left.reduce((n, e) => ({ points: n.points + e.items.points, bundles: n.bundles + e.items.bundles }), { points: 0, bundles: 0 });
    if (left.length > 0 && !this.store) {
      this.countFailed(leftItems, 'shutdown');
      this.logger.error({ exporter: this.id, requests: left.length, ...leftItems }, 'dropped unsent requests at shutdown (no persistent storage)');
    }
    for (const entry of left) this.release(entry);
    await this.options.shutdown?.();
    const onDisk = this.store ? await this.store.count() : 0;
    const dropped = { points: this.tally['send_failed_metric_points{shutdown}'] ?? 0, bundles: this.tally['send_failed_bundles{shutdown}'] ?? 0 };
    this.logger.info(
      { exporter: this.id, drained, tookMs: Date.now() - startedAt, leftOnDisk: onDisk, stats: this.stats() },
      drained
        ? `${this.options.name} stopped; queue drained`
        : `${this.options.name} stopped after drain_timeout; ${this.store ? `${onDisk} requests stay on disk for the next start` : `${describeItems(dropped)} dropped`}`,
    );
  }

  /** What this exporter did, for logs and tests: `sent_metric_points`, `send_failed_metric_points{http_400}`, ... */
  stats(): Record<string, number> {
    return { ...this.tally, queue_size: this.held, queue_bytes: this.heldBytes };
  }
}

/** An attempt that did not finish within `timeout`; retried. */
export class RetryTimeout extends ProfcolError {
  readonly reason = 'timeout';
  constructor(timeoutMs: number, cause?: unknown) {
    super('timeout', `no answer within the timeout of ${timeoutMs} ms`, cause === undefined ? undefined : { cause });
  }
}

/**
 * Aborts `controller` when any of `parents` aborts (at once if one already has), and returns
 * what undoes the link. `AbortSignal.any` does the same but cost a few per cent of the push
 * path's CPU (it runs for every attempt of every request); these links live only as long as
 * the attempt.
 */
function follow(controller: AbortController, parents: readonly AbortSignal[]): () => void {
  const aborted = parents.find((parent) => parent.aborted);
  if (aborted) {
    controller.abort(aborted.reason);
    return () => {};
  }
  const listeners = parents.map((parent) => {
    const listener = (): void => controller.abort(parent.reason);
    parent.addEventListener('abort', listener, { once: true });
    return [parent, listener] as const;
  });
  return () => {
    for (const [parent, listener] of listeners) parent.removeEventListener('abort', listener);
  };
}
