import { mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  createQueuedExporter,
  defineExporter,
  definePlugin,
  exporterHelperFields,
  s,
  type Batch,
  type ConsumeOptions,
  type CreateSettings,
  type Exporter,
  type Host,
  type Infer,
  type MetricPoint,
  type Profile,
  type ProfileBundle,
  ownPackageVersion,
} from '@profcol/core';
import { ProfileDecoder, sniffEncoding } from '@profcol/pprof';
import { FileWriteError } from './errors.js';
import { RotatingJsonlFile } from './jsonl.js';
import { dateAndTime, isInside, profileFileName, serviceFolder, UniqueSuffixes } from './paths.js';
import { DirectoryQuota } from './quota.js';
import { bundleRecord, metricLine, type ProfileOutcome } from './records.js';

export { FileWriteError } from './errors.js';
export { RotatingJsonlFile, type JsonlFs } from './jsonl.js';
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
    description:
      "Write each profile to `<directory>/<service>/<YYYY-MM-DD>/<HHMMSS.fff>-<source>-<type>.pprof` (UTC, the start of the bundle's window); when that name is taken, `…-<type>-<run>-<n>.pprof`.",
  }),
  decompress: s.boolean({
    default: false,
    description:
      'Write the decompressed protobuf instead of the bytes as received. Without it, zstd and LZ4 profiles are recompressed as gzip (`go tool pprof` reads only gzip and raw protobuf); the others are written as received.',
  }),
  write_bundles: s.boolean({
    default: true,
    description:
      'Append one JSON line per bundle to `<directory>/bundles.jsonl`: source, resource, tags, window, runtime metrics, and each profile with the path it was written to.',
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
  max_bytes: s.bytes({
    default: '10GiB',
    description:
      'The most the directory may hold (profiles and JSON Lines files, those of earlier runs included, counted at start). A write past it is refused, never made room for by deleting: the batch is refused back to the receiver (or retried by the sending queue), counted in `profcol_exporter_file_quota_refusals_total` and logged. `0`: no limit.',
  }),
  max_files: s.integer({
    default: 0,
    min: 0,
    description: 'Rotated JSON Lines files to keep per kind (the oldest are deleted); `0` keeps them all. `.pprof` files are never deleted.',
  }),
  // The exporter helper of @profcol/core. Off by default: `consume()` resolves once the batch is
  // on disk, and a write that fails refuses the batch back to the receiver at once.
  ...exporterHelperFields({ queue: { enabled: false, num_consumers: 4 }, retry: { enabled: false }, storage: false }),
});

export type FileConfig = Infer<typeof FileConfig>;

/** Folder separators in the relative paths recorded in bundles.jsonl are always `/`. */
function portable(relative: string): string {
  return relative.split(path.sep).join('/');
}

const gzipAsync = promisify(gzip);
/**
 * zstd/LZ4 profiles are recompressed at gzip's fastest level: it runs for every such profile of
 * every upload, on the threadpool beside the event loop, and level 6 (the default) took the
 * push bench from 1,730 to 1,370-1,566 uploads/s on 2 cores; level 1 files are ~10 % larger.
 */
const RECOMPRESS_LEVEL = 1;

/**
 * What the exporter helper sends: one bundle (its profiles, then its line in bundles.jsonl), or
 * the metric points of one batch. A bundle retried after a failure keeps its outcomes, so the
 * profiles already written are not written again.
 */
type FileRequest = { kind: 'bundle'; bundle: ProfileBundle; outcomes?: ProfileOutcome[] } | { kind: 'metrics'; points: MetricPoint[] };

/**
 * Writes profiles as `.pprof` files and metric points and bundle metadata as JSON Lines.
 * A file is never overwritten: profiles are created with `wx`, and a taken name gets a suffix
 * unique to this run. A write it cannot do rejects the batch with a FileWriteError (or, with
 * the sending queue, is retried), so the receiver learns of it; whatever else the batch held is
 * still written. Queueing and retries are @profcol/core's exporter helper.
 */
