/**
 * @profcol/extension-healthcheck: the `health_check` extension, liveness and readiness probes
 * for Kubernetes, served on localhost:13133 unless configured (as the OpenTelemetry
 * Collector's healthcheckextension).
 */
import { defineExtension, definePlugin, ownPackageVersion } from '@profcol/core';
import { healthCheckConfigSchema } from './config.js';
import { HealthCheckExtension } from './extension.js';

export const healthCheckExtensionFactory = defineExtension({
  type: 'health_check',
  stability: 'beta',
  description: 'Kubernetes probes: /healthz (alive) and /readyz (started, not shutting down, no exporter stuck).',
  config: healthCheckConfigSchema,
  create: (settings, config) => new HealthCheckExtension(settings, config),
});

export { healthCheckConfigSchema, type HealthCheckConfig } from './config.js';
export { HealthCheckExtension, type HealthCheckOptions } from './extension.js';
export { assessReadiness, type Readiness } from './readiness.js';
export { readQueue, StuckExporterDetector, type ExporterProgress, type QueueReading } from './stuck-exporters.js';

export default definePlugin({
  name: '@profcol/extension-healthcheck',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [healthCheckExtensionFactory],
});
