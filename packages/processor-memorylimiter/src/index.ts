/**
 * @profcol/processor-memorylimiter: the `memory_limiter` processor, refusing new data with
 * backpressure while the process uses more memory than its soft limit.
 */
import { defineProcessor, definePlugin, ownPackageVersion, type CreateSettings } from '@profcol/core';
import { memoryLimiterConfigSchema, resolveLimits, type MemoryLimiterConfig } from './config.js';
import { MemoryLimiterProcessor } from './limiter.js';
import { availableMemoryBytes, exposedGc, processMemoryReader } from './memory.js';

/** The processor as the host creates it: the process's own memory, Node's GC when exposed. */
export function createMemoryLimiter(settings: CreateSettings, config: MemoryLimiterConfig): MemoryLimiterProcessor {
  return new MemoryLimiterProcessor(settings, config, resolveLimits(config, availableMemoryBytes()), {
    read: processMemoryReader(config.measure),
    gc: exposedGc(),
  });
}

export const memoryLimiterFactory = defineProcessor({
  type: 'memory_limiter',
  stability: 'beta',
  description:
    'Refuses new data (503/Retry-After to pushers, a refused round to pullers) while memory is above its soft limit; forces a GC above the hard limit.',
  config: memoryLimiterConfigSchema,
  create: createMemoryLimiter,
});

export { memoryLimiterConfigSchema, resolveLimits, type MemoryLimiterConfig, type MemoryLimits } from './config.js';
export { MemoryLimiterProcessor, MemoryLimitError, type MemoryLimiterOptions, type MemoryState } from './limiter.js';
export { availableMemoryBytes, exposedGc, processMemoryReader, type MemoryReader } from './memory.js';

export default definePlugin({
  name: '@profcol/processor-memorylimiter',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [memoryLimiterFactory],
});
