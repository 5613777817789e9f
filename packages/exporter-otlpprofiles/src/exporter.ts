import type http from 'node:http';

import { toBinary } from '@bufbuild/protobuf';
import {
  BackpressureError,
  createQueuedExporter,
  defaultServiceLimits,
  ProfcolError,
  createHttpAgent,
  type Batch,
  type ConsumeOptions,
  type CreateSettings,
  type Exporter,
  type Host,
  type ProfileBundle,
  type QueuedExporter,
} from '@profcol/core';
import { decodeFailureReason, decodePprof, ProfileDecoder } from '@profcol/pprof';
import { profilesUrl, type OtlpProfilesExporterConfig } from './config.js';
import { convertBundle, type DecodedInput } from './convert.js';
import { ExportProfilesServiceRequestSchema } from './gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.js';
import { ProfilesSender } from './sender.js';
import { SCOPE_VERSION } from './version.js';

export class OtlpProfilesExporterError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('otlp_profiles_exporter', message, options);
  }
}

/** One bundle, converted and encoded: what is queued, persisted and sent. */
export interface ProfilesRequest {
  /** An encoded `ExportProfilesServiceRequest` (protobuf, uncompressed). */
  body: Uint8Array;
}

/** The persistent queue stores the protobuf request itself. */
const requestCodec = {
  encode: (request: ProfilesRequest) => request.body,
  decode: (body: Buffer): ProfilesRequest => ({ body }),
};

/**
 * Converting a decoded pprof holds its object model, the OTLP messages and the encoded request at
 * once: this many times the decompressed pprof is charged to the memory budget while it runs.
 */
export const CONVERSION_COST_FACTOR = 8;

/**
 * The `otlp_profiles` exporter: each bundle's profiles, decoded once (`ProfileDecoder`), become
 * one OTLP profiles request; the exporter helper queues, retries, persists and counts them.
 */
