import { checkHttpUrl, exporterHelperFields, retryOnFailureFields, s, sendingQueueFields, tlsPairProblem, type Infer } from '@profcol/core';

const checkUrl = (value: string) => checkHttpUrl(value, { example: 'http://localhost:4318' });

/** The path the OpenTelemetry Collector's OTLP receiver serves profiles on (protocol `profiles/v1development`). */
export const PROFILES_PATH = '/v1development/profiles';

export const OtlpProfilesExporterSchema = s.object({
  endpoint: s.string({
    default: 'http://localhost:4318',
    description: `Base URL of the OTLP/HTTP receiver; \`${PROFILES_PATH}\` is appended (as the Collector’s \`otlphttp\` exporter does).`,
    check: checkUrl,
  }),
  profiles_endpoint: s.optional(
    s.string({ description: `Full URL for profiles, used as is instead of \`endpoint\` + \`${PROFILES_PATH}\`.`, check: checkUrl }),
  ),
  headers: s.record(s.string(), { default: {}, description: 'Extra request headers (e.g. `Authorization: Bearer ${env:TOKEN}`).' }),
  compression: s.enum(['gzip', 'none'] as const, { default: 'gzip', description: 'Request body compression.' }),
  tls: s.object(
    {
      ca_file: s.optional(s.string({ description: 'PEM file of the CA(s) to trust instead of the system ones.' })),
      cert_file: s.optional(s.string({ description: 'PEM client certificate (mutual TLS); needs `key_file`.' })),
      key_file: s.optional(s.string({ description: 'PEM private key of `cert_file`.' })),
      insecure_skip_verify: s.boolean({ default: false, description: 'Do not verify the server certificate (testing only).' }),
    },
    { default: {}, description: 'TLS of an `https://` endpoint.', check: (tls) => tlsPairProblem(tls.cert_file, tls.key_file) },
  ),
  ...exporterHelperFields(),
  // Profiles are large: the queue is bounded by bytes as well as by requests (one request per bundle).
  sending_queue: s.object(
    {
      ...sendingQueueFields({ queue_size: 100, num_consumers: 4 }),
      max_bytes: s.bytes({
        default: '64MiB',
        description:
          'Refuse new batches (backpressure) once the queued requests take this much (encoded protobuf, before gzip). An empty queue always takes one bundle, however large.',
      }),
    },
    { default: {}, description: 'Requests (one per bundle) waiting to be sent; bounded, pushing back when full.' },
  ),
  retry_on_failure: s.object(
    {
      ...retryOnFailureFields(),
      retryable_status_codes: s.array(s.integer({ min: 400, max: 599 }), {
        default: [429, 502, 503, 504],
        description:
          'HTTP statuses that are retried (besides timeouts and network errors), as the OTLP specification says; any other error status is a permanent, counted drop.',
      }),
    },
    { default: {}, description: 'Retries of a request the backend could not take now.' },
  ),
  resource_drop: s.array(s.string(), {
    default: ['profile_seq'],
    description: 'Resource keys not exported (the same default as the `otlp` exporter, so both signals describe a program with the same resource).',
  }),
});

export type OtlpProfilesExporterConfig = Infer<typeof OtlpProfilesExporterSchema>;

/** The URL profiles are POSTed to. */
export function profilesUrl(config: { endpoint: string; profiles_endpoint?: string | undefined }): string {
  if (config.profiles_endpoint) return config.profiles_endpoint;
  return config.endpoint.replace(/\/+$/, '') + PROFILES_PATH;
}
