import { mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BackpressureError, defineExporter, definePlugin, s, type Batch, type CreateSettings, type Exporter, type Infer, type Profile, type ProfileBundle, ownPackageVersion } from '@profcol/core';
import { ProfileDecoder, sniffEncoding } from '@profcol/pprof';
import { FileWriteError } from './errors.js';
import { RotatingJsonlFile } from './jsonl.js';
import { dateAndTime, isInside, profileFileName, serviceFolder } from './paths.js';
import { bundleRecord, metricRecord, type ProfileOutcome } from './records.js';

export { FileWriteError } from './errors.js';
export { sanitizeSegment, serviceFolder } from './paths.js';
export type { MetricRecord, ProfileOutcome } from './records.js';

export const FileConfig = s.object({
  directory: s.string({
    default: './data',
    description: 'Folder everything is written under; created if missing. A relative path is relative to the working directory profcol was started in.',
  }),
  format: s.enum(['pprof'] as const, {
    default: 'pprof',
    description: 'File format of the profiles: `pprof`, the protobuf `go tool pprof` opens (the only format for now).',
  }),
  write_profiles: s.boolean({
    default: true,
    description: 'Write each profile to `<directory>/<service>/<YYYY-MM-DD>/<HHMMSS.fff>-<source>-<type>[-<n>].pprof` (UTC, the start of the bundle\'s window).',
  }),
  decompress: s.boolean({
    default: false,
    description:
      'Write the decompressed protobuf instead of the bytes as received. zstd and LZ4 profiles are always decompressed, because `go tool pprof` reads only gzip and raw protobuf.',
  }),
  write_bundles: s.boolean({
    default: true,
    description: 'Append one JSON line per bundle to `<directory>/bundles.jsonl`: source, resource, tags, window, runtime metrics, and each profile with the path it was written to.',
  }),
  write_metrics: s.boolean({
    default: true,
    description: 'Append one JSON line per metric point to `<directory>/metrics.jsonl`.',
  }),
  max_file_size: s.bytes({
    default: '64MiB',
    check: (bytes) => (bytes < 1024 ? `${bytes} bytes is below the minimum of 1KiB` : undefined),
    description:
      'Size at which `metrics.jsonl` and `bundles.jsonl` are rotated: renamed `metrics-<UTC time>.jsonl` (`bundles-…`), never over an existing file. A file exceeds it only when a single batch is larger.',
  }),
  max_files: s.integer({
    default: 0,
    min: 0,
    description: 'Rotated JSON Lines files to keep per kind (the oldest are deleted); `0` keeps them all. `.pprof` files are never deleted.',
  }),
});

export type FileConfig = Infer<typeof FileConfig>;

/** Folder separators in the relative paths recorded in bundles.jsonl are always `/`. */
function portable(relative: string): string {
  return relative.split(path.sep).join('/');
}

/**
 * Writes profiles as `.pprof` files and metric points and bundle metadata as JSON Lines.
 * A file is never overwritten: profiles are created with `wx` and take the next free
 * `-<n>` suffix. A write it cannot do rejects the batch with a FileWriteError, so the
 * receiver learns of it; whatever else the batch held is still written.
 */
