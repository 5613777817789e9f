/**
 * `otlp_profiles`: exports the profiles themselves as OpenTelemetry profiles over OTLP/HTTP
 * protobuf (`/v1development/profiles`, opentelemetry-proto v1.11.0), with the exporter helper's
 * queue, retries and persistent queue.
 */
import { defineExporter, definePlugin, ownPackageVersion } from '@profcol/core';
import { OtlpProfilesExporterSchema } from './config.js';
import { OtlpProfilesExporter } from './exporter.js';

export const otlpProfilesExporterFactory = defineExporter({
  type: 'otlp_profiles',
  stability: 'alpha',
  description: 'Profiles as OpenTelemetry profiles (OTLP/HTTP protobuf, profiles/v1development), with retries and a persistent queue.',
  config: OtlpProfilesExporterSchema,
  create: (settings, config) => new OtlpProfilesExporter(settings, config),
});

export { OtlpProfilesExporter, OtlpProfilesExporterError, CONVERSION_COST_FACTOR, type ProfilesRequest } from './exporter.js';
export { OtlpProfilesExporterSchema, profilesUrl, PROFILES_PATH, type OtlpProfilesExporterConfig } from './config.js';
export {
  convertBundle,
  resourceAttributes,
  PROFILE_ATTRIBUTES,
  MAPPING_BUILD_ID,
  FRAME_TYPE,
  type ConvertOptions,
  type ConvertedBundle,
  type DecodedInput,
} from './convert.js';
export { ProfilesSender, type PartialSuccess } from './sender.js';
export { SCOPE_NAME, SCOPE_VERSION } from './version.js';
/** The protocol version these messages follow: the opentelemetry-proto release the .proto files in proto/ come from. */
export const OTLP_PROTO_VERSION = 'v1.11.0';

export default definePlugin({
  name: '@profcol/exporter-otlpprofiles',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [otlpProfilesExporterFactory],
});
