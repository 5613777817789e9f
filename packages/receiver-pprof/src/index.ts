/**
 * @profcol/receiver-pprof: the `pprof` receiver, which scrapes Go `net/http/pprof`
 * (and godeltaprof) endpoints and emits one profile bundle per target and round.
 */
import { definePlugin, defineReceiver, ownPackageVersion } from '@profcol/core';
import { pprofReceiverConfigSchema } from './config.js';
import { PprofReceiver } from './receiver.js';

export const pprofReceiverFactory = defineReceiver({
  type: 'pprof',
  stability: 'beta',
  description: 'Scrapes Go net/http/pprof endpoints (pull mode): CPU, heap, goroutine, mutex, block, ... with collector-side deltas and the MemStats trailer.',
  config: pprofReceiverConfigSchema,
  create: (settings, config, next) => new PprofReceiver(settings, config, next),
});

export { pprofReceiverConfigSchema, DEFAULT_ENABLED_TYPES, type PprofReceiverConfig, type PprofTargetConfig } from './config.js';
export { PprofReceiver, type PprofReceiverOptions, type RoundReport, type RoundOutcome, type ScrapeFailure } from './receiver.js';
export type { Clock, ClockTimer } from './clock.js';
/** Which replica owns a target: FNV-1a-32(url) mod total (see README, Sharding). */
export { shardOf } from './shard.js';
export type { ScrapeFailureReason } from './http.js';

export default definePlugin({
  name: '@profcol/receiver-pprof',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [pprofReceiverFactory],
});
