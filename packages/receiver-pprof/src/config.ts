import {
  INVALID,
  ObjectSchema,
  checkHttpUrl,
  formatDurationMs,
  s,
  tlsPairProblem,
  type Infer,
  type Invalid,
  type ParseContext,
  type Shape,
} from '@profcol/core';
import { PULL_PROFILE_TYPE_NAMES, type PullProfileType } from '@profcol/pprof';
import { discoveryShape } from './discovery/config.js';

export const DEFAULT_ENABLED_TYPES: PullProfileType[] = ['cpu', 'goroutine', 'heap', 'mutex', 'block'];

const profileTypes = (defaults?: PullProfileType[]) =>
  s.array(s.enum(PULL_PROFILE_TYPE_NAMES), {
    minItems: 1,
    ...(defaults ? { default: defaults } : {}),
    description: `Profiles to pull: ${PULL_PROFILE_TYPE_NAMES.map((t) => `\`${t}\``).join(', ')}. \`delta_*\` are godeltaprof endpoints (already deltas in the target).`,
  });

const targetShape = {
  url: s.string({
    description:
      'Base URL of the Go program serving `net/http/pprof`: `scheme://host:port`, optionally with a base path that every profile path is appended to (unlike DataKit, a path is kept).',
    check: (value) => checkHttpUrl(value, { example: 'http://localhost:6060', noQuery: true }),
  }),
  service: s.string({ default: '', description: 'Resource `service` (omitted when empty).' }),
  env: s.string({ default: '', description: 'Resource `env` (omitted when empty).' }),
  version: s.string({ default: '', description: 'Resource `version` (omitted when empty).' }),
  tags: s.record(s.string(), { default: {}, description: 'Tags for every bundle of this target.' }),
  enabled_types: s.optional(profileTypes()),
  path_prefix: s.optional(s.string({ description: 'Overrides the receiver-level `path_prefix` for this target.' })),
  bearer_token: s.optional(s.string({ secret: true, description: 'Overrides the receiver-level `bearer_token` for this target.' })),
  bearer_token_file: s.optional(s.string({ description: 'Overrides the receiver-level `bearer_token_file` for this target.' })),
  memstats: s.optional(s.boolean({ description: 'Overrides the receiver-level `memstats` for this target.' })),
};

const shape = {
  targets: s.array(s.object(targetShape), {
    default: [],
    description:
      'The Go programs to scrape (static targets). Each target may override `enabled_types`, `path_prefix`, `bearer_token(_file)` and `memstats`. At least one target, or a discovery (`file_sd`, `http_sd`, `dns_sd`), is required.',
  }),
  ...discoveryShape,
  interval: s.duration({
    default: '10s',
    min: '10s',
    description: 'Time between two scrape rounds of a target (at least 10s, as in DataKit; a smaller value is a configuration error).',
  }),
  timeout: s.duration({
    default: '15s',
    min: '1ms',
    description: 'Time allowed for one request (connect, headers and body). The CPU profile request gets `timeout + cpu_seconds`.',
  }),
  cpu_seconds: s.optional(
    s.integer({
      min: 1,
      description: 'Length of the CPU profile (`/debug/pprof/profile?seconds=N`), whole seconds. Default: interval − 1s. At most the interval.',
    }),
  ),
  enabled_types: profileTypes(DEFAULT_ENABLED_TYPES),
  path_prefix: s.string({ default: '', description: "Prepended to every profile path (`/app` → `/app/debug/pprof/heap`), as Alloy's `path_prefix`." }),
  memstats: s.boolean({
    default: true,
    description:
      'Once per round, read `/debug/pprof/heap?debug=1` and attach its `# runtime.MemStats` trailer to the bundle (costs a short stop-the-world in the target).',
  }),
  tls: s.object(
    {
      ca_file: s.optional(s.string({ description: 'PEM CA bundle to verify the target with, relative to the working directory.' })),
      cert_file: s.optional(s.string({ description: 'PEM client certificate (mTLS), relative to the working directory; needs `key_file`.' })),
      key_file: s.optional(s.string({ description: 'PEM client key (mTLS), relative to the working directory; needs `cert_file`.' })),
      server_name: s.optional(s.string({ description: 'Server name to verify instead of the URL host.' })),
      insecure_skip_verify: s.boolean({ default: false, description: "Do not verify the target's certificate." }),
    },
    { default: {}, description: 'TLS for `https://` targets.', check: (tls) => tlsPairProblem(tls.cert_file, tls.key_file) },
  ),
  bearer_token: s.optional(s.string({ secret: true, description: 'Sent as `Authorization: Bearer <token>`. Use `${env:VAR}` to keep it out of the file.' })),
  bearer_token_file: s.optional(
    s.string({ description: 'File holding the bearer token, re-read every round (rotated tokens); relative to the working directory.' }),
  ),
  shard: s.object(
    {
      index: s.integer({ default: 0, min: 0, description: "This replica's shard, 0 ≤ index < total." }),
      total: s.integer({ default: 1, min: 1, description: 'Number of replicas sharing the targets.' }),
    },
    {
      default: {},
      description:
        'A target belongs to the replica whose `index` = FNV-1a-32(target url, UTF-8) mod `total`; N replicas with the same targets and indexes 0..N−1 scrape every target exactly once.',
    },
  ),
  max_concurrent_downloads: s.integer({
    default: 64,
    min: 1,
    description:
      'Response bodies being read and decoded at once, across all targets. A request still waiting for its answer (a CPU profile during its `cpu_seconds`) holds no slot; an answer that arrives while every slot is taken stays paused in its socket until one frees up. Bounds the bodies in memory to this many × `max_body_bytes`.',
  }),
  jitter: s.optional(
    s.duration({
      description: 'Targets start at a stable offset in [0, jitter) derived from their URL, so they do not all fire at once. Default: the interval.',
    }),
  ),
  backoff_max: s.optional(
    s.duration({
      description:
        'After a round in which every request of a target failed, the target sits out the next 1, 3, 7, ... ticks (doubling), at most this long; below the interval (e.g. `0s`), it is tried on every tick, as Prometheus and Alloy do. Default: the interval (a target that comes up is scraped within two intervals). Each failed round logs when the next attempt is.',
    }),
  ),
  max_body_bytes: s.bytes({ default: '32MiB', description: 'Largest response body; a larger one fails that profile (reason `too_large`).' }),
};

