import { defineExporter, definePlugin, s, type Batch, type CreateSettings, type Exporter, type Infer, ownPackageVersion } from '@profcol/core';
import { formatBatch } from './format.js';

export { formatBatch, formatBundle, formatBundleLine, formatMetricTable, formatSize, formatNumber, printable, profileSize, type Verbosity } from './format.js';

export const ConsoleConfig = s.object({
  verbosity: s.enum(['basic', 'detailed'] as const, {
    default: 'basic',
    description:
      "`basic`: one line per profile bundle and a table of metric points with their service and attributes. `detailed`: adds each profile's sample types and totals (once `pprof_decode` ran), the runtime metrics, and every resource attribute and tag.",
  }),
  output: s.enum(['stdout', 'stderr'] as const, {
    default: 'stdout',
    description: 'Where to print. Use `stderr` to keep stdout for JSON logs.',
  }),
});

export type ConsoleConfig = Infer<typeof ConsoleConfig>;

export interface ConsoleExporterOptions {
  /** Where to print instead of `config.output` (tests pass a collecting stream). */
  stream?: NodeJS.WritableStream;
}

/**
 * Prints what reaches it. A console that cannot be written to (a closed pipe) never refuses
 * data: it is a debugging aid, and refusing would make the receiver retry a batch the other
 * exporters of the pipeline already took. Failures are counted and logged instead.
 */
export function createConsoleExporter(settings: CreateSettings, config: ConsoleConfig, options: ConsoleExporterOptions = {}): Exporter {
  const stream: NodeJS.WritableStream = options.stream ?? (config.output === 'stderr' ? process.stderr : process.stdout);
  const sentBundles = settings.telemetry.counter('profcol_exporter_sent_bundles_total', 'Profile bundles an exporter delivered.');
  const sentPoints = settings.telemetry.counter('profcol_exporter_sent_metric_points_total', 'Metric points an exporter delivered.');
  const failedBundles = settings.telemetry.counter('profcol_exporter_send_failed_bundles_total', 'Profile bundles an exporter failed to deliver, by reason.');
  const failedPoints = settings.telemetry.counter(
    'profcol_exporter_send_failed_metric_points_total',
    'Metric points an exporter failed to deliver, by reason.',
  );
  let streamError: Error | undefined;
  // Without a listener an asynchronous EPIPE on stdout would crash the process.
  const onError = (error: Error): void => {
    streamError = error;
  };
  stream.on('error', onError);
  let stopped = false;

  const write = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      try {
        stream.write(text, (error?: Error | null) => (error ? reject(error) : resolve()));
      } catch (error) {
        reject(error as Error);
      }
    });

  return {
    async consume(batch: Batch): Promise<void> {
      const text = formatBatch(batch, config.verbosity);
      if (text === '') return;
      try {
        if (streamError) throw streamError;
        await write(text);
        sentBundles.add(batch.bundles.length);
        sentPoints.add(batch.metrics.length);
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? 'write';
        failedBundles.add(batch.bundles.length, { reason });
        failedPoints.add(batch.metrics.length, { reason });
        settings.logger.warn(
          { exporter: settings.id, err: error, bundles: batch.bundles.length, points: batch.metrics.length },
          'console exporter could not print a batch',
        );
      }
    },
    shutdown(): void {
      if (stopped) return;
      stopped = true;
      stream.off('error', onError);
    },
  };
}

/** Prints one line per profile bundle and a table of metric points. */
export const consoleExporter = defineExporter({
  type: 'console',
  stability: 'beta',
  description: 'Prints one line per profile bundle and a table of metric points.',
  config: ConsoleConfig,
  create: (settings, config) => createConsoleExporter(settings, config),
});

export default definePlugin({
  name: '@profcol/exporter-console',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [consoleExporter],
});