export class OtlpProfilesExporter implements Exporter {
  private readonly url: string;
  private readonly helper: QueuedExporter<ProfilesRequest>;
  private readonly decoder: ProfileDecoder;
  private sender: ProfilesSender | undefined;
  private agent: http.Agent | undefined;
  private readonly m;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: OtlpProfilesExporterConfig,
  ) {
    this.url = profilesUrl(config);
    this.decoder = ProfileDecoder.for(settings);
    const { telemetry } = settings;
    this.m = {
      converted: telemetry.counter('profcol_exporter_otlp_profiles_converted_total', 'OTLP profiles made from pprof profiles (one per sample type).'),
      samples: telemetry.counter(
        'profcol_exporter_otlp_profiles_converted_samples_total',
        'pprof samples converted to OTLP (each once, whatever its number of sample types).',
      ),
      skipped: telemetry.counter(
        'profcol_exporter_otlp_profiles_skipped_profiles_total',
        'pprof profiles not exported because they cannot be decoded, by reason (too_large, decompress, pprof, ...).',
      ),
      refused: telemetry.counter(
        'profcol_exporter_otlp_profiles_refused_bundles_total',
        'Bundles refused with backpressure before conversion, by reason (memory_budget: service.limits.memory had no room to convert them).',
      ),
      labels: telemetry.counter(
        'profcol_exporter_otlp_profiles_dropped_labels_total',
        'pprof labels not exported, by reason (duplicate_key: OTLP attribute keys are unique per sample).',
      ),
      rejected: telemetry.counter(
        'profcol_exporter_otlp_profiles_rejected_profiles_total',
        'Profiles the backend accepted the request of but rejected (OTLP partial success).',
      ),
    };
    this.helper = createQueuedExporter<ProfilesRequest>({
      settings,
      config,
      name: 'OTLP profiles exporter',
      destination: this.url,
      toRequests: (batch) => (batch as PreparedBatch).prepared ?? [],
      itemsOf: () => ({ bundles: 1 }),
      codec: requestCodec,
      sizeOf: (request) => request.body.byteLength,
      fileSuffix: '.otlpp',
      send: async (request, { signal }) => {
        if (!this.sender) throw new OtlpProfilesExporterError(`exporter "${settings.id}" sent before it was started`);
        const partial = await this.sender.send(request.body, signal);
        if (partial) {
          this.m.rejected.add(partial.rejectedProfiles);
          settings.logger.warn(
            { exporter: settings.id, rejectedProfiles: partial.rejectedProfiles, message: partial.message },
            'the OTLP backend accepted a profiles request but rejected some of its profiles',
          );
        }
      },
      start: async () => {
        this.agent = await this.createAgent();
        this.sender = new ProfilesSender({
          url: this.url,
          headers: config.headers,
          compression: config.compression,
          agent: this.agent,
          retryableStatusCodes: config.retry_on_failure.retryable_status_codes,
          userAgent: `profcol/${SCOPE_VERSION}`,
        });
      },
      shutdown: async () => {
        this.agent?.destroy();
        await this.decoder.close();
      },
    });
  }

  async start(host?: Host): Promise<void> {
    await this.helper.start(host);
    const queue = this.config.sending_queue;
    this.settings.logger.info(
      {
        exporter: this.settings.id,
        url: this.url,
        compression: this.config.compression,
        queue: queue.enabled
          ? { size: queue.queue_size, max_bytes: queue.max_bytes, consumers: queue.num_consumers, storage: this.helper.storageDir ?? null }
          : false,
      },
      'OTLP profiles exporter started',
    );
  }

  async consume(batch: Batch, options?: ConsumeOptions): Promise<void> {
    if (batch.bundles.length === 0) return;
    const prepared: ProfilesRequest[] = [];
    for (const bundle of batch.bundles) {
      const request = await this.convert(bundle, options?.signal);
      if (request) prepared.push(request);
    }
    if (prepared.length === 0) return;
    // The helper's `toRequests` is synchronous; the decoding above is not, so the batch carries its requests.
    await this.helper.consume(Object.assign({ bundles: batch.bundles, metrics: [] }, { prepared }) as PreparedBatch, options);
  }

  /** Decodes (once, shared with other components) and converts one bundle; undefined when none of its profiles could be. */
  private async convert(bundle: ProfileBundle, signal: AbortSignal | undefined): Promise<ProfilesRequest | undefined> {
    const failures = await this.decoder.decodeProfiles(bundle.profiles, { signal });
    for (const [profile, error] of failures) this.skip(bundle, profile.name, decodeFailureReason(error), error);
    const decoded = bundle.profiles.filter((p) => p.decoded && !failures.has(p));
    if (decoded.length === 0) return undefined;

    const memory = (this.settings.limits ?? defaultServiceLimits()).budget;
    const cost = decoded.reduce((n, p) => n + p.decoded!.pprof.byteLength, 0) * CONVERSION_COST_FACTOR;
    const reservation = memory.tryReserve(cost);
    if (!reservation) {
      this.m.refused.add(1, { reason: 'memory_budget' });
      const message = `exporter "${this.settings.id}": converting ${decoded.length} profiles of ${bundle.resource['service'] ?? bundle.source} needs ${cost} bytes of the memory budget (service.limits.memory), which has ${memory.availableBytes} left; retry later`;
      this.settings.logger.warn({ exporter: this.settings.id, source: bundle.source, cost, available: memory.availableBytes }, message);
      throw new BackpressureError(message, 1000);
    }
    try {
      const inputs: DecodedInput[] = [];
      for (const profile of decoded) {
        try {
          inputs.push({ profile, pprof: decodePprof(profile.decoded!.pprof) });
        } catch (error) {
          this.skip(bundle, profile.name, 'decode_failed', error);
        }
      }
      if (inputs.length === 0) return undefined;
      const converted = convertBundle(bundle, inputs, { resourceDrop: this.config.resource_drop });
      this.m.converted.add(converted.profiles);
      this.m.samples.add(converted.samples);
      if (converted.duplicateLabels > 0) {
        this.m.labels.add(converted.duplicateLabels, { reason: 'duplicate_key' });
        this.settings.logger.warn(
          { exporter: this.settings.id, source: bundle.source, labels: converted.duplicateLabels },
          'pprof samples had several labels with one key; OTLP keeps the first of each',
        );
      }
      return { body: toBinary(ExportProfilesServiceRequestSchema, converted.request) };
    } finally {
      reservation.release();
    }
  }

  private skip(bundle: ProfileBundle, name: string, reason: string, error: unknown): void {
    this.m.skipped.add(1, { reason });
    this.settings.logger.error(
      { exporter: this.settings.id, source: bundle.source, profile: name, reason, err: error },
      `profile ${JSON.stringify(name)} is not exported: ${(error as Error)?.message ?? String(error)}`,
    );
  }

  shutdown(): Promise<void> {
    return this.helper.shutdown();
  }

  /** What this exporter did, for logs and tests: `sent_bundles`, `send_failed_bundles{http_400}`, ... */
  stats(): Record<string, number> {
    return this.helper.stats();
  }

  private createAgent(): Promise<http.Agent> {
    return createHttpAgent({
      url: this.url,
      tls: this.config.tls,
      baseDir: this.settings.baseDir,
      where: `exporters::${this.settings.id}::tls`,
      maxSockets: Math.max(this.config.sending_queue.num_consumers, 4),
      logger: this.settings.logger,
    });
  }
}

type PreparedBatch = Batch & { prepared?: ProfilesRequest[] };