/** Adds the checks that span several fields, each reported at the field it is about. */
export class PprofConfigSchema<S extends Shape> extends ObjectSchema<S> {
  protected override parseValue(input: unknown, ctx: ParseContext, path: string[]): Infer<ObjectSchema<S>> | Invalid {
    let failed = false;
    const value = super.parseValue(input, ctx, path);
    if (value === INVALID) return value;
    const config = value as unknown as PprofReceiverConfig;
    const intervalSeconds = config.interval / 1000;
    if (config.cpu_seconds !== undefined && config.cpu_seconds > intervalSeconds) {
      ctx.issues.push({
        path: [...path, 'cpu_seconds'],
        message: `${config.cpu_seconds} is longer than the interval (${formatDurationMs(config.interval)}); a CPU profile must fit in one round`,
      });
      failed = true;
    }
    if (config.shard.index >= config.shard.total) {
      ctx.issues.push({ path: [...path, 'shard', 'index'], message: `${config.shard.index} must be below shard.total (${config.shard.total})` });
      failed = true;
    }
    if (config.targets.length === 0 && config.file_sd.length + config.http_sd.length + config.dns_sd.length === 0) {
      ctx.issues.push({ path: [...path, 'targets'], message: 'needs at least 1 target, or a discovery (file_sd, http_sd or dns_sd) to find them' });
      failed = true;
    }
    config.dns_sd.forEach((dns, i) => {
      if (dns.type !== 'SRV' && dns.port === undefined) {
        ctx.issues.push({
          path: [...path, 'dns_sd', String(i), 'port'],
          message: `is required with type ${dns.type} (an ${dns.type} record has no port; SRV records have their own)`,
        });
        failed = true;
      }
      if (dns.type === 'SRV' && dns.port !== undefined) {
        ctx.issues.push({ path: [...path, 'dns_sd', String(i), 'port'], message: 'is only for type A or AAAA: SRV records carry their own port' });
        failed = true;
      }
    });
    const seen = new Map<string, number>();
    config.targets.forEach((target, i) => {
      const key = normalizeTargetUrl(target.url);
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.issues.push({ path: [...path, 'targets', String(i), 'url'], message: `${JSON.stringify(target.url)} is already targets[${first}]` });
        failed = true;
      } else seen.set(key, i);
    });
    return failed ? INVALID : value;
  }
}

export const pprofReceiverConfigSchema = new PprofConfigSchema(shape, {
  moved: {
    max_concurrent_scrapes:
      'it counted whole rounds, which wait cpu_seconds for the CPU profile; use max_concurrent_downloads (response bodies read and decoded at once; its default fits 1,000 targets), or delete the line',
    max_decompressed_bytes:
      'the decompression cap is now one setting for every component: service::limits::max_decompressed_bytes (the most one profile of a scrape may decompress to)',
  },
});

export type PprofReceiverConfig = Infer<typeof pprofReceiverConfigSchema>;
export type PprofTargetConfig = PprofReceiverConfig['targets'][number];

/** The target URL without a trailing slash: the key for sharding, state and the `instance` resource. */
export function normalizeTargetUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

/** `cpu_seconds`, defaulted to interval − 1 s (at least 1). */
export function cpuSecondsOf(config: PprofReceiverConfig): number {
  return config.cpu_seconds ?? Math.max(1, Math.floor(config.interval / 1000) - 1);
}
