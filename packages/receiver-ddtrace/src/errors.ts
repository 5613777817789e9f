import { ProfcolError } from '@profcol/core';

/**
 * Every reason an upload is refused, with its HTTP status. The reason is the label of
 * `profcol_receiver_refused_uploads_total{reason}` and the `reason` of the JSON error body.
 */
export const REFUSAL_STATUS = {
  /** `api_keys` is set and `DD-API-KEY` is missing or not one of them. */
  unauthorized: 401,
  /** The upload path was called with another method than POST. */
  method_not_allowed: 405,
  /** The Content-Type is not `multipart/form-data`. */
  unsupported_media_type: 415,
  /** The body is larger than `max_request_bytes`. */
  request_too_large: 413,
  /** The attachments of an upload decompress to more than `service.limits.max_decompressed_bytes` together. */
  decompressed_too_large: 413,
  /** The request has no body. */
  empty_body: 400,
  /** The Content-Type has no usable boundary, or the body does not use it. */
  bad_boundary: 400,
  /** The multipart framing is broken (part headers, boundary lines). */
  bad_multipart: 400,
  /** The body ends before the closing boundary. */
  truncated: 400,
  /** More parts than the parser accepts. */
  too_many_parts: 400,
  /** No `event` part and no legacy fields: not a dd-trace profile upload. */
  missing_event: 400,
  /** The `event` part is not the expected JSON object. */
  bad_event: 400,
  /** `start`/`end` are missing, not RFC 3339, or end before start. */
  bad_window: 400,
  /**
   * `start`/`end` cannot be represented as 64-bit Unix nanoseconds (before 1970, after 2262), or
   * lie further from the receiver's clock than `max_clock_skew` (future) or `max_window_age` (past).
   */
  window_out_of_range: 400,
  /** `event.attachments` names a part the body does not have. */
  missing_attachment: 400,
  /** Two parts have the same name. */
  duplicate_part: 400,
  /** An attachment cannot be decompressed, or a `.pprof` attachment is not a valid pprof. */
  bad_attachment: 400,
  /** `metrics.json` is not a list of `[name, number]` pairs. */
  bad_metrics: 400,
  /** The pipeline refused the upload for good (a `PermanentError`); retrying cannot help. */
  pipeline_rejected: 400,
  /** More than `max_concurrent_uploads` uploads are being received. */
  too_many_uploads: 429,
  /** The pipeline pushed back (`BackpressureError`). */
  backpressure: 429,
  /** The receiver is shutting down. */
  shutting_down: 503,
  /**
   * The process-wide memory budget (`service.limits.memory`) has no room for the body (reserved
   * from Content-Length before it is read) or for what its attachments decompress to.
   */
  memory_budget: 503,
  /**
   * The `memory_limiter` processor refused the upload: the process is above its soft memory limit.
   * 503 and not 429 (as other backpressure), because dd-trace-go retries a 5xx and drops a 4xx.
   */
  memory_limit: 503,
  /** A decode worker died while decoding the upload (the pool replaces it; a retry is decoded afresh). */
  decoder_failed: 503,
  /** The pipeline failed with an unexpected error. */
  pipeline_error: 503,
  /** The request headers are larger than `max_header_bytes` (answered by Node's HTTP parser). */
  headers_too_large: 431,
  /** The request was not received within `request_timeout`. */
  request_timeout: 408,
  /** The body arrived slower than `min_body_rate` once `body_timeout` had passed; the connection is closed. */
  slow_body: 408,
  /** Node's HTTP parser or fastify refused the request (malformed HTTP, bad URL). */
  bad_http: 400,
  /** A bug in the receiver; logged with its stack. */
  internal_error: 500,
} as const;

export type RefusalReason = keyof typeof REFUSAL_STATUS;

/** An upload refused with an HTTP status and a counted reason; the message says what and where. */
export class UploadError extends ProfcolError {
  readonly status: number;
  constructor(
    readonly reason: RefusalReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('upload', message, options);
    this.status = REFUSAL_STATUS[reason];
  }
}

/** The client closed the connection before its upload was complete; nothing can be answered. */
export class ClientGoneError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('aborted', message, options);
  }
}
