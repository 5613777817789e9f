/**
 * The configuration every queued exporter shares, shaped as the OpenTelemetry Collector's
 * exporterhelper (`timeout`, `retry_on_failure`, `sending_queue`). An exporter spreads these
 * fields into its own schema, choosing its own defaults:
 *
 * ```ts
 * s.object({ endpoint: s.string(), ...exporterHelperFields({ queue: { enabled: false } }) })
 * ```
 */
import { s } from '../schema.js';

export interface RetryDefaults {
  enabled?: boolean;
  initial_interval?: string;
  max_interval?: string;
  max_elapsed_time?: string;
}

export interface QueueDefaults {
  enabled?: boolean;
  num_consumers?: number;
  queue_size?: number;
}

/** The fields of `retry_on_failure`, to spread into an object schema beside the exporter's own. */
export function retryOnFailureFields(defaults: RetryDefaults = {}) {
  return {
    enabled: s.boolean({
      default: defaults.enabled ?? true,
      description: 'Retry a request the destination could not take now. A request refused for good (bad data) is never retried.',
    }),
    initial_interval: s.duration({ default: defaults.initial_interval ?? '5s', description: 'Wait before the first retry.' }),
    max_interval: s.duration({
      default: defaults.max_interval ?? '30s',
      description: 'Upper bound of the exponential backoff (a longer `Retry-After` still wins).',
    }),
    max_elapsed_time: s.duration({
      default: defaults.max_elapsed_time ?? '300s',
      description: 'Give up on a request (counted drop, reason `retries_exhausted`) once it has been retried this long. `0` retries forever.',
    }),
    multiplier: s.number({ default: 1.5, min: 1, description: 'Backoff growth factor between retries.' }),
    randomization_factor: s.number({ default: 0.5, min: 0, max: 1, description: 'Jitter: each wait is picked in `[d·(1−f), d·(1+f)]`.' }),
  };
}

/** The fields of `sending_queue`; `storage: false` leaves out the persistent queue (the exporter has no codec). */
export function sendingQueueFields(defaults: QueueDefaults = {}, options: { storage?: boolean } = {}) {
  const fields = {
    enabled: s.boolean({
      default: defaults.enabled ?? true,
      description:
        'Acknowledge batches once queued and send them in the background. Off: `consume()` waits for the destination (with retries) and fails with it.',
    }),
    num_consumers: s.integer({ default: defaults.num_consumers ?? 10, min: 1, description: 'Requests sent concurrently.' }),
    queue_size: s.integer({
      default: defaults.queue_size ?? 1000,
      min: 1,
      description: 'Queued requests at most. When full, `consume()` is refused with a `BackpressureError` so the receiver pushes back.',
    }),
    max_bytes: s.optional(s.bytes({ description: 'Also refuse new batches once the queued requests take this much (encoded size). Unset: no byte limit.' })),
  };
  if (options.storage === false) return fields;
  return {
    ...fields,
    storage: s.optional(
      s.string({
        description:
          'A directory (relative to the working directory) that makes the queue persistent: each request is written and fsync’d there before `consume()` resolves, replayed after a restart (a SIGKILL too) and deleted once delivered. Files live in `<storage>/<exporter id>/`.',
      }),
    ),
  };
}

export function retryOnFailureSchema(defaults?: RetryDefaults) {
  return s.object(retryOnFailureFields(defaults), { default: {}, description: 'Retries of a request the destination could not take now.' });
}

export function sendingQueueSchema(defaults?: QueueDefaults, options?: { storage?: boolean }) {
  return s.object(sendingQueueFields(defaults, options), { default: {}, description: 'Requests waiting to be sent; bounded, pushing back when full.' });
}

/** `timeout`, `retry_on_failure`, `sending_queue` and `drain_timeout`, to spread into an exporter's schema. */
export function exporterHelperFields(
  defaults: { timeout?: string; drain_timeout?: string; retry?: RetryDefaults; queue?: QueueDefaults; storage?: boolean } = {},
) {
  return {
    timeout: s.duration({
      default: defaults.timeout ?? '30s',
      min: '1ms',
      description: 'Time limit of one attempt to send a request (each retry gets a new one).',
    }),
    retry_on_failure: retryOnFailureSchema(defaults.retry),
    sending_queue: sendingQueueSchema(defaults.queue, { storage: defaults.storage ?? true }),
    drain_timeout: s.duration({
      default: defaults.drain_timeout ?? '10s',
      description:
        'On shutdown, how long to keep sending what is queued or in flight. What is still unsent then stays on disk with `storage`, and is a counted drop (`shutdown`) without.',
    }),
  };
}

/** What the helper reads of an exporter's parsed configuration. */
export interface RetryConfig {
  enabled: boolean;
  initial_interval: number;
  max_interval: number;
  max_elapsed_time: number;
  multiplier: number;
  randomization_factor: number;
}

export interface QueueConfig {
  enabled: boolean;
  num_consumers: number;
  queue_size: number;
  max_bytes?: number | undefined;
  storage?: string | undefined;
}

export interface ExporterHelperConfig {
  timeout: number;
  retry_on_failure: RetryConfig;
  sending_queue: QueueConfig;
  drain_timeout: number;
}
