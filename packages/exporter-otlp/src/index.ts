/**
 * `otlp`: exports metric points to any OTLP/HTTP backend (protobuf or JSON), keeping each
 * point's own timestamp, with retries, backpressure and an optional persistent queue.
 */
import { defineExporter, definePlugin, ownPackageVersion } from '@profcol/core';
import { OtlpExporterSchema } from './config.js';
import { OtlpExporter } from './exporter.js';

export const otlpExporterFactory = defineExporter({
  type: 'otlp',
  stability: 'beta',
  description: 'Metric points to an OTLP/HTTP backend (protobuf or JSON), with retries and a persistent queue.',
  config: OtlpExporterSchema,
  create: (settings, config) => new OtlpExporter(settings, config),
});

export { OtlpExporter, OtlpExporterError, storageSubdir } from './exporter.js';
export { OtlpExporterSchema, metricsUrl, type OtlpExporterConfig } from './config.js';
export { mapResource, RESOURCE_KEY_MAP, sdkLanguage } from './resource.js';
export { toRequests, toResourceMetrics, type ExportRequest } from './convert.js';
export { CorruptFileError, StorageError } from './storage.js';
export { SCOPE_NAME, SCOPE_VERSION } from './version.js';
export { describeOtlpErrorBody } from './transport.js';

export default definePlugin({
  name: '@profcol/exporter-otlp',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [otlpExporterFactory],
});
