import { checkHttpUrl, exporterHelperFields, retryOnFailureFields, s, sendingQueueSchema, tlsPairProblem, type Infer } from '@profcol/core';

const checkUrl = (value: string) => checkHttpUrl(value, { example: 'http://localhost:4318' });

/**
 * `retry_on_failure` and `sending_queue` are the exporter helper's of @profcol/core, with the
 * Collector's `otlphttp` defaults; only `retryable_status_codes` is this exporter's own.
 */
export const RetrySchema = s.object(
  {
    ...retryOnFailureFields(),
    retryable_status_codes: s.array(s.integer({ min: 400, max: 599 }), {
      default: [429, 502, 503, 504],
      description:
        'HTTP statuses that are retried (besides timeouts and network errors). The OTLP specification retries only the default four; any other error status is a permanent, counted drop.',
    }),
  },
  { default: {}, description: 'Retries of a request the backend could not take now.' },
);

export const QueueSchema = sendingQueueSchema();

export const TlsSchema = s.object(
  {
    ca_file: s.optional(s.string({ description: 'PEM file of the CA(s) to trust instead of the system ones.' })),
    cert_file: s.optional(s.string({ description: 'PEM client certificate (mutual TLS); needs `key_file`.' })),
    key_file: s.optional(s.string({ description: 'PEM private key of `cert_file`.' })),
    insecure_skip_verify: s.boolean({ default: false, description: 'Do not verify the server certificate (testing only).' }),
  },
  { default: {}, description: 'TLS of an `https://` endpoint.', check: (tls) => tlsPairProblem(tls.cert_file, tls.key_file) },
);

export const OtlpExporterSchema = s.object({
  endpoint: s.string({
    default: 'http://localhost:4318',
    description: 'Base URL of the OTLP/HTTP receiver; `/v1/metrics` is appended (as the Collector’s `otlphttp` exporter does).',
    check: checkUrl,
  }),
  metrics_endpoint: s.optional(s.string({ description: 'Full URL for metrics, used as is instead of `endpoint` + `/v1/metrics`.', check: checkUrl })),
  protocol: s.enum(['http/protobuf', 'http/json'] as const, { default: 'http/protobuf', description: 'Body encoding: OTLP protobuf or OTLP JSON.' }),
  headers: s.record(s.string(), { default: {}, secret: true, description: 'Extra request headers (e.g. `Authorization: Bearer ${env:TOKEN}`).' }),
  compression: s.enum(['gzip', 'none'] as const, { default: 'gzip', description: 'Request body compression.' }),
  tls: TlsSchema,
  ...exporterHelperFields(),
  retry_on_failure: RetrySchema,
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
