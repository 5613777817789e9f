import { defineProcessor, definePlugin, type Batch, type CreateSettings, type Processor, ownPackageVersion } from '@profcol/core';
import { TagsConfig } from './config.js';
import { detectHost } from './host.js';
import { applyTagRules, type TagRules } from './rules.js';

export { TagsConfig } from './config.js';
export { detectHost } from './host.js';
export { applyTagRules, type TagResult, type TagRules } from './rules.js';

export interface TagsOptions {
  /** The environment `from_env` reads (tests pass their own). */
  env?: NodeJS.ProcessEnv;
  /** The host detection of `detect_host` (tests pass their own). */
  detectHost?: () => { host: string; ip?: string };
}

/** Whether a bundle or point with these service and env values is one the processor applies to. */
function matcher(match: TagsConfig['match']): (service: string | undefined, env: string | undefined) => boolean {
  const services = match.service && new Set(match.service);
  const envs = match.env && new Set(match.env);
  return (service, env) => (!services || (service !== undefined && services.has(service))) && (!envs || (env !== undefined && envs.has(env)));
}

export function createTagsProcessor(settings: CreateSettings, config: TagsConfig, options: TagsOptions = {}): Processor {
  const { logger, telemetry } = settings;
  const matched = telemetry.counter(
    'profcol_processor_tags_matched_total',
    'Bundles and metric points a tags processor applied its rules to (inside `match`), by item.',
  );
  const unmatched = telemetry.counter(
    'profcol_processor_tags_unmatched_total',
    'Bundles and metric points left alone because they are outside `match`, by item.',
  );
  const conflicts = telemetry.counter(
    'profcol_processor_tags_conflicts_total',
    'Added or renamed tags that met an existing value, by outcome (kept: existing won, overridden).',
  );
  const missingEnv = telemetry.counter('profcol_processor_tags_env_missing_total', 'from_env variables that were unset or empty at start.');
  const matches = matcher(config.match);
  const toBundles = config.apply_to.includes('bundles');
  const toMetrics = config.apply_to.includes('metrics');
  let rules: TagRules | undefined;

  /** Environment and host are read once, at start (or at the first batch when used without a host). */
  const resolveRules = (): TagRules => {
    if (rules) return rules;
    const env = options.env ?? process.env;
    const fromEnv: Record<string, string> = {};
    for (const [tag, variable] of Object.entries(config.from_env)) {
      const value = env[variable];
      if (value === undefined || value === '') {
        missingEnv.add(1);
        logger.warn({ processor: settings.id, tag, variable }, `tags: environment variable ${variable} is unset or empty; tag "${tag}" is not set`);
      } else fromEnv[tag] = value;
    }
    let detected: Record<string, string> = {};
    if (config.detect_host) {
      const host = (options.detectHost ?? detectHost)();
      detected = host.ip === undefined ? { host: host.host } : { host: host.host, ip: host.ip };
      if (host.ip === undefined) logger.warn({ processor: settings.id, host: host.host }, 'tags: detect_host found no non-loopback address; only host is set');
    }
    rules = {
      rename: config.rename,
      drop: config.drop,
      keep: config.keep && new Set(config.keep),
      detected,
      add: { ...fromEnv, ...config.set },
      fromResource: config.from_resource,
      override: config.override,
    };
    return rules;
  };

  const countConflicts = (n: number): void => {
    if (n > 0) conflicts.add(n, { outcome: config.override ? 'overridden' : 'kept' });
  };

  return {
    start(): void {
      resolveRules();
    },
    process(batch: Batch): Batch {
      const active = resolveRules();
      if (toBundles) {
        for (const bundle of batch.bundles) {
          if (!matches(bundle.resource.service ?? bundle.tags.service, bundle.resource.env ?? bundle.tags.env)) {
            unmatched.add(1, { item: 'bundle' });
            continue;
          }
          const result = applyTagRules(bundle.tags, bundle.resource, active);
          bundle.tags = result.tags;
          countConflicts(result.conflicts);
          matched.add(1, { item: 'bundle' });
        }
      }
      if (toMetrics) {
        for (const point of batch.metrics) {
          if (!matches(point.attributes.service ?? point.resource.service, point.attributes.env ?? point.resource.env)) {
            unmatched.add(1, { item: 'metric_point' });
            continue;
          }
          const result = applyTagRules(point.attributes, point.resource, active);
          point.attributes = result.tags;
          countConflicts(result.conflicts);
          matched.add(1, { item: 'metric_point' });
        }
      }
      return batch;
    },
  };
}

/** Sets, copies, renames and removes tags of profile bundles and attributes of metric points. */
export const tagsProcessor = defineProcessor({
  type: 'tags',
  stability: 'beta',
  description: 'Sets, copies (environment, resource, host), renames and removes the tags of bundles and the attributes of metric points.',
  config: TagsConfig,
  create: (settings, config) => createTagsProcessor(settings, config),
});

export default definePlugin({ name: '@profcol/processor-tags', version: ownPackageVersion(import.meta.url), profcol: '^1.0.0', components: [tagsProcessor] });
