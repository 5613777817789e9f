/**
 * Decompression chosen by magic bytes (never by a header or a file name): gzip, zstd,
 * LZ4 frame, or raw. Every codec stops at a hard cap on the output size.
 */
import { gunzipSync } from 'node:zlib';
import { DecompressError, DecompressedTooLargeError, type Encoding } from './errors.js';
import { decompressLz4Frames } from './lz4.js';
import { decompressZstd } from './zstd.js';

export type { Encoding } from './errors.js';

/** The default cap on a decompressed payload: 256 MiB. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024;

export interface DecompressOptions {
  /** The most bytes the output may have; more is a `DecompressedTooLargeError`. Default 256 MiB. */
  maxBytes?: number;
}

/**
 * The encoding of `bytes`, by magic number only: `1f 8b` gzip, `28 b5 2f fd` zstd,
 * `04 22 4d 18` LZ4 frame, anything else `none`.
 */
export function sniffEncoding(bytes: Uint8Array): Encoding {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (bytes.length >= 4) {
    if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) return 'zstd';
    if (bytes[0] === 0x04 && bytes[1] === 0x22 && bytes[2] === 0x4d && bytes[3] === 0x18) return 'lz4';
  }
  return 'none';
}

/**
 * Decompresses `bytes` according to their magic number. Raw input (`none`) is returned as
 * is (still subject to the cap). Concatenated gzip members and zstd/LZ4 frames are all
 * decoded; zstd frames without a content size (streaming encoders) are supported.
 */
export function decompress(bytes: Uint8Array, options: DecompressOptions = {}): Uint8Array {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const encoding = sniffEncoding(bytes);
  switch (encoding) {
    case 'none':
      if (bytes.length > maxBytes) throw new DecompressedTooLargeError('none', maxBytes);
      return bytes;
    case 'gzip':
      return gunzip(bytes, maxBytes);
    case 'zstd':
      return decompressZstd(bytes, maxBytes);
    case 'lz4':
      return decompressLz4Frames(bytes, maxBytes);
  }
}

/**
 * What a gzip stream says it inflates to: ISIZE, its last 4 bytes (the size mod 2^32 of its last
 * member). A hint, never trusted: a lie only costs a larger first buffer or a second one.
 */
export function gzipSizeHint(bytes: Uint8Array): number | undefined {
  if (bytes.length < 18) return undefined;
  const at = bytes.length - 4;
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** node:zlib's own output pieces: what a stream without a usable ISIZE is inflated in. */
const GUNZIP_CHUNK_BYTES = 64 * 1024;

function gunzip(bytes: Uint8Array, maxBytes: number): Uint8Array {
  try {
    // One output buffer of the announced size (+1, so a full buffer does not look like more to
    // come): gunzipSync otherwise collects 64 KiB pieces and concatenates them, holding the
    // output twice at its largest (measured: a 250 MiB profile peaked at ~500 MiB), and the
    // pieces fragment the malloc heap so RSS stays up after they are freed.
    const hint = gzipSizeHint(bytes);
    const chunkSize = hint !== undefined && hint < maxBytes ? Math.max(GUNZIP_CHUNK_BYTES, hint + 1) : GUNZIP_CHUNK_BYTES;
    const out = gunzipSync(bytes, { maxOutputLength: maxBytes, chunkSize });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) throw new DecompressedTooLargeError('gzip', maxBytes, { cause: error });
    if (code === 'Z_BUF_ERROR') {
      throw new DecompressError('gzip', `gzip stream truncated after ${bytes.length} bytes (unexpected end of input)`, { cause: error });
    }
    throw new DecompressError('gzip', `gzip stream is corrupt: ${(error as Error).message}`, { cause: error });
  }
}
