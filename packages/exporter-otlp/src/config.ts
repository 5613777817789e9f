import { checkHttpUrl, s, tlsPairProblem, type Infer } from '@profcol/core';

const checkUrl = (value: string) => checkHttpUrl(value, { example: 'http://localhost:4318' });

export const RetrySchema = s.object({
  enabled: s.boolean({ default: true, description: 'Retry a batch the backend could not take now (429, 502, 503, 504, timeouts, network errors). Never retries other 4xx/5xx answers.' }),
  initial_interval: s.duration({ default: '5s', description: 'Wait before the first retry.' }),
  max_interval: s.duration({ default: '30s', description: 'Upper bound of the exponential backoff (a longer `Retry-After` still wins).' }),
  max_elapsed_time: s.duration({
    default: '300s',
    description: 'Give up on a batch (counted drop, reason `retries_exhausted`) once it has been retried this long. `0` retries forever.',
  }),
  multiplier: s.number({ default: 1.5, min: 1, description: 'Backoff growth factor between retries.' }),
  randomization_factor: s.number({ default: 0.5, min: 0, max: 1, description: 'Jitter: each wait is picked in `[d·(1−f), d·(1+f)]`.' }),
  retryable_status_codes: s.array(s.integer({ min: 400, max: 599 }), {
    default: [429, 502, 503, 504],
    description: 'HTTP statuses that are retried. The OTLP specification retries only the default four; any other error status is a permanent, counted drop.',
  }),
}, { default: {}, description: 'Retries of a request the backend could not take now.' });

export const QueueSchema = s.object({
  enabled: s.boolean({ default: true, description: 'Acknowledge batches once queued and send them in the background. Off: `consume()` waits for the backend (with retries) and fails with it.' }),
  num_consumers: s.integer({ default: 10, min: 1, description: 'Requests sent concurrently.' }),
  queue_size: s.integer({
    default: 1000,
    min: 1,
    description: 'Queued requests (one per resource of a batch) at most. When full, `consume()` is refused with a `BackpressureError` so the receiver pushes back.',
  }),
  max_bytes: s.optional(s.bytes({ description: 'Also refuse new batches once the queued points take this much (JSON size). Unset: no byte limit.' })),
  storage: s.optional(
    s.string({
      description:
        'A directory (relative to the working directory) that makes the queue persistent: each request is written and fsync’d there before `consume()` resolves, replayed after a restart and deleted once the backend accepted it. Files live in `<storage>/<exporter id>/`.',
    }),
  ),
}, { default: {}, description: 'Requests waiting to be sent; bounded, pushing back when full.' });

export const TlsSchema = s.object({
  ca_file: s.optional(s.string({ description: 'PEM file of the CA(s) to trust instead of the system ones.' })),
  cert_file: s.optional(s.string({ description: 'PEM client certificate (mutual TLS); needs `key_file`.' })),
  key_file: s.optional(s.string({ description: 'PEM private key of `cert_file`.' })),
  insecure_skip_verify: s.boolean({ default: false, description: 'Do not verify the server certificate (testing only).' }),
}, { default: {}, description: 'TLS of an `https://` endpoint.', check: (tls) => tlsPairProblem(tls.cert_file, tls.key_file) });

export const OtlpExporterSchema = s.object({
  endpoint: s.string({
    default: 'http://localhost:4318',
    description: 'Base URL of the OTLP/HTTP receiver; `/v1/metrics` is appended (as the Collector’s `otlphttp` exporter does).',
    check: checkUrl,
  }),
  metrics_endpoint: s.optional(s.string({ description: 'Full URL for metrics, used as is instead of `endpoint` + `/v1/metrics`.', check: checkUrl })),
  protocol: s.enum(['http/protobuf', 'http/json'] as const, { default: 'http/protobuf', description: 'Body encoding: OTLP protobuf or OTLP JSON.' }),
  headers: s.record(s.string(), { default: {}, description: 'Extra request headers (e.g. `Authorization: Bearer ${env:TOKEN}`).' }),
  compression: s.enum(['gzip', 'none'] as const, { default: 'gzip', description: 'Request body compression.' }),
  timeout: s.duration({ default: '30s', min: '1ms', description: 'Time limit of one HTTP request (each retry gets a new one).' }),
  tls: TlsSchema,
  retry_on_failure: RetrySchema,
  sending_queue: QueueSchema,
  drain_timeout: s.duration({
    default: '10s',
    description: 'On shutdown, how long to keep sending what is queued or in flight. What is still unsent then stays on disk with `storage`, and is a counted drop (`shutdown`) without.',
  }),
  resource_drop: s.array(s.string(), {
    default: ['profile_seq'],
    description: 'Resource keys not exported (per-upload counters would make every upload a new series).',
  }),
});

export type OtlpExporterConfig = Infer<typeof OtlpExporterSchema>;
export type RetryConfig = Infer<typeof RetrySchema>;
export type QueueConfig = Infer<typeof QueueSchema>;

/** The URL metrics are POSTed to. */
export function metricsUrl(config: { endpoint: string; metrics_endpoint?: string | undefined }): string {
  if (config.metrics_endpoint) return config.metrics_endpoint;
  return config.endpoint.replace(/\/+$/, '') + '/v1/metrics';
}
