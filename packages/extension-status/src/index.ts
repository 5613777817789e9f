/**
 * @profcol/extension-status: the `status` extension, a read-only page with the pipeline graph,
 * live counters, pull targets, Go runtime sparklines and flame graphs, served on localhost.
 */
import { defineExtension, definePlugin, ownPackageVersion } from '@profcol/core';
import { statusConfigSchema } from './config.js';
import { StatusExtension } from './extension.js';

export const statusExtensionFactory = defineExtension({
  type: 'status',
  stability: 'alpha',
  description:
    'A read-only status page: pipeline graph with live counters, pull targets, Go runtime sparklines, flame graphs of the latest CPU and heap profile per service.',
  config: statusConfigSchema,
  create: (settings, config) => new StatusExtension(settings, config),
});

export { statusConfigSchema, type StatusConfig } from './config.js';
export { StatusExtension, withoutCredentials, type StatusSnapshot, type ServiceView } from './extension.js';
export { flameTree, chooseSampleType, type FlameNode, type FlameTree } from './flame-tree.js';
export { ServiceStore, FLAME_PROFILE_TYPES, type ServiceStoreLimits, type RuntimeSeries } from './services.js';
export { countersByOwner, shortCounterName, type CounterRow } from './counters.js';

export default definePlugin({
  name: '@profcol/extension-status',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [statusExtensionFactory],
});
