/**
 * @profcol/pprof: the shared pprof toolkit. Decompression by magic bytes with a hard
 * output cap, a one-pass summary, full decoding, sums over matching stacks, deltas of
 * cumulative profiles and the `heap?debug=1` MemStats trailer.
 */
export { DecompressError, DecompressedTooLargeError, PprofDecodeError, MemStatsParseError, type Encoding } from './errors.js';
export { sniffEncoding, decompress, DEFAULT_MAX_DECOMPRESSED_BYTES, type DecompressOptions } from './decompress.js';
export { summarizePprof, sumSamplesWhere, type SummaryOptions } from './summary.js';
export { GO_GC_FRAMES, GC_STACK_FILTER, checkStackPattern, type StackFilter } from './stack-filters.js';
export { decompressAndSummarize, decodePprof, stringAt, type DecompressAndSummarizeOptions } from './decode.js';
export { deltaProfiles, deltaBaseline, DELTA_VALUE_TYPES, type DeltaResult, type DeltaBaseline } from './delta.js';
export { parseMemStatsTrailer } from './memstats.js';
export { PULL_PROFILE_TYPES, PULL_PROFILE_TYPE_NAMES, type PullProfileType, type PullProfileSpec } from './types.js';
export { zstdBackend, zstdBackends, decompressZstdWith, type ZstdBackend } from './zstd.js';
export {
  ProfileDecoder,
  decodeFailureReason,
  stackFiltersFor,
  DecodeWorkerError,
  type DecodeRequest,
  type DecodeOutcome,
  type DecodeOptions,
  type StackFilterSpec,
  type SummarizeMode,
} from './decoder.js';
export { DecodePool, type PoolOptions } from './pool.js';
