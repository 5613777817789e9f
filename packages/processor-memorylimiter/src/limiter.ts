/**
 * The `memory_limiter` processor, as the OpenTelemetry Collector's memorylimiterprocessor:
 * memory is measured every `check_interval`; while it is above the soft limit (limit minus
 * spike) every batch is refused with a retryable `BackpressureError`, which a push receiver
 * answers 503 with `Retry-After` and a pull receiver counts as a refused round; above the hard
 * limit a garbage collection is also forced, when Node exposes one (`--expose-gc`).
 */
import { BackpressureError, formatBytes, type Batch, type Counter, type CreateSettings, type Gauge, type Processor } from '@profcol/core';
import type { MemoryLimits, MemoryLimiterConfig } from './config.js';
import type { MemoryReader } from './memory.js';

export type MemoryState = 'ok' | 'soft_limit' | 'hard_limit';

/** A batch refused because memory is above the soft limit; retrying once memory has fallen can succeed. */
export class MemoryLimitError extends BackpressureError {
  /** What a receiver counts and answers by: the ddtrace receiver answers `memory_limit` with 503. */
  readonly reason = 'memory_limit';
  constructor(
    message: string,
    retryAfterMs: number,
    readonly limit: Exclude<MemoryState, 'ok'>,
  ) {
    super(message, retryAfterMs);
  }
}

export interface MemoryLimiterOptions {
  /** Reads the memory compared with the limits; tests pass their own (see test/limiter.test.ts for why). */
  read: MemoryReader;
  /** Forces a garbage collection; absent when Node was not started with `--expose-gc`. */
  gc: (() => void) | undefined;
}

export class MemoryLimiterProcessor implements Processor {
  private stateValue: MemoryState = 'ok';
  private lastBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly retryAfterMs: number;
  private readonly m: {
    refusedBatches: Counter;
    refusedBundles: Counter;
    refusedPoints: Counter;
    changes: Counter;
    gcs: Counter;
    memory: Gauge;
    limit: Gauge;
  };

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: MemoryLimiterConfig,
    readonly limits: MemoryLimits,
    private readonly options: MemoryLimiterOptions,
  ) {
    // A client told to come back sooner than the next check would find the same reading.
    this.retryAfterMs = Math.max(1000, config.check_interval);
    const t = settings.telemetry;
    this.m = {
      refusedBatches: t.counter(
        'profcol_processor_memory_limiter_refused_batches_total',
        'Batches refused because memory was above the soft limit, by reason (soft_limit, hard_limit).',
      ),
      refusedBundles: t.counter('profcol_processor_memory_limiter_refused_bundles_total', 'Profile bundles in the refused batches, by reason.'),
      refusedPoints: t.counter('profcol_processor_memory_limiter_refused_metric_points_total', 'Metric points in the refused batches, by reason.'),
      changes: t.counter(
        'profcol_processor_memory_limiter_state_changes_total',
        'Times the memory state changed, by the state entered (ok, soft_limit, hard_limit); each change is logged.',
      ),
      gcs: t.counter('profcol_processor_memory_limiter_forced_gcs_total', 'Garbage collections forced above the hard limit (only with node --expose-gc).'),
      memory: t.gauge('profcol_processor_memory_limiter_memory_bytes', `Memory at the last check (${config.measure}).`),
      limit: t.gauge('profcol_processor_memory_limiter_limit_bytes', 'The limits in bytes, by limit (soft, hard).'),
    };
    this.m.limit.set(limits.softBytes, { limit: 'soft' });
    this.m.limit.set(limits.hardBytes, { limit: 'hard' });
  }

  get state(): MemoryState {
    return this.stateValue;
  }

  start(): void {
    const { hardBytes, softBytes } = this.limits;
    this.settings.logger.info(
      { measure: this.config.measure, softBytes, hardBytes, checkIntervalMs: this.config.check_interval, forcedGc: this.options.gc !== undefined },
      `memory_limiter: refusing data above ${formatBytes(softBytes)} (${this.config.measure}), hard limit ${formatBytes(hardBytes)}${this.options.gc ? '' : '; node runs without --expose-gc, so no GC is forced above the hard limit'}`,
    );
    this.check();
    this.timer = setInterval(() => this.check(), this.config.check_interval);
    // The check must not keep a process alive that has nothing else to do.
    this.timer.unref();
  }

  shutdown(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Measures memory once and updates the state (forcing a GC above the hard limit). */
  check(): MemoryState {
    let bytes = this.options.read();
    if (bytes >= this.limits.hardBytes && this.options.gc) {
      this.options.gc();
      this.m.gcs.add(1);
      const before = bytes;
      bytes = this.options.read();
      this.settings.logger.debug({ beforeBytes: before, afterBytes: bytes }, 'memory_limiter: forced a garbage collection above the hard limit');
    }
    this.lastBytes = bytes;
    this.m.memory.set(bytes);
    const next: MemoryState = bytes >= this.limits.hardBytes ? 'hard_limit' : bytes >= this.limits.softBytes ? 'soft_limit' : 'ok';
    if (next !== this.stateValue) this.changeState(next, bytes);
    return next;
  }

  private changeState(next: MemoryState, bytes: number): void {
    const previous = this.stateValue;
    this.stateValue = next;
    this.m.changes.add(1, { to: next });
    const context = {
      memoryBytes: bytes,
      softBytes: this.limits.softBytes,
      hardBytes: this.limits.hardBytes,
      measure: this.config.measure,
      from: previous,
      to: next,
    };
    const used = `${formatBytes(bytes)} ${this.config.measure}`;
    if (next === 'ok')
      this.settings.logger.info(
        context,
        `memory_limiter: memory back below the soft limit (${used} < ${formatBytes(this.limits.softBytes)}); accepting data again`,
      );
    else
      this.settings.logger.warn(
        context,
        `memory_limiter: memory above the ${next === 'hard_limit' ? 'hard' : 'soft'} limit (${used} ≥ ${formatBytes(next === 'hard_limit' ? this.limits.hardBytes : this.limits.softBytes)}); refusing data with backpressure`,
      );
  }

  process(batch: Batch): Batch {
    if (this.stateValue === 'ok') return batch;
    const reason = this.stateValue;
    this.m.refusedBatches.add(1, { reason });
    this.m.refusedBundles.add(batch.bundles.length, { reason });
    this.m.refusedPoints.add(batch.metrics.length, { reason });
    throw new MemoryLimitError(
      `memory_limiter "${this.settings.id}": memory is above the ${reason === 'hard_limit' ? 'hard' : 'soft'} limit (${formatBytes(this.lastBytes)} ${this.config.measure}, soft limit ${formatBytes(this.limits.softBytes)}); retry later`,
      this.retryAfterMs,
      reason,
    );
  }
}
