/**
 * @profcol/receiver-ddtrace: the `ddtrace` receiver, the endpoint dd-trace profilers
 * (dd-trace-go, dd-trace-js, ...) upload to (`POST /profiling/v1/input`).
 */
import { defineReceiver, definePlugin, ownPackageVersion } from '@profcol/core';
import { ddtraceConfigSchema } from './config.js';
import { DdtraceReceiver } from './receiver.js';

export const ddtraceReceiverFactory = defineReceiver({
  type: 'ddtrace',
  stability: 'beta',
  description: 'Receives dd-trace profiler uploads (POST /profiling/v1/input) from dd-trace-go, dd-trace-js and other Datadog clients.',
  config: ddtraceConfigSchema,
  create: (settings, config, next) => new DdtraceReceiver(settings, config, next),
});

export { ddtraceConfigSchema, type DdtraceConfig } from './config.js';
export { DdtraceReceiver } from './receiver.js';
/** Why an upload was refused, and the HTTP status each reason is answered with. */
export { REFUSAL_STATUS, type RefusalReason } from './errors.js';

export default definePlugin({
  name: '@profcol/receiver-ddtrace',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [ddtraceReceiverFactory],
});
