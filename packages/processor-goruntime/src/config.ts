import { s, type Infer } from '@profcol/core';
import { checkGcFramePattern } from './gc-frames.js';
import { GO_METRIC_NAMES } from './metrics.js';
import { NAMINGS } from './semconv.js';

/** Upload tags and resource keys that identify one process or one upload, not a service. */
export const DEFAULT_HIGH_CARDINALITY_KEYS: readonly string[] = ['runtime_id', 'runtime-id', 'profile_seq', 'process_id', 'pid'];

export const GoRuntimeConfig = s.object(
  {
    generate_metrics: s.boolean({
      default: true,
      description: 'Set to `false` to pass every batch through unchanged (no `prof_go_*` points, no per-target state).',
    }),
    metrics: s.optional(
      s.array(
        s.string({
          check: (name) => ((GO_METRIC_NAMES as readonly string[]).includes(name) ? undefined : `"${name}" is not one of ${GO_METRIC_NAMES.join(', ')}`),
        }),
        {
          minItems: 1,
          description:
            'The metrics to emit (default: all 15). A metric left out is not computed at all; leaving out `prof_go_cpu_cores_gc_overhead` skips the stack walk.',
        },
      ),
    ),
    naming: s.enum(NAMINGS, {
      default: 'prof_go',
      description:
        'Metric names: `prof_go` (the 15 `prof_go_*` gauges DataKit users know), `otel` (the OpenTelemetry semantic-convention Go runtime metrics the profiles can give — `go.goroutine.count`, `go.memory.used`, `go.memory.allocated`, `go.memory.allocations`, `go.memory.gc.cycles`, `go.cpu.time` — plus the `prof_go_*` metrics that have no convention, under their own names), or `both`.',
    }),
    temporality: s.enum(['cumulative', 'delta'] as const, {
      default: 'cumulative',
      description:
        'How the convention counters (`naming: otel` or `both`) add up: `cumulative` (a running total per pulled target or dd-trace runtime id, starting over when it restarts; what Prometheus and VictoriaMetrics take) or `delta` (each point is the amount of its own window; no state, for backends or a Collector `deltatocumulative` processor that sum deltas). UpDownCounters are always cumulative.',
    }),
    gc_frames: s.optional(
      s.array(s.string({ check: checkGcFramePattern }), {
        minItems: 1,
        description:
          'Replaces the function names that mark a CPU sample as garbage collection (an exact name, or a prefix ending in `*`). Default: the D2 set listed in this README.',
      }),
    ),
    copy_tags: s.boolean({
      default: true,
      description: "Copy the bundle's tags (upload tags, tags set by a `tags` processor before this one) into the points' attributes.",
    }),
    copy_profiler_tags: s.boolean({
      default: false,
      description:
        'Also copy the tags a dd-trace profiler adds about itself (`profiler_version`, `runtime_arch`, `runtime_os`, `runtime_compiler`, `pgo`, `go_execution_traced`, `snapshot`, `format`, `_dd.*`). Off by default: they describe the profiler, not the service, and some change from one upload to the next (`go_execution_traced` is set only on uploads that carry an execution trace), which would split every series.',
    }),
    attributes: s.record(s.string(), {
      default: {},
      description: 'Extra attributes set on every point; they win over every other source.',
    }),
    include_high_cardinality: s.boolean({
      default: false,
      description: 'Keep the keys of `high_cardinality_keys` in point attributes and resource. Off by default: they make one series per process or per upload.',
    }),
    high_cardinality_keys: s.array(s.string(), {
      default: [...DEFAULT_HIGH_CARDINALITY_KEYS],
      description: 'Tag and resource keys removed from points unless `include_high_cardinality` is true.',
    }),
    state_ttl: s.duration({
      default: '15m',
      min: '1m',
      description:
        'How long the pull-mode MemStats baseline of a target is kept without a new round. A target silent for longer starts over with a baseline round.',
    }),
  },
  {
    moved: {
      max_decompressed_bytes: 'the decompression cap is now one setting for every component: service::limits::max_decompressed_bytes',
    },
  },
);

export type GoRuntimeConfig = Infer<typeof GoRuntimeConfig>;

/** Tags dd-trace profilers add about themselves (dd-trace-go and dd-trace-js `tags_profiler`). */
export const PROFILER_TAG_KEYS: ReadonlySet<string> = new Set([
  'profiler_version',
  'runtime_arch',
  'runtime_os',
  'runtime_compiler',
  'runtime_version',
  'runtime',
  'pgo',
  'go_execution_traced',
  'snapshot',
  'format',
]);

export function isProfilerTag(key: string): boolean {
  return PROFILER_TAG_KEYS.has(key) || key.startsWith('_dd.');
}
