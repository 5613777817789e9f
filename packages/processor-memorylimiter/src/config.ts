import { s, type Infer } from '@profcol/core';

const MIB = 1024 * 1024;

/** The configuration of the `memory_limiter` processor: the OpenTelemetry Collector's keys, plus `measure`. */
export const memoryLimiterConfigSchema = s.object(
  {
    check_interval: s.duration({
      default: '1s',
      min: '10ms',
      description: 'How often memory is measured. Data is refused from the check that saw it above the soft limit until one sees it below again.',
    }),
    limit_mib: s.optional(
      s.integer({
        min: 1,
        description:
          'The hard limit, in MiB. Set this or `limit_percentage`. Above it, profcol also forces a garbage collection when run with `node --expose-gc`.',
      }),
    ),
    spike_limit_mib: s.optional(
      s.integer({
        min: 0,
        description:
          'Headroom below `limit_mib` for what can arrive between two checks, in MiB; the soft limit is `limit_mib - spike_limit_mib`. Default: 20% of `limit_mib`.',
      }),
    ),
    limit_percentage: s.optional(
      s.integer({
        min: 1,
        max: 100,
        description: "The hard limit as a percentage of the memory available: the container's cgroup limit when there is one, else the machine's total memory.",
      }),
    ),
    spike_limit_percentage: s.optional(
      s.integer({ min: 0, max: 100, description: 'Headroom below `limit_percentage`, in percent of the same total. Default: 20% of `limit_percentage`.' }),
    ),
    measure: s.enum(['rss', 'heap'] as const, {
      default: 'rss',
      description:
        "What is compared with the limits. `rss`: the process's resident memory, which is what a container's memory limit and the OOM killer count, and includes upload bodies, decompressed profiles (Buffers live outside the JavaScript heap), zstd's WebAssembly memory and the decode workers. `heap`: the JavaScript heap in use plus memory held by Buffers (`heapUsed + external`); it falls as soon as a GC frees something, where RSS may stay up until pages are returned.",
    }),
  },
  { check: limitsProblem },
);

export type MemoryLimiterConfig = Infer<typeof memoryLimiterConfigSchema>;

/** What the Collector also refuses: no limit, both kinds of limit, a spike as large as its limit. */
function limitsProblem(config: {
  limit_mib?: number | undefined;
  spike_limit_mib?: number | undefined;
  limit_percentage?: number | undefined;
  spike_limit_percentage?: number | undefined;
}): string | undefined {
  const { limit_mib, spike_limit_mib, limit_percentage, spike_limit_percentage } = config;
  if (limit_mib === undefined && limit_percentage === undefined) return 'set a limit: limit_mib (e.g. 1536) or limit_percentage (e.g. 80)';
  if (limit_mib !== undefined && limit_percentage !== undefined) return 'set limit_mib or limit_percentage, not both';
  if (limit_mib !== undefined) {
    if (spike_limit_percentage !== undefined) return 'spike_limit_percentage goes with limit_percentage; with limit_mib, set spike_limit_mib';
    if (spike_limit_mib !== undefined && spike_limit_mib >= limit_mib) return `spike_limit_mib (${spike_limit_mib}) must be below limit_mib (${limit_mib})`;
  } else {
    if (spike_limit_mib !== undefined) return 'spike_limit_mib goes with limit_mib; with limit_percentage, set spike_limit_percentage';
    if (spike_limit_percentage !== undefined && spike_limit_percentage >= limit_percentage!)
      return `spike_limit_percentage (${spike_limit_percentage}) must be below limit_percentage (${limit_percentage})`;
  }
  return undefined;
}

export interface MemoryLimits {
  hardBytes: number;
  /** `hardBytes` minus the spike allowance: above it, data is refused. */
  softBytes: number;
}

/** The limits in bytes; `availableBytes` is what percentages are of (see `availableMemoryBytes`). */
export function resolveLimits(config: MemoryLimiterConfig, availableBytes: number): MemoryLimits {
  if (config.limit_mib !== undefined) {
    const hardBytes = config.limit_mib * MIB;
    const spikeBytes = config.spike_limit_mib !== undefined ? config.spike_limit_mib * MIB : Math.floor(hardBytes / 5);
    return { hardBytes, softBytes: hardBytes - spikeBytes };
  }
  const percent = config.limit_percentage!;
  const spikePercent = config.spike_limit_percentage ?? percent / 5;
  const hardBytes = Math.floor((availableBytes * percent) / 100);
  return { hardBytes, softBytes: hardBytes - Math.floor((availableBytes * spikePercent) / 100) };
}
