import {
  defineProcessor,
  definePlugin,
  type Batch,
  type CreateSettings,
  type ProfileSummary,
  type Processor,
  type Profile,
  type ProfileBundle,
  ownPackageVersion,
  resolveLanguage,
} from '@profcol/core';
import { decodeFailureReason, ProfileDecoder } from '@profcol/pprof';
import { GoRuntimeConfig } from './config.js';
import { deriveGoMetrics } from './derive.js';
import { DEFAULT_GC_FRAMES, gcFrameMatcher } from './gc-frames.js';
import { CumulativeTotals } from './cumulative.js';
import { MemStatsBaselines, type MemStatsOutcome } from './memstats.js';
import { GO_METRIC_NAMES, type GoMetricName } from './metrics.js';
import { pointResource, toPoints, toSemconvPoints, type LabelOptions, type SumOptions } from './points.js';
import { COVERED_BY_SEMCONV, semconvValues } from './semconv.js';

export { GoRuntimeConfig, DEFAULT_HIGH_CARDINALITY_KEYS, PROFILER_TAG_KEYS, isProfilerTag } from './config.js';
export { deriveGoMetrics, isDeltaProfile, type DeriveOptions, type DerivedMetrics, type OmitReason } from './derive.js';
export { DEFAULT_GC_FRAMES, gcFrameMatcher } from './gc-frames.js';
export { memStatsDelta, MemStatsBaselines, type MemStatsDelta, type MemStatsOutcome } from './memstats.js';
export { GO_METRICS, GO_METRIC_NAMES, type GoMetricName, type GoMetricSpec } from './metrics.js';
export { pointAttributes, pointResource, toPoints, toSemconvPoints, type SumOptions } from './points.js';
export { COVERED_BY_SEMCONV, NAMINGS, SEMCONV_METRICS, semconvValues, type Naming, type SemconvName, type SemconvValue } from './semconv.js';
export { CumulativeTotals, type AddOutcome } from './cumulative.js';

/** Go as the receivers resolve it (`golang`); any alias core's table maps to it (`go`) is accepted too. Everything else passes through. */
export function isGoBundle(bundle: ProfileBundle): boolean {
  const language = bundle.resource.language;
  return language === 'golang' || resolveLanguage(language) === 'golang';
}

/** The pulled target a MemStats trailer belongs to: one per receiver and target URL. */
export function targetKey(bundle: ProfileBundle): string {
  const r = bundle.resource;
  return JSON.stringify([bundle.source, r.instance ?? '', r.runtime_id ?? '', r.service ?? '']);
}

export interface GoRuntimeOptions {
  /** The wall clock in ms, for the expiry of per-target state (tests move it). */
  nowMs?: () => number;
}

