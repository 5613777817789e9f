import { ProfcolError } from '@profcol/core';

/** The compression a payload was sniffed as (by its magic bytes only). */
export type Encoding = 'gzip' | 'zstd' | 'lz4' | 'none';

/** A compressed payload that could not be decompressed: corrupt, truncated, or an unsupported variant. */
export class DecompressError extends ProfcolError {
  /** The codec that failed. */
  readonly codec: Encoding;
  constructor(codec: Encoding, message: string, options: { cause?: unknown } = {}, kind = 'decompress') {
    super(kind, message, options);
    this.codec = codec;
  }
}

/**
 * The decompressed output would exceed the configured cap. The cap protects the process
 * against decompression bombs: decompression stops at the cap, it never allocates past it.
 */
export class DecompressedTooLargeError extends DecompressError {
  readonly maxBytes: number;
  constructor(codec: Encoding, maxBytes: number, options: { cause?: unknown } = {}) {
    super(
      codec,
      `${codec} payload decompresses to more than the limit of ${maxBytes} bytes (raise maxBytes / max_decompressed_bytes if this is a real profile)`,
      options,
      'too_large',
    );
    this.maxBytes = maxBytes;
  }
}

/** A pprof protobuf that is malformed: truncated, a wrong wire type, a bad string index, ... */
export class PprofDecodeError extends ProfcolError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('pprof', message, options);
  }
}

/** A `heap?debug=1` text without a usable `# runtime.MemStats` trailer. */
export class MemStatsParseError extends ProfcolError {
  constructor(message: string) {
    super('memstats', message);
  }
}
