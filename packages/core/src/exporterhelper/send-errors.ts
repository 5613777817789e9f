/**
 * How an exporter's `send` tells the helper what went wrong. Any error is retried (as the
 * Collector's exporterhelper does) unless it is a `PermanentError`. The helper labels its
 * counters with the error's `reason`, else its Node `code`/`errno`, else its `kind`; it waits at
 * least the error's `retryAfterMs` before the next attempt.
 */
import { BackpressureError, PermanentError } from '../errors.js';

/** The destination could not take the request now (a 503, a full disk); retried. */
export class RetryableSendError extends BackpressureError {
  /** A short word for counting: `http_503`, `ENOSPC`, `timeout`, ... */
  readonly reason: string;
  readonly status: number | undefined;
  constructor(message: string, options: { reason: string; retryAfterMs?: number | undefined; status?: number | undefined; cause?: unknown }) {
    super(message, options.retryAfterMs, { cause: options.cause });
    this.reason = options.reason;
    this.status = options.status;
  }
}

/** The destination will never take this request (a 400): dropped at once, counted, not retried. */
export class PermanentSendError extends PermanentError {
  readonly reason: string;
  readonly status: number | undefined;
  constructor(message: string, options: { reason: string; status?: number | undefined; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.reason = options.reason;
    this.status = options.status;
  }
}

/** The counter label of a send failure. */
export function failureReason(error: unknown): string {
  const e = error as { reason?: unknown; errno?: unknown; code?: unknown; kind?: unknown } | undefined;
  for (const candidate of [e?.reason, e?.errno, e?.code, e?.kind]) if (typeof candidate === 'string' && candidate !== '') return candidate;
  return 'error';
}

export function isRetryable(error: unknown): boolean {
  return !(error instanceof PermanentError);
}

export function retryAfterOf(error: unknown): number | undefined {
  const value = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