export function createFileExporter(settings: CreateSettings, config: FileConfig): Exporter {
  // Relative to the working directory (settings.baseDir), as the OpenTelemetry Collector's
  // file exporter does: `profcol run --config pipelines/default.yaml` writes to ./data where it was started.
  const root = path.resolve(settings.baseDir, config.directory);
  const { logger, telemetry, id } = settings;
  const counters = {
    files: telemetry.counter('profcol_exporter_file_written_files_total', 'Profile files the file exporter created.'),
    bytes: telemetry.counter('profcol_exporter_file_written_bytes_total', 'Bytes the file exporter wrote, by file kind (pprof, metrics, bundles).'),
    writeErrors: telemetry.counter(
      'profcol_exporter_file_write_errors_total',
      'Writes the file exporter could not do, by errno (MAX_BYTES: refused by max_bytes).',
    ),
    quotaRefusals: telemetry.counter(
      'profcol_exporter_file_quota_refusals_total',
      'Writes refused because the directory holds max_bytes, by file kind (pprof, metrics, bundles).',
    ),
    rotations: telemetry.counter('profcol_exporter_file_rotations_total', 'JSON Lines files rotated for size, by file kind.'),
    repairs: telemetry.counter(
      'profcol_exporter_file_repaired_lines_total',
      'Torn last lines (of a process killed mid-append) cut off a JSON Lines file at its first append, by file kind.',
    ),
    decompressFailures: telemetry.counter(
      'profcol_exporter_file_decompress_failures_total',
      'Profiles written as received because they could not be decompressed, by reason.',
    ),
    skipped: telemetry.counter(
      'profcol_exporter_file_skipped_profiles_total',
      'Profiles not written because there was nothing to write, by reason (empty: no bytes and no decoded form).',
    ),
  };
  const quota = config.max_bytes > 0 ? new DirectoryQuota(root, config.max_bytes) : undefined;

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
      onPruned: (_file, bytes) => quota?.giveBack(bytes),
      onRepair: (file, removedBytes) => {
        counters.repairs.add(1, { file: base });
        quota?.giveBack(removedBytes);
        logger.warn(
          { exporter: id, file, removedBytes },
          `cut a torn last line off ${base}.jsonl (left by a process stopped in the middle of an append; that batch was never acknowledged)`,
        );
      },
    });
  const metricsFile = jsonl('metrics');
  const bundlesFile = jsonl('bundles');
  const suffixes = new UniqueSuffixes();

  const decoder = ProfileDecoder.for(settings);

  const failed = (error: FileWriteError): FileWriteError => {
    counters.writeErrors.add(1, { reason: error.errno });
    logger.error({ exporter: id, path: error.path, errno: error.errno }, error.message);
    return error;
  };

  /** Takes `bytes` of `max_bytes` for a write to `file`, or throws the refusal. */
  function takeQuota(bytes: number, file: string, kind: 'pprof' | 'metrics' | 'bundles'): void {
    if (!quota || quota.tryTake(bytes)) return;
    counters.quotaRefusals.add(1, { file: kind });
    throw new FileWriteError(
      id,
      kind === 'pprof' ? 'write' : 'append to',
      file,
      Object.assign(new Error(`max_bytes ${quota.maxBytes} reached (${quota.usedBytes} used, ${bytes} more needed)`), { code: 'MAX_BYTES' }),
    );
  }

  async function ensureFolder(folder: string): Promise<void> {
    try {
      await mkdir(folder, { recursive: true });
    } catch (error) {
      throw new FileWriteError(id, 'create folder', folder, error);
    }
  }

  /**
   * The bytes to write: as received, decompressed when asked, or recompressed as gzip when
   * pprof could not read them as received (zstd, LZ4) — never decompressed just for that: a
   * 79 KB zstd upload can inflate to 250 MB. When `pprof_decode` dropped the bytes as received
   * (`keep_raw: false`), its decompressed protobuf is all there is, and is written.
   */
  async function contents(profile: Profile, encoding: string): Promise<{ bytes: Uint8Array; decompressed: boolean; recompressed?: 'gzip'; error?: string }> {
    if (profile.data.byteLength === 0 && profile.decoded) return { bytes: profile.decoded.pprof, decompressed: true };
    const unreadable = encoding === 'zstd' || encoding === 'lz4';
    if (!config.decompress && !unreadable) return { bytes: profile.data, decompressed: false };
    let plain: Uint8Array | undefined = profile.decoded?.pprof;
    let failure: Error | undefined;
    if (!plain) {
      // Decompressed (not summarized: what is written need not be a valid pprof) on the decode
      // workers, under service.limits.
      try {
        const [outcome] = await decoder.decodeAll([{ bytes: profile.data, summarize: 'none' }]);
        if (outcome!.ok) plain = outcome!.plain;
        else failure = outcome!.error;
      } catch (error) {
        failure = error as Error;
      }
    }
    if (plain) {
      if (config.decompress) return { bytes: plain, decompressed: encoding !== 'none' };
      return { bytes: new Uint8Array(await gzipAsync(plain, { level: RECOMPRESS_LEVEL })), decompressed: false, recompressed: 'gzip' };
    }
    const reason = (failure as { kind?: string }).kind ?? 'decompress';
    counters.decompressFailures.add(1, { reason });
    logger.warn(
      { exporter: id, profile: profile.name, encoding, err: failure, max_decompressed_bytes: decoder.maxDecompressedBytes },
      `profile ${JSON.stringify(profile.name)} could not be decompressed; writing it as received`,
    );
    return { bytes: profile.data, decompressed: false, error: reason };
  }

  /**
   * Creates the file under its plain name, or — when that is taken (two bundles of the same
   * millisecond, a file left by someone else) — under a name with this run's unique suffix: at
   * most a second open, however many files of that name exist.
   */
  async function writeNew(folder: string, time: string, source: string, type: string, bytes: Uint8Array): Promise<string> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const file = path.join(folder, profileFileName(time, source, type, attempt === 0 ? undefined : suffixes.next()));
      if (!isInside(root, file)) throw new FileWriteError(id, 'write', file, Object.assign(new Error('path escapes the directory'), { code: 'EINVAL' }));
      let handle;
      try {
        handle = await open(file, 'wx');
      } catch (error) {
        // Only a file of another process (or an earlier run started in the same millisecond) can hold a suffixed name.
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
    throw new FileWriteError(
      id,
      'write',
      path.join(folder, profileFileName(time, source, type)),
      Object.assign(new Error('100 unique names were taken'), { code: 'EEXIST' }),
    );
  }

  /** Nothing to write: no bytes as received and no decoded form. Counted and logged, never a 0-byte file. */
  function isEmpty(profile: Profile): boolean {
    return profile.data.byteLength === 0 && (!profile.decoded || profile.decoded.pprof.byteLength === 0);
  }

  function initialOutcomes(bundle: ProfileBundle): ProfileOutcome[] {
    return bundle.profiles.map((profile) => {
      const outcome: ProfileOutcome = {
        type: profile.type,
        name: profile.name,
        bytes: profile.data.byteLength,
        // Without the bytes as received (keep_raw: false), the encoding is that of what is written.
        encoding: sniffEncoding(profile.data.byteLength === 0 && profile.decoded ? profile.decoded.pprof : profile.data),
        ...(profile.delta !== undefined ? { delta: profile.delta } : {}),
      };
      if (config.write_profiles && isEmpty(profile)) {
        outcome.skipped = 'empty';
        counters.skipped.add(1, { reason: 'empty' });
        logger.warn(
          { exporter: id, source: bundle.source, service: bundle.resource['service'], profile: profile.name, type: profile.type, reason: 'empty' },
          `profile ${JSON.stringify(profile.name)} has no bytes and no decoded form; no file is written for it`,
        );
      }
      return outcome;
    });
  }

  /** Writes the profiles of a bundle not written yet; throws the first failure (the rest are still tried). */
  async function writeProfiles(bundle: ProfileBundle, outcomes: ProfileOutcome[]): Promise<void> {
    const toWrite = bundle.profiles.flatMap((profile, index) =>
      outcomes[index]!.path || outcomes[index]!.skipped ? [] : [{ profile, outcome: outcomes[index]! }],
    );
    if (toWrite.length === 0) return;
    const { date, time } = dateAndTime(bundle.window.startNanos);
    const folder = path.join(root, serviceFolder(bundle.resource['service']), date);
    try {
      await ensureFolder(folder);
    } catch (error) {
      for (const { outcome } of toWrite) outcome.error = (error as FileWriteError).errno;
      throw failed(error as FileWriteError);
    }
    let first: FileWriteError | undefined;
    for (const { profile, outcome } of toWrite) {
      const { bytes, decompressed, recompressed, error: decompressError } = await contents(profile, outcome.encoding);
      try {
        takeQuota(bytes.byteLength, path.join(folder, profileFileName(time, bundle.source, profile.type)), 'pprof');
        let file: string;
        try {
          file = await writeNew(folder, time, bundle.source, profile.type, bytes);
        } catch (error) {
          quota?.giveBack(bytes.byteLength);
          throw error;
        }
        delete outcome.error;
        Object.assign(outcome, {
          path: portable(path.relative(root, file)),
          writtenBytes: bytes.byteLength,
          decompressed,
          ...(recompressed ? { recompressed } : {}),
        });
        if (decompressError) outcome.decompressError = decompressError;
        counters.files.add(1);
        counters.bytes.add(bytes.byteLength, { file: 'pprof' });
      } catch (error) {
        outcome.error = (error as FileWriteError).errno;
        first ??= failed(error as FileWriteError);
      }
    }
    if (first) throw first;
  }

  /** Whether the directory is known to exist (checked again only when an append finds it gone). */
  let rootReady = false;

  async function appendLines(file: RotatingJsonlFile, kind: 'metrics' | 'bundles', lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    const bytes = Buffer.byteLength(text);
    try {
      takeQuota(bytes, file.path, kind);
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
      } catch (error) {
        quota?.giveBack(bytes);
        throw error;
      }
      counters.bytes.add(bytes, { file: kind });
    } catch (error) {
      throw failed(error as FileWriteError);
    }
  }

  async function send(request: FileRequest): Promise<void> {
    if (request.kind === 'metrics') return appendLines(metricsFile, 'metrics', request.points.map(metricLine));
    const outcomes = (request.outcomes ??= initialOutcomes(request.bundle));
    if (config.write_profiles) await writeProfiles(request.bundle, outcomes);
    if (config.write_bundles) await appendLines(bundlesFile, 'bundles', [JSON.stringify(bundleRecord(request.bundle, outcomes))]);
  }

  const helper = createQueuedExporter<FileRequest>({
    settings,
    config,
    name: 'file exporter',
    destination: root,
    toRequests: (batch: Batch) => [
      ...batch.bundles.map((bundle): FileRequest => ({ kind: 'bundle', bundle })),
      ...(batch.metrics.length > 0 && config.write_metrics ? [{ kind: 'metrics', points: batch.metrics } as FileRequest] : []),
    ],
    itemsOf: (request) => (request.kind === 'bundle' ? { bundles: 1 } : { points: request.points.length }),
    // A bundle is about the size of its profiles; what max_bytes of the queue bounds is memory.
    sizeOf: (request) => (request.kind === 'bundle' ? request.bundle.profiles.reduce((n, p) => n + p.data.byteLength, 0) : request.points.length * 300),
    send: (request) => send(request),
    start: async () => {
      if (quota) {
        const used = await quota.scan();
        logger.info({ exporter: id, directory: root, usedBytes: used, maxBytes: quota.maxBytes }, 'file exporter quota: bytes the directory holds already');
      }
    },
    shutdown: async () => {
      await Promise.all([metricsFile.close(), bundlesFile.close()]);
      await decoder.close();
    },
  });
  let helperStarted: Promise<void> | undefined;
  const startHelper = (host?: Host) => (helperStarted ??= helper.start(host));

  return {
    async start(host?: Host): Promise<void> {
      try {
        await ensureFolder(root);
      } catch (error) {
        throw failed(error as FileWriteError);
      }
      await startHelper(host);
      logger.info({ exporter: id, directory: root }, 'file exporter writing under directory');
    },

    async consume(batch: Batch, options?: ConsumeOptions): Promise<void> {
      // Usable without start() (the host always calls it; a library user may not).
      await startHelper();
      return helper.consume(batch, options);
    },

    async shutdown(): Promise<void> {
      // After a consume() that is starting the helper: its batch is in flight and is drained.
      if (helperStarted) await helperStarted.catch(() => undefined);
      return helper.shutdown();
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
