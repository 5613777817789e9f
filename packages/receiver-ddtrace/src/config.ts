import { s, type Infer, parseEndpoint } from '@profcol/core';

/** Options that became process-wide `service.limits` (one cap, one budget for every component). */
const MOVED_TO_SERVICE_LIMITS = {
  max_decompressed_bytes:
    'the decompression cap is now one setting for every component: service::limits::max_decompressed_bytes (it still bounds all attachments of one upload together)',
};

/** The configuration of the `ddtrace` receiver. */
export const ddtraceConfigSchema = s.object(
  {
    endpoint: s.string({
      default: 'localhost:9529',
      description: 'Address to listen on, `host:port` (`:9529` or `0.0.0.0:9529` for every interface, `[::1]:9529` for IPv6). Port 0 picks a free port.',
      check: (value) => (parseEndpoint(value) ? undefined : `${JSON.stringify(value)} is not host:port`),
    }),
    endpoints: s.array(s.string({ check: (value) => (value.startsWith('/') ? undefined : `${JSON.stringify(value)} must start with "/"`) }), {
      default: ['/profiling/v1/input'],
      minItems: 1,
      description:
        'Upload paths. Duplicate slashes are ignored (`//profiling/v1/input`, from an agent URL with a trailing slash) and so is a path prefix (`/<prefix>/profiling/v1/input`, which dd-trace-go keeps from the agent URL).',
    }),
    max_request_bytes: s.bytes({
      default: '32MiB',
      description: 'Largest upload body; larger is refused with 413 (from its Content-Length before reading, or as soon as a chunked body passes the limit).',
    }),
    max_concurrent_uploads: s.integer({
      default: 64,
      min: 1,
      description:
        'Uploads decoded or waiting for the pipeline at once; more are refused with 429 and `Retry-After` (at their headers while every slot is taken, without reading the body). An upload takes its slot once its body is read, so clients still sending (or trickling) hold none. Memory is bounded by `service.limits.memory`, not by this (at 8, a 20 ms pause of the event loop at 500 uploads/s already refused some).',
    }),
    max_header_bytes: s.bytes({
      default: '16KiB',
      description: 'Largest request head (request line and headers); larger is refused with 431 by the HTTP parser.',
    }),
    api_keys: s.array(s.string(), {
      default: [],
      secret: true,
      description: 'When not empty, an upload must carry one of these in its `DD-API-KEY` header, else 401. Use `${env:VAR}` to keep keys out of the file.',
    }),
    host_tag: s.enum(['upload', 'receiver'] as const, {
      default: 'upload',
      description:
        "Where the bundle's `host` comes from: `upload` (the upload's `host:` tag; absent when the tracer does not send one) or `receiver` (this machine's hostname, replacing the upload's).",
    }),
    tls: s.optional(
      s.object(
        {
          cert_file: s.string({ description: 'PEM certificate (chain), relative to the working directory.' }),
          key_file: s.string({ description: 'PEM private key, relative to the working directory.' }),
        },
        { description: 'Serve HTTPS instead of HTTP.' },
      ),
    ),
    keep_attachments: s.boolean({
      default: false,
      description:
        'Keep non-profile attachments (`go.trace`, `events.pprof`, unknown files) in the bundle, decompressed once to check them. When false they are dropped and counted; `events.pprof` is still checked as a pprof, the others are not decompressed at all (nothing would read them: a dd-trace-go execution trace costs more to inflate than every profile of its upload).',
    }),
    dedup_window: s.duration({
      default: '5m',
      description:
        'How long an accepted upload (runtime-id, profile_seq) is remembered; a retry of it within this window is answered 200 and not forwarded. `0` disables.',
    }),
    dedup_max_entries: s.integer({ default: 10000, min: 1, description: 'Most uploads remembered for de-duplication; the oldest are forgotten first.' }),
    min_body_rate: s.bytes({
      default: '1KiB',
      description:
        "Bytes per second a body must keep up on average once `body_timeout` has passed (a body may take `body_timeout` plus one second per `min_body_rate` bytes, as Apache mod_reqtimeout's `MinRate`); slower is answered 408 `slow_body` and the connection closed. `0` disables, leaving only `request_timeout`.",
    }),
    body_timeout: s.duration({
      default: '10s',
      min: '100ms',
      description: 'Time a body may take at any rate before `min_body_rate` applies.',
    }),
    request_timeout: s.duration({
      default: '30s',
      min: '1s',
      description: 'Time allowed to receive a whole request (headers and body); slower clients get 408.',
    }),
    max_clock_skew: s.duration({
      default: '1h',
      description:
        "How far an upload's window (`end`) may lie after the receiver's clock; further is refused with 400 `window_out_of_range` (a client with a wrong clock would write into the future of real series). `0` disables; windows before 1970 or after 2262 (which 64-bit Unix nanoseconds cannot hold) are always refused.",
    }),
    max_window_age: s.duration({
      default: '0',
      description:
        "How far an upload's window (`start`) may lie before the receiver's clock; older is refused with 400 `window_out_of_range`. `0` (the default) sets no bound: clients retry and replay late uploads, and backends apply their own retention. Set it (e.g. `24h`) to refuse clients whose clock is far behind.",
    }),
    shutdown_grace: s.duration({
      default: '1s',
      description:
        'On shutdown the receiver stops listening at once, but serves its open connections for this long, answering each request 503 `shutting_down` with `Connection: close`, before it closes the idle keep-alive ones; it ends early once every connection has closed. Without it a request sent on an idle connection as the shutdown begins meets a connection reset. `0` closes idle connections at once.',
    }),
    retry_after: s.duration({
      default: '10s',
      min: '1s',
      description: '`Retry-After` sent with 429 and 503 when the pipeline does not say how long to wait.',
    }),
  },
  { moved: MOVED_TO_SERVICE_LIMITS },
);

export type DdtraceConfig = Infer<typeof ddtraceConfigSchema>;
