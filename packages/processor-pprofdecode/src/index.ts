/**
 * @profcol/processor-pprofdecode: the `pprof_decode` processor. Decodes each profile of a
 * bundle once (decompression by magic bytes + the one-pass summary of @profcol/pprof) and
 * attaches the result as `profile.decoded`, for every later processor to share.
 */
import {
  defineProcessor,
  definePlugin,
  s,
  type Batch,
  type Counter,
  type CreateSettings,
  type Histogram,
  type Infer,
  type Processor,
  type Profile,
  ownPackageVersion,
} from '@profcol/core';
import { decodeFailureReason, ProfileDecoder } from '@profcol/pprof';

export const pprofDecodeConfigSchema = s.object(
  {
    keep_raw: s.boolean({
      default: true,
      description:
        'Keep `profile.data` (the bytes as received) after decoding. When false, every profile that has `decoded` gets an empty `data` (length 0); read `decoded.pprof`, the decompressed protobuf, instead.',
    }),
    types: s.optional(
      s.array(s.string(), {
        minItems: 1,
        description: 'Profile types to decode (`cpu`, `heap`, `goroutine`, ...). Profiles of other types pass through undecoded. Default: every type.',
      }),
    ),
  },
  {
    moved: {
      max_decompressed_bytes:
        'the decompression cap is now one setting for every component: service::limits::max_decompressed_bytes (the most the profiles of one bundle may decompress to together)',
    },
  },
);

export type PprofDecodeConfig = Infer<typeof pprofDecodeConfigSchema>;

const EMPTY = new Uint8Array(0);

export class PprofDecodeProcessor implements Processor {
  private readonly decoded: Counter;
  private readonly dropped: Counter;
  private readonly skipped: Counter;
  private readonly duration: Histogram;
  private readonly types: Set<string> | undefined;
  private readonly decoder: ProfileDecoder;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: PprofDecodeConfig,
  ) {
    this.decoder = ProfileDecoder.for(settings);
    this.types = config.types ? new Set(config.types.map((t) => t.toLowerCase())) : undefined;
    this.decoded = settings.telemetry.counter('profcol_processor_decoded_profiles_total', 'Profiles decoded, by type.');
    this.dropped = settings.telemetry.counter(
      'profcol_processor_decode_failed_profiles_total',
      'Profiles a processor could not decode, by type and reason (decompress, too_large, pprof): pprof_decode removes them from their bundle, goruntime passes them on and omits the metrics they feed.',
    );
    this.skipped = settings.telemetry.counter(
      'profcol_processor_skipped_profiles_total',
      'Profiles passed on without decoding, by reason (already_decoded, type_not_listed).',
    );
    this.duration = settings.telemetry.histogram(
      'profcol_processor_decode_duration_seconds',
      'Time pprof_decode spent decoding the profiles of one bundle (decompression and the one-pass summary, on the event loop or a decode worker), in seconds.',
      { unit: 's' },
    );
  }

  async process(batch: Batch): Promise<Batch> {
    for (const bundle of batch.bundles) {
      const todo: Profile[] = [];
      for (const profile of bundle.profiles) {
        if (profile.decoded) this.skipped.add(1, { type: profile.type, reason: 'already_decoded' });
        else if (this.types && !this.types.has(profile.type.toLowerCase())) this.skipped.add(1, { type: profile.type, reason: 'type_not_listed' });
        else todo.push(profile);
      }
      // The profiles of a bundle are decoded as one job on the decode workers.
      const started = performance.now();
      const failures = todo.length > 0 ? await this.decoder.decodeProfiles(todo) : new Map<Profile, Error>();
      if (todo.length > 0) this.duration.record((performance.now() - started) / 1000);
      for (const [profile, error] of failures) {
        const reason = decodeFailureReason(error);
        // Out of memory budget or a dead worker is not the profile's fault: the batch is refused, to be retried.
        if (reason === 'memory_budget' || reason === 'worker') throw error;
        this.dropped.add(1, { type: profile.type, reason });
        this.settings.logger.warn(
          { source: bundle.source, service: bundle.resource.service, instance: bundle.resource.instance, profile: profile.name, type: profile.type, reason },
          `pprof_decode: dropped profile ${profile.name} (${profile.type}) of ${bundle.resource.service ?? bundle.resource.instance ?? bundle.source}: ${error.message}`,
        );
      }
      for (const profile of todo) if (!failures.has(profile)) this.decoded.add(1, { type: profile.type });
      if (failures.size > 0) bundle.profiles = bundle.profiles.filter((profile) => !failures.has(profile));
      if (!this.config.keep_raw) for (const profile of bundle.profiles) if (profile.decoded) profile.data = EMPTY;
    }
    return batch;
  }

  shutdown(): Promise<void> {
    return this.decoder.close();
  }
}

export const pprofDecodeProcessorFactory = defineProcessor({
  type: 'pprof_decode',
  stability: 'beta',
  description:
    'Decodes each profile once (gzip/zstd/LZ4 sniffed, one-pass summary) and attaches it for later processors; drops undecodable profiles with a counted reason.',
  config: pprofDecodeConfigSchema,
  create: (settings, config) => new PprofDecodeProcessor(settings, config),
});

export default definePlugin({
  name: '@profcol/processor-pprofdecode',
  version: ownPackageVersion(import.meta.url),
  profcol: '^1.0.0',
  components: [pprofDecodeProcessorFactory],
});