export function createGoRuntimeProcessor(settings: CreateSettings, config: GoRuntimeConfig, options: GoRuntimeOptions = {}): Processor {
  if (!config.generate_metrics) return { process: (batch: Batch) => batch };
  const { logger, telemetry } = settings;
  const nowMs = options.nowMs ?? Date.now;
  const bundlesSeen = telemetry.counter('profcol_processor_bundles_total', 'Profile bundles a processor looked at, by outcome.');
  const pointsMade = telemetry.counter('profcol_processor_metric_points_total', 'Metric points a processor added.');
  const deriveDuration = telemetry.histogram(
    'profcol_processor_derive_duration_seconds',
    'Time goruntime spent on one Go bundle: decoding the profiles no processor had decoded, and deriving its metric points, in seconds.',
    { unit: 's' },
  );
  const omittedMetrics = telemetry.counter('profcol_processor_omitted_metrics_total', 'prof_go_* values not emitted for a Go bundle, by metric and reason.');
  const decodeFailures = telemetry.counter(
    'profcol_processor_decode_failed_profiles_total',
    'Profiles a processor could not decode, by type and reason (decompress, too_large, pprof): pprof_decode removes them from their bundle, goruntime passes them on and omits the metrics they feed.',
  );
  const memStatsRounds = telemetry.counter(
    'profcol_processor_memstats_rounds_total',
    'MemStats trailers of pulled targets, by outcome (delta, baseline, restart, out_of_order, retry).',
  );
  const pausesMissed = telemetry.counter(
    'profcol_processor_missed_gc_pauses_total',
    'GC cycles whose pause had left the 256-entry PauseNs ring before it was read; their pauses are missing from prof_go_gc_pause_time.',
  );

  const counterWindows = telemetry.counter(
    'profcol_processor_counter_windows_total',
    'Windows of the semantic-convention counters (naming otel or both), by metric and outcome: added to the running total, retry (the same window again: the same total re-emitted, nothing added), out_of_order (older than the last one added: not added, not emitted).',
  );
  const seriesStarted = telemetry.counter(
    'profcol_processor_counter_series_started_total',
    'Cumulative semantic-convention series started (a new pulled target or runtime id, or one that restarted).',
  );
  const seriesReset = telemetry.counter(
    'profcol_processor_counter_series_reset_total',
    'Cumulative semantic-convention series ended because their pulled target restarted (a MemStats counter went backwards) or came back after state_ttl.',
  );

  const conventional = config.naming !== 'prof_go';
  /** Under `otel`, the prof_go_* metrics a convention metric carries are computed but not emitted. */
  const skipped = config.naming === 'otel' ? COVERED_BY_SEMCONV : {};
  const totals = new CumulativeTotals(config.state_ttl, () => seriesStarted.add(1));
  const onWindow: SumOptions['onWindow'] = (outcome, metric) => {
    counterWindows.add(1, { metric, outcome });
    if (outcome === 'out_of_order')
      logger.warn(
        { processor: settings.id, metric },
        'goruntime: a counter window older than the last one of its series was not added (a late or reordered batch)',
      );
  };
  const enabled = new Set((config.metrics ?? GO_METRIC_NAMES) as GoMetricName[]);
  const isGcFrame = gcFrameMatcher(config.gc_frames ?? DEFAULT_GC_FRAMES);
  const baselines = new MemStatsBaselines(config.state_ttl);
  const highCardinality = new Set(config.high_cardinality_keys);
  const labels: LabelOptions = {
    copyTags: config.copy_tags,
    copyProfilerTags: config.copy_profiler_tags,
    attributes: config.attributes,
    dropKeys: config.include_high_cardinality ? new Set() : highCardinality,
  };

  const decoder = ProfileDecoder.for(settings);
  /**
   * Decodes (on the decode workers, as one job) the profiles of a bundle the metrics may read
   * and nobody decoded yet (no `pprof_decode` before this processor, a pulled bundle); returns
   * the ones that cannot be decoded, counted and logged: the metrics they feed are omitted.
   */
  const decodeNeeded = async (bundle: ProfileBundle): Promise<Set<Profile>> => {
    const failed = new Set<Profile>();
    const todo = bundle.profiles.filter((p) => !p.decoded && PROFILE_TYPES_READ.has(p.type.toLowerCase()));
    if (todo.length === 0) return failed;
    for (const [profile, error] of await decoder.decodeProfiles(todo)) {
      const reason = decodeFailureReason(error);
      // Out of memory budget or a dead worker is not the profile's fault: the batch is refused, to be retried.
      if (reason === 'memory_budget' || reason === 'worker') throw error;
      failed.add(profile);
      decodeFailures.add(1, { type: profile.type, reason });
      logger.warn(
        { processor: settings.id, source: bundle.source, service: bundle.resource.service, profile: profile.name, type: profile.type, reason, err: error },
        'goruntime: cannot decode a profile; the metrics it feeds are omitted',
      );
    }
    return failed;
  };

  const readMemStats = (bundle: ProfileBundle): MemStatsOutcome | undefined => {
    if (!bundle.memStats) return undefined;
    let outcome = baselines.next(targetKey(bundle), bundle.memStats, nowMs());
    memStatsRounds.add(1, { outcome: outcome.kind });
    if (outcome.kind === 'retry') outcome = outcome.outcome;
    const where = { processor: settings.id, source: bundle.source, instance: bundle.resource.instance, service: bundle.resource.service };
    if (outcome.kind === 'restart')
      logger.warn({ ...where, counter: outcome.counter }, 'goruntime: a MemStats counter went backwards (the target restarted); this round is a new baseline');
    else if (outcome.kind === 'out_of_order') logger.warn(where, 'goruntime: a MemStats trailer older than the last one of this target was ignored');
    else if (outcome.kind === 'delta' && outcome.delta.pausesMissed > 0) {
      pausesMissed.add(outcome.delta.pausesMissed);
      logger.warn(
        { ...where, missed: outcome.delta.pausesMissed },
        'goruntime: more than 256 GCs completed between two rounds; prof_go_gc_pause_time covers only the last 256 pauses',
      );
    }
    return outcome;
  };

  return {
    async process(batch: Batch): Promise<Batch> {
      for (const bundle of batch.bundles) {
        if (!isGoBundle(bundle)) {
          bundlesSeen.add(1, { outcome: 'not_go' });
          continue;
        }
        const started = performance.now();
        const failed = await decodeNeeded(bundle);
        const decode = (profile: Profile): ProfileSummary | undefined => (failed.has(profile) ? undefined : profile.decoded);
        const memStats = readMemStats(bundle);
        const derived = deriveGoMetrics(bundle, { enabled, isGcFrame, memStats, decode });
        const resource = pointResource(bundle, labels);
        const points = toPoints(bundle, derived.values, labels, skipped, resource);
        if (conventional) {
          const sourceKey = targetKey(bundle);
          // A pulled target that restarted (or a first trailer after a silence) starts its series over with a new start time.
          if (memStats?.kind === 'restart' || memStats?.kind === 'baseline') seriesReset.add(totals.restart(sourceKey));
          const sums: SumOptions = { temporality: config.temporality, totals, sourceKey, nowMs: nowMs(), onWindow };
          points.push(...toSemconvPoints(bundle, semconvValues(derived, bundle.memStats), labels, sums, resource));
        }
        batch.metrics.push(...points);
        bundlesSeen.add(1, { outcome: 'derived' });
        deriveDuration.record((performance.now() - started) / 1000);
        pointsMade.add(points.length);
        for (const { metric, reason } of derived.omitted) omittedMetrics.add(1, { metric, reason });
        if (derived.omitted.length > 0) {
          logger.debug(
            { processor: settings.id, source: bundle.source, service: bundle.resource.service, omitted: derived.omitted },
            'goruntime: some prof_go_* metrics have no value for this bundle',
          );
        }
      }
      return batch;
    },
    shutdown: () => decoder.close(),
  };
}

/** The profile types deriveGoMetrics reads (pickProfile's types). */
const PROFILE_TYPES_READ: ReadonlySet<string> = new Set(['cpu', 'heap', 'allocs', 'block', 'mutex', 'goroutine', 'goroutines']);

/** Derives the 15 `prof_go_*` Go runtime metrics from each Go profile bundle. */
export const goruntimeProcessor = defineProcessor({
  type: 'goruntime',
  stability: 'beta',
  description: 'Derives the prof_go_* Go runtime metrics (CPU, GC, allocation, heap, goroutines, contention) from Go profile bundles.',
  config: GoRuntimeConfig,
  create: (settings, config) => createGoRuntimeProcessor(settings, config),
});

export default definePlugin({
  name: '@profcol/processor-goruntime',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [goruntimeProcessor],
});
