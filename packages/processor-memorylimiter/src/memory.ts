/** Where the memory readings come from, kept apart so tests can stand in a reader of their own. */
import os from 'node:os';

/** Returns the bytes the limits are compared with. */
export type MemoryReader = () => number;

export function processMemoryReader(measure: 'rss' | 'heap'): MemoryReader {
  // process.memoryUsage.rss() reads one number; process.memoryUsage() walks every heap space.
  if (measure === 'rss') return () => process.memoryUsage.rss();
  return () => {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.external;
  };
}

/**
 * What `limit_percentage` is a percentage of: the cgroup memory limit when the process runs
 * under one (a container), else the machine's total memory, as the Collector's memory_limiter.
 */
export function availableMemoryBytes(): number {
  const total = os.totalmem();
  // Node reports "no limit" as 0 (older releases) or as a huge number (2^63 and thereabouts).
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  return constrained && constrained > 0 && constrained < total ? constrained : total;
}

/** The garbage collector, when Node was started with `--expose-gc`. */
export function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  return typeof gc === 'function' ? () => gc() : undefined;
}
