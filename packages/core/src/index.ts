export * from './errors.js';
export * from './units.js';
export * from './schema.js';
export * from './model.js';
export * from './budget.js';
export * from './component.js';
export * from './plugin.js';
export * from './telemetry.js';
export * from './logger.js';
export * from './graph.js';
export * from './json-schema.js';
export * from './host.js';
export * from './language.js';
export * from './tls.js';
export * from './http-client.js';
/** The exporter helper: sending queue, retries, persistent queue and their counters, for every exporter. */
export * from './exporterhelper/index.js';
export { loadConfigFiles, parseConfigText, expandEnv, mergeTrees, PATH_SEPARATOR, type LoadedConfig, type Location, type PluginSpec } from './config/load.js';
export { importPlugin, resolvePluginPath } from './config/resolve-plugin.js';
