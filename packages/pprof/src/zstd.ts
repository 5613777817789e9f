/**
 * zstd decompression with a hard output cap. Node 20 has no zstd, so this drives
 * libzstd's streaming decoder compiled to WebAssembly (the module shipped by `zstddec`)
 * directly, with every return code checked: frames without a content size, concatenated
 * and skippable frames all work, a truncated frame or corrupt data is an error, and the
 * output is copied out in `ZSTD_DStreamOutSize` pieces so the cap stops a bomb early.
 * If the wasm module cannot be loaded, the pure-JS `fzstd` decoder is used instead.
 * See the README for the measurements behind this choice.
 */
import { Decompress } from 'fzstd';
import { ZSTDDecoder } from 'zstddec/stream';
import { DecompressError, DecompressedTooLargeError } from './errors.js';

interface ZstdExports {
  memory: { buffer: ArrayBuffer };
  ZSTD_createDCtx(): number;
  ZSTD_freeDCtx(dctx: number): number;
  ZSTD_DStreamOutSize(): number;
  ZSTD_decompressStream(dctx: number, output: number, input: number): number;
  malloc(size: number): number;
  free(ptr: number): void;
}

let wasm: ZstdExports | undefined;

class CapturingDecoder extends ZSTDDecoder {
  override _init(result: Parameters<ZSTDDecoder['_init']>[0]): void {
    wasm = (result as { instance: { exports: unknown } }).instance.exports as ZstdExports;
    super._init(result);
  }
}

try {
  await new CapturingDecoder().init();
} catch {
  wasm = undefined;
}

/** Which implementation decodes zstd in this process. */
export function zstdBackend(): 'wasm' | 'js' {
  return wasm ? 'wasm' : 'js';
}

/** zstd_errors.h codes, for readable messages. */
const ZSTD_ERRORS: Record<number, string> = {
  1: 'generic error', 10: 'unknown frame magic (not a zstd frame)', 12: 'unsupported zstd version', 14: 'unsupported frame parameter',
  16: 'frame window too large (needs more than 128 MiB of memory)', 20: 'corrupt data', 22: 'checksum mismatch (corrupt data)',
  24: 'corrupt literals header', 30: 'corrupt dictionary', 32: 'wrong dictionary (frames with a dictionary are not supported)',
  64: 'memory allocation failed', 70: 'destination too small', 72: 'wrong source size', 80: 'no forward progress (output full)',
  82: 'no forward progress (input empty)',
};

function zstdError(code: number): number | undefined {
  // size_t is 32 bits in the wasm module; errors are (size_t)-code with code < 120.
  const u = code >>> 0;
  return u > 0xffffffff - 120 ? 0x100000000 - u : undefined;
}

export function decompressZstd(bytes: Uint8Array, maxBytes: number): Uint8Array {
  return wasm ? decompressWasm(wasm, bytes, maxBytes) : decompressJs(bytes, maxBytes);
}

function decompressWasm(z: ZstdExports, bytes: Uint8Array, maxBytes: number): Uint8Array {
  const outSize = z.ZSTD_DStreamOutSize();
  const inPtr = z.malloc(Math.max(1, bytes.length));
  const outPtr = z.malloc(outSize);
  const inDesc = z.malloc(12);
  const outDesc = z.malloc(12);
  const dctx = z.ZSTD_createDCtx();
  try {
    if (!inPtr || !outPtr || !inDesc || !outDesc || !dctx) throw new DecompressError('zstd', `zstd decoder could not allocate memory for a ${bytes.length}-byte input`);
    new Uint8Array(z.memory.buffer).set(bytes, inPtr);
    let view = new DataView(z.memory.buffer);
    view.setUint32(inDesc, inPtr, true);
    view.setUint32(inDesc + 4, bytes.length, true);
    view.setUint32(inDesc + 8, 0, true);
    let out = new Uint8Array(Math.min(maxBytes, Math.max(outSize, bytes.length * 4)));
    let len = 0;
    let hint = 0;
    let stalls = 0;
    let lastConsumed = -1;
    for (;;) {
      view.setUint32(outDesc, outPtr, true);
      view.setUint32(outDesc + 4, outSize, true);
      view.setUint32(outDesc + 8, 0, true);
      hint = z.ZSTD_decompressStream(dctx, outDesc, inDesc);
      const code = zstdError(hint);
      if (code !== undefined) {
        throw new DecompressError('zstd', `zstd frame could not be decoded: ${ZSTD_ERRORS[code] ?? `error ${code}`} (input ${bytes.length} bytes)`);
      }
      view = new DataView(z.memory.buffer); // memory may have grown
      const produced = view.getUint32(outDesc + 8, true);
      const consumed = view.getUint32(inDesc + 8, true);
      if (produced > 0) {
        if (len + produced > maxBytes) throw new DecompressedTooLargeError('zstd', maxBytes);
        if (len + produced > out.length) {
          const next = new Uint8Array(Math.min(maxBytes, Math.max(out.length * 2, len + produced)));
          next.set(out.subarray(0, len));
          out = next;
        }
        out.set(new Uint8Array(z.memory.buffer, outPtr, produced), len);
        len += produced;
      }
      if (produced === 0 && consumed < bytes.length && consumed === lastConsumed && ++stalls > 4) {
        throw new DecompressError('zstd', `zstd decoder made no progress at input offset ${consumed} of ${bytes.length} (corrupt data)`);
      }
      lastConsumed = consumed;
      // Done once all input is consumed and either the last frame is complete and flushed
      // (hint 0: its output may have filled the buffer exactly) or the decoder flushed all it
      // could and waits for input that is not there (hint > 0: truncated, reported below).
      if (consumed === bytes.length && (hint === 0 || produced < outSize)) break;
    }
    if (hint !== 0) throw new DecompressError('zstd', `zstd frame truncated after ${bytes.length} bytes (the decoder expects more input)`);
    return out.subarray(0, len);
  } finally {
    if (dctx) z.ZSTD_freeDCtx(dctx);
    for (const ptr of [inPtr, outPtr, inDesc, outDesc]) if (ptr) z.free(ptr);
  }
}

function decompressJs(bytes: Uint8Array, maxBytes: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const stream = new Decompress((chunk) => {
    total += chunk.length;
    if (total > maxBytes) throw new DecompressedTooLargeError('zstd', maxBytes);
    chunks.push(chunk);
  });
  try {
    stream.push(bytes, true);
  } catch (error) {
    if (error instanceof DecompressError) throw error;
    const code = (error as { code?: number }).code;
    if (code === 5) throw new DecompressError('zstd', `zstd frame truncated after ${bytes.length} bytes (unexpected end of input)`, { cause: error });
    throw new DecompressError('zstd', `zstd frame is corrupt: ${(error as Error).message}`, { cause: error });
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** For tests and benchmarks: decode with a given backend. */
export function decompressZstdWith(backend: 'wasm' | 'js', bytes: Uint8Array, maxBytes: number): Uint8Array {
  if (backend === 'wasm') {
    if (!wasm) throw new DecompressError('zstd', 'the WebAssembly zstd decoder is not loaded');
    return decompressWasm(wasm, bytes, maxBytes);
  }
  return decompressJs(bytes, maxBytes);
}