export function createFileExporter(settings: CreateSettings, config: FileConfig): Exporter {
  // Relative to the working directory (settings.baseDir), as the OpenTelemetry Collector's
  // file exporter does: `profcol run --config pipelines/default.yaml` writes to ./data where it was started.
  const root = path.resolve(settings.baseDir, config.directory);
  const { logger, telemetry, id } = settings;
  const counters = {
    sentBundles: telemetry.counter('profcol_exporter_sent_bundles_total', 'Profile bundles an exporter delivered.'),
    sentPoints: telemetry.counter('profcol_exporter_sent_metric_points_total', 'Metric points an exporter delivered.'),
    failedBundles: telemetry.counter('profcol_exporter_send_failed_bundles_total', 'Profile bundles an exporter failed to deliver, by reason.'),
    failedPoints: telemetry.counter('profcol_exporter_send_failed_metric_points_total', 'Metric points an exporter failed to deliver, by reason.'),
    files: telemetry.counter('profcol_exporter_file_written_files_total', 'Profile files the file exporter created.'),
    bytes: telemetry.counter('profcol_exporter_file_written_bytes_total', 'Bytes the file exporter wrote, by file kind (pprof, metrics, bundles).'),
    writeErrors: telemetry.counter('profcol_exporter_file_write_errors_total', 'Writes the file exporter could not do, by errno.'),
    rotations: telemetry.counter('profcol_exporter_file_rotations_total', 'JSON Lines files rotated for size, by file kind.'),
    decompressFailures: telemetry.counter('profcol_exporter_file_decompress_failures_total', 'Profiles written as received because they could not be decompressed, by reason.'),
    skipped: telemetry.counter('profcol_exporter_file_skipped_profiles_total', 'Profiles not written because there was nothing to write, by reason (empty: no bytes and no decoded form).'),
  };

  const jsonl = (base: 'metrics' | 'bundles'): RotatingJsonlFile =>
    new RotatingJsonlFile({
      exporterId: id,
      directory: root,
      base,
      maxFileBytes: config.max_file_size,
      maxFiles: config.max_files,
      onRotate: (rotated) => {
        counters.rotations.add(1, { file: base });
        logger.info({ exporter: id, file: rotated }, `rotated ${base}.jsonl`);
      },
      onPruneError: (file, error) => logger.warn({ exporter: id, file, err: error }, 'could not delete an old rotated file'),
    });
  const metricsFile = jsonl('metrics');
  const bundlesFile = jsonl('bundles');

  const decoder = ProfileDecoder.for(settings);
  const inflight = new Set<Promise<void>>();
  let stopping: Promise<void> | undefined;

  const failed = (error: FileWriteError): FileWriteError => {
    counters.writeErrors.add(1, { reason: error.errno });
    logger.error({ exporter: id, path: error.path, errno: error.errno }, error.message);
    return error;
  };

  async function ensureFolder(folder: string): Promise<void> {
    try {
      await mkdir(folder, { recursive: true });
    } catch (error) {
      throw new FileWriteError(id, 'create folder', folder, error);
    }
  }

  /**
   * The bytes to write: as received, or decompressed when asked or when pprof could not read
   * them. When `pprof_decode` dropped the bytes as received (`keep_raw: false`), its
   * decompressed protobuf is all there is, and is written.
   */
  async function contents(profile: Profile, encoding: string): Promise<{ bytes: Uint8Array; decompressed: boolean; error?: string }> {
    if (profile.data.byteLength === 0 && profile.decoded) return { bytes: profile.decoded.pprof, decompressed: true };
    const unreadable = encoding === 'zstd' || encoding === 'lz4';
    if (!config.decompress && !unreadable) return { bytes: profile.data, decompressed: false };
    // pprof_decode already decompressed it: decompress once, share.
    if (profile.decoded) return { bytes: profile.decoded.pprof, decompressed: encoding !== 'none' };
    // Decompressed (not summarized: what is written need not be a valid pprof) on the decode
    // workers, under service.limits.
    let failure: Error;
    try {
      const [outcome] = await decoder.decodeAll([{ bytes: profile.data, summarize: 'none' }]);
      if (outcome!.ok) return { bytes: outcome!.plain, decompressed: encoding !== 'none' };
      failure = outcome!.error;
    } catch (error) {
      failure = error as Error;
    }
    const reason = (failure as { kind?: string }).kind ?? 'decompress';
    counters.decompressFailures.add(1, { reason });
    logger.warn(
      { exporter: id, profile: profile.name, encoding, err: failure, max_decompressed_bytes: decoder.maxDecompressedBytes },
      `profile ${JSON.stringify(profile.name)} could not be decompressed; writing it as received`,
    );
    return { bytes: profile.data, decompressed: false, error: reason };
  }

  /** Creates the file with the first free `-<n>` suffix. */
  async function writeExclusive(folder: string, time: string, source: string, type: string, bytes: Uint8Array): Promise<string> {
    for (let n = 0; n < 10_000; n++) {
      const file = path.join(folder, profileFileName(time, source, type, n));
      if (!isInside(root, file)) throw new FileWriteError(id, 'write', file, Object.assign(new Error('path escapes the directory'), { code: 'EINVAL' }));
      let handle;
      try {
        handle = await open(file, 'wx');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw new FileWriteError(id, 'write', file, error);
      }
      try {
        await handle.writeFile(bytes);
        await handle.close();
      } catch (error) {
        // A half-written profile would not open in pprof: leave nothing rather than that.
        await handle.close().catch(() => undefined);
        await unlink(file).catch(() => undefined);
        throw new FileWriteError(id, 'write', file, error);
      }
      return file;
    }
    throw new FileWriteError(id, 'write', path.join(folder, profileFileName(time, source, type, 0)), Object.assign(new Error('10000 files of that name already exist'), { code: 'EEXIST' }));
  }

  /** Nothing to write: no bytes as received and no decoded form. Counted and logged, never a 0-byte file. */
  function isEmpty(profile: Profile): boolean {
    return profile.data.byteLength === 0 && (!profile.decoded || profile.decoded.pprof.byteLength === 0);
  }

  async function writeProfiles(bundle: ProfileBundle, errors: FileWriteError[]): Promise<ProfileOutcome[]> {
    const outcomes: ProfileOutcome[] = bundle.profiles.map((profile) => ({
      type: profile.type,
      name: profile.name,
      bytes: profile.data.byteLength,
      // Without the bytes as received (keep_raw: false), the encoding is that of what is written.
      encoding: sniffEncoding(profile.data.byteLength === 0 && profile.decoded ? profile.decoded.pprof : profile.data),
      ...(profile.delta !== undefined ? { delta: profile.delta } : {}),
    }));
    if (!config.write_profiles || bundle.profiles.length === 0) return outcomes;
    const { date, time } = dateAndTime(bundle.window.startNanos);
    const folder = path.join(root, serviceFolder(bundle.resource['service']), date);
    const toWrite = bundle.profiles.filter((profile, index) => {
      if (!isEmpty(profile)) return true;
      outcomes[index]!.skipped = 'empty';
      counters.skipped.add(1, { reason: 'empty' });
      logger.warn(
        { exporter: id, source: bundle.source, service: bundle.resource['service'], profile: profile.name, type: profile.type, reason: 'empty' },
        `profile ${JSON.stringify(profile.name)} has no bytes and no decoded form; no file is written for it`,
      );
      return false;
    });
    if (toWrite.length === 0) return outcomes;
    try {
      await ensureFolder(folder);
    } catch (error) {
      errors.push(failed(error as FileWriteError));
      for (const outcome of outcomes) if (!outcome.skipped) outcome.error = (error as FileWriteError).errno;
      return outcomes;
    }
    for (const [index, profile] of bundle.profiles.entries()) {
      const outcome = outcomes[index]!;
      if (outcome.skipped) continue;
      const { bytes, decompressed, error: decompressError } = await contents(profile, outcome.encoding);
      try {
        const file = await writeExclusive(folder, time, bundle.source, profile.type, bytes);
        Object.assign(outcome, { path: portable(path.relative(root, file)), writtenBytes: bytes.byteLength, decompressed });
        if (decompressError) outcome.decompressError = decompressError;
        counters.files.add(1);
        counters.bytes.add(bytes.byteLength, { file: 'pprof' });
      } catch (error) {
        errors.push(failed(error as FileWriteError));
        outcome.error = (error as FileWriteError).errno;
      }
    }
    return outcomes;
  }

  /** Whether the directory is known to exist (checked again only when an append finds it gone). */
  let rootReady = false;

  async function appendLines(file: RotatingJsonlFile, kind: 'metrics' | 'bundles', lines: string[], errors: FileWriteError[]): Promise<boolean> {
    if (lines.length === 0) return true;
    const text = `${lines.join('\n')}\n`;
    try {
      if (!rootReady) await ensureFolder(root);
      rootReady = true;
      try {
        await file.append(text);
      } catch (error) {
        // The directory was removed while running: create it again, once.
        if ((error as FileWriteError).errno !== 'ENOENT') throw error;
        await ensureFolder(root);
        await file.append(text);
      }
      counters.bytes.add(Buffer.byteLength(text), { file: kind });
      return true;
    } catch (error) {
      errors.push(failed(error as FileWriteError));
      return false;
    }
  }

  async function write(batch: Batch): Promise<void> {
    const errors: FileWriteError[] = [];
    const bundleLines: string[] = [];
    let bundlesFailed = 0;
    for (const bundle of batch.bundles) {
      const before = errors.length;
      const outcomes = await writeProfiles(bundle, errors);
      if (errors.length > before) bundlesFailed++;
      if (config.write_bundles) bundleLines.push(JSON.stringify(bundleRecord(bundle, outcomes)));
    }
    if (!(await appendLines(bundlesFile, 'bundles', bundleLines, errors))) bundlesFailed = batch.bundles.length;
    const pointsWritten = !config.write_metrics || (await appendLines(metricsFile, 'metrics', batch.metrics.map((point) => JSON.stringify(metricRecord(point))), errors));

    const reason = errors[0]?.errno ?? '';
    counters.sentBundles.add(batch.bundles.length - bundlesFailed);
    if (bundlesFailed > 0) counters.failedBundles.add(bundlesFailed, { reason });
    if (pointsWritten) counters.sentPoints.add(batch.metrics.length);
    else counters.failedPoints.add(batch.metrics.length, { reason });
    if (errors.length > 0) throw errors[0];
  }

  return {
    async start(): Promise<void> {
      try {
        await ensureFolder(root);
      } catch (error) {
        throw failed(error as FileWriteError);
      }
      logger.info({ exporter: id, directory: root }, 'file exporter writing under directory');
    },

    async consume(batch: Batch): Promise<void> {
      if (stopping) throw new BackpressureError(`exporters::${id}: the file exporter is shut down`);
      const run = write(batch);
      inflight.add(run);
      try {
        await run;
      } finally {
        inflight.delete(run);
      }
    },

    shutdown(): Promise<void> {
      stopping ??= (async () => {
        await Promise.allSettled([...inflight]);
        await Promise.all([metricsFile.flush(), bundlesFile.flush()]);
        await decoder.close();
      })();
      return stopping;
    },
  };
}

/** Writes profiles as .pprof files and metric points as JSON Lines. */
export const fileExporter = defineExporter({
  type: 'file',
  stability: 'beta',
  description: 'Writes profiles as .pprof files (they open in go tool pprof) and metric points as JSON Lines.',
  config: FileConfig,
  create: (settings, config) => createFileExporter(settings, config),
});

export default definePlugin({ name: '@profcol/exporter-file', version: ownPackageVersion(import.meta.url), profcol: '^1.0.0', components: [fileExporter] });
