/**
 * zstd decompression with a hard output cap, by the fastest decoder this process has:
 *  - the runtime's own libzstd (`zlib.zstdDecompressSync`, Node >= 22.15 / 23.8), capped by
 *    `maxOutputLength`, for input that is exactly one frame (it drops the frames after the first)
 *    and declares more than 64 KiB (see NATIVE_BEFORE_RUNTIME_BYTES);
 *  - else the prebuilt native libzstd of `@toondepauw/node-zstd`, which has no output cap: it
 *    takes only payloads whose frames all declare a content size within the cap;
 *  - else libzstd's streaming decoder compiled to WebAssembly (the module `zstddec` ships),
 *    instantiated here from the package's public entry file and driven directly, with every
 *    return code checked, output copied out in `ZSTD_DStreamOutSize` pieces so the cap stops a
 *    bomb early;
 *  - else (no WebAssembly) the pure-JS `fzstd`.
 * Frames without a content size, concatenated and skippable frames work with each; a
 * truncated frame, corrupt data or trailing garbage is a `DecompressError`. The frames are
 * walked first (headers and block headers only): input the walk does not account for goes to
 * the WebAssembly decoder, whose messages say what is wrong. See the README for the
 * measurements behind this order.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { Decompress } from 'fzstd';
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

/** The part of the WebAssembly JS API used here (this package compiles without the DOM lib). */
const WebAssemblyApi = (
  globalThis as unknown as {
    WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object, imports: object) => { exports: unknown } };
  }
).WebAssembly;

/**
 * The libzstd WebAssembly module of `zstddec`: its public entry file `zstddec/stream` embeds
 * the module as one base64 string literal. It is instantiated here with the one import it
 * needs (a memory-growth notification; this driver re-reads the memory after every call), so
 * nothing depends on the package's JavaScript internals.
 */
function loadWasm(): ZstdExports | undefined {
  try {
    const entry = createRequire(import.meta.url).resolve('zstddec/stream');
    const source = readFileSync(entry, 'utf8');
    const base64 = /\bwasm\s*=\s*"([A-Za-z0-9+/=]{1024,})"/.exec(source)?.[1];
    if (!base64) return undefined;
    const module = new WebAssemblyApi.Module(Buffer.from(base64, 'base64'));
    const instance = new WebAssemblyApi.Instance(module, { env: { emscripten_notify_memory_growth: () => {} } });
    const exports = instance.exports as unknown as ZstdExports;
    return typeof exports.ZSTD_decompressStream === 'function' ? exports : undefined;
  } catch {
    return undefined;
  }
}

const wasm = loadWasm();

interface NativeDecoder {
  decodeSync(data: Buffer): Buffer;
}

/** `@toondepauw/node-zstd`'s prebuilt libzstd binding (a registry package per platform), when it loads here. */
function loadNative(): NativeDecoder | undefined {
  try {
    const binding = createRequire(import.meta.url)('@toondepauw/node-zstd') as { Decoder: new () => NativeDecoder };
    return new binding.Decoder();
  } catch {
    return undefined;
  }
}

const native = loadNative();

type RuntimeZstd = (buffer: Uint8Array, options: { maxOutputLength: number }) => Buffer;
const runtimeZstd = (zlib as unknown as { zstdDecompressSync?: RuntimeZstd }).zstdDecompressSync;

export type ZstdBackend = 'node' | 'native' | 'wasm' | 'js';

/**
 * Which implementation decodes large zstd frames in this process: the runtime's, else the
 * native binding (for frames that declare their size within the cap; the others go to `wasm`),
 * else wasm. Frames declaring at most 12 KiB go to `wasm` whenever it is loaded.
 */
export function zstdBackend(): ZstdBackend {
  return runtimeZstd ? 'node' : native ? 'native' : wasm ? 'wasm' : 'js';
}

/** The backends this process can use, fastest first. */
export function zstdBackends(): ZstdBackend[] {
  return [...(runtimeZstd ? (['node'] as const) : []), ...(native ? (['native'] as const) : []), ...(wasm ? (['wasm'] as const) : []), 'js'];
}

/** zstd_errors.h codes, for readable messages. */
const ZSTD_ERRORS: Record<number, string> = {
  1: 'generic error',
  10: 'unknown frame magic (not a zstd frame)',
  12: 'unsupported zstd version',
  14: 'unsupported frame parameter',
  16: 'frame window too large (needs more than 128 MiB of memory)',
  20: 'corrupt data',
  22: 'checksum mismatch (corrupt data)',
  24: 'corrupt literals header',
  30: 'corrupt dictionary',
  32: 'wrong dictionary (frames with a dictionary are not supported)',
  64: 'memory allocation failed',
  70: 'destination too small',
  72: 'wrong source size',
  80: 'no forward progress (output full)',
  82: 'no forward progress (input empty)',
};

function zstdError(code: number): number | undefined {
  // size_t is 32 bits in the wasm module; errors are (size_t)-code with code < 120.
  const u = code >>> 0;
  return u > 0xffffffff - 120 ? 0x100000000 - u : undefined;
}

/**
 * Up to this declared size the native binding decodes faster than the runtime's own zstd, whose
 * per-call setup costs more than a small frame takes to decode. Measured on Node 24.21 (median
 * of 400 calls): 8 KiB 45 vs 67 µs, 32 KiB 133 vs 169 µs; from 128–256 KiB on the runtime's is
 * faster (256 KiB: 474 vs 691 µs; a 3.1 MB profile: 7.6 vs 10.0 ms). The six attachments of a
 * dd-trace-go upload: 111 µs native, 160 µs runtime.
 */
const NATIVE_BEFORE_RUNTIME_BYTES = 64 * 1024;

/**
 * Up to this declared size the WebAssembly decoder, which keeps its context between calls, is
 * the fastest: per call the native binding makes a decoding context (about 14 µs) and the
 * runtime's zstd sets up a stream (about 20 µs). Measured on Node 20.20 and 24.22 (zstd -3 of
 * the pprof fixtures, best of 3 runs of 100 ms): 568 B-9.3 KB decode in 5-46 µs with wasm
 * against 15-52 µs native and 18-42 µs runtime; 14-16 KB are even; at 40 KB native wins (66
 * against 84-100 µs). All six zstd attachments of a dd-trace-go upload are under it.
 */
const WASM_FIRST_BYTES = 12 * 1024;

export function decompressZstd(bytes: Uint8Array, maxBytes: number): Uint8Array {
  // One walk over the frame headers; every choice below reads its result.
  const declared = walkFrames(bytes);
  if (wasm !== undefined && declared >= 0 && declared <= WASM_FIRST_BYTES) return decompressWasm(wasm, bytes, maxBytes);
  const nativeTakes = native !== undefined && nativeFits(declared, maxBytes);
  if (nativeTakes && (!runtimeZstd || declared <= NATIVE_BEFORE_RUNTIME_BYTES)) return decompressNative(native, bytes, maxBytes);
  if (runtimeZstd && runtimeFits(declared)) return decompressRuntime(runtimeZstd, bytes, maxBytes);
  if (nativeTakes) return decompressNative(native, bytes, maxBytes);
  return wasm ? decompressWasm(wasm, bytes, maxBytes) : decompressJs(bytes, maxBytes);
}

/**
 * True when `bytes` is a sequence of complete zstd frames and skippable frames with nothing
 * after them, by their headers and block headers (RFC 8878 section 3.1). libzstd in Node
 * stops at the end of the last frame and ignores what follows; this keeps trailing garbage an
 * error. Frames with a dictionary or reserved bits set are left to the checked decoder too.
 */
export function framesCoverInput(bytes: Uint8Array): boolean {
  return walkFrames(bytes) !== NOT_COVERED;
}

/**
 * Node's zlib.zstdDecompressSync (measured on Node 24.21) returns the first frame's output
 * and silently drops any frame after it, so it only gets input that is exactly one zstd frame
 * (what dd-trace-js and dd-trace-go send); concatenated or skippable frames go to the others.
 */
function runtimeCanTake(bytes: Uint8Array): boolean {
  return runtimeFits(walkFrames(bytes));
}

/** `runtimeCanTake` for the walk that just returned `declared`. */
function runtimeFits(declared: number): boolean {
  return declared !== NOT_COVERED && framesWalked === 1 && skippableWalked === 0;
}

const NOT_COVERED = -2;
const UNKNOWN_SIZE = -1;
/** The zstd frames (not skippable ones) the last walk went through. */
let framesWalked = 0;
/** The skippable frames the last walk went through. */
let skippableWalked = 0;

/**
 * Walks the frames: NOT_COVERED when they do not account for exactly `bytes`, UNKNOWN_SIZE
 * when some frame declares no content size, else the sum of the declared content sizes.
 */
function walkFrames(bytes: Uint8Array): number {
  let pos = 0;
  const end = bytes.length;
  let declared = 0;
  framesWalked = 0;
  skippableWalked = 0;
  if (end === 0) return NOT_COVERED;
  while (pos < end) {
    if (pos + 8 > end) return NOT_COVERED;
    const magic = (bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 24)) >>> 0;
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      const size = (bytes[pos + 4]! | (bytes[pos + 5]! << 8) | (bytes[pos + 6]! << 16) | (bytes[pos + 7]! << 24)) >>> 0;
      pos += 8 + size;
      skippableWalked++;
      continue;
    }
    if (magic !== 0xfd2fb528) return NOT_COVERED;
    framesWalked++;
    const fhd = bytes[pos + 4]!;
    if ((fhd & 0x08) !== 0 || (fhd & 0x03) !== 0) return NOT_COVERED; // reserved bit; dictionary
    const singleSegment = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    const fcsSize = fcsFlag === 0 ? singleSegment : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
    const fcsAt = pos + 5 + (singleSegment ? 0 : 1);
    if (fcsAt + fcsSize > end) return NOT_COVERED;
    if (fcsSize === 0 || declared === UNKNOWN_SIZE) declared = UNKNOWN_SIZE;
    else {
      let size = 0;
      for (let i = fcsSize - 1; i >= 0; i--) size = size * 256 + bytes[fcsAt + i]!;
      declared += fcsSize === 2 ? size + 256 : size;
    }
    pos = fcsAt + fcsSize;
    for (;;) {
      if (pos + 3 > end) return NOT_COVERED;
      const header = bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16);
      const type = (header >> 1) & 3;
      if (type === 3) return NOT_COVERED;
      pos += 3 + (type === 1 ? 1 : header >>> 3);
      if (header & 1) break;
    }
    if (fhd & 0x04) pos += 4; // content checksum
  }
  return pos === end ? declared : NOT_COVERED;
}

/**
 * The native decoder takes a payload only when every frame declares its content size and
 * their sum is within the cap: libzstd then refuses a frame that would produce more than it
 * declared, so the output cannot pass the cap by more than a block (128 KiB) per frame, which
 * this margin covers. Anything else goes to the streaming decoder, which stops at the cap.
 */
function nativeCanTake(bytes: Uint8Array, maxBytes: number): boolean {
  return nativeFits(walkFrames(bytes), maxBytes);
}

/** `nativeCanTake` for the walk that just returned `declared`. */
function nativeFits(declared: number, maxBytes: number): boolean {
  return declared >= 0 && declared + BLOCK_MAX * framesWalked <= maxBytes;
}

const BLOCK_MAX = 128 * 1024;

function decompressNative(decoder: NativeDecoder, bytes: Uint8Array, maxBytes: number): Uint8Array {
  let out: Buffer;
  try {
    out = decoder.decodeSync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new DecompressError('zstd', `zstd frame could not be decoded: ${(error as Error).message} (input ${bytes.length} bytes)`, { cause: error });
  }
  if (out.byteLength > maxBytes) throw new DecompressedTooLargeError('zstd', maxBytes);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function decompressRuntime(decode: RuntimeZstd, bytes: Uint8Array, maxBytes: number): Uint8Array {
  try {
    const out = decode(bytes, { maxOutputLength: maxBytes });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) throw new DecompressedTooLargeError('zstd', maxBytes, { cause: error });
    if (code === 'Z_BUF_ERROR')
      throw new DecompressError('zstd', `zstd frame truncated after ${bytes.length} bytes (the decoder expects more input)`, { cause: error });
    throw new DecompressError('zstd', `zstd frame could not be decoded: ${(error as Error).message} (input ${bytes.length} bytes)`, { cause: error });
  }
}

/**
 * What the WebAssembly decoder keeps between calls: its decoding context, the input and output
 * areas in its memory and their descriptors. Making them for every call (ZSTD_createDCtx and
 * four mallocs) and a 128 KiB output array cost more than decoding a small profile: 44–86 µs a
 * call for the 0.2–6 KiB attachments of a dd-trace-go upload, against 3–9 µs kept (and
 * 11–25 µs with the native binding, which makes a streaming context for every call).
 */
interface WasmSession {
  dctx: number;
  inPtr: number;
  inCap: number;
  outPtr: number;
  outSize: number;
  inDesc: number;
  outDesc: number;
}

let idleSession: WasmSession | undefined;

/** A session that decoded more than this (in or out) is not kept: its context holds a window that large. */
const KEEP_SESSION_BYTES = 1024 * 1024;

function openSession(z: ZstdExports): WasmSession {
  const outSize = z.ZSTD_DStreamOutSize();
  const session = { dctx: z.ZSTD_createDCtx(), inPtr: 0, inCap: 0, outPtr: z.malloc(outSize), outSize, inDesc: z.malloc(12), outDesc: z.malloc(12) };
  if (!session.dctx || !session.outPtr || !session.inDesc || !session.outDesc) {
    closeSession(z, session);
    throw new DecompressError('zstd', 'zstd decoder could not allocate its decoding context');
  }
  return session;
}

function closeSession(z: ZstdExports, session: WasmSession): void {
  if (session.dctx) z.ZSTD_freeDCtx(session.dctx);
  for (const ptr of [session.inPtr, session.outPtr, session.inDesc, session.outDesc]) if (ptr) z.free(ptr);
}

function decompressWasm(z: ZstdExports, bytes: Uint8Array, maxBytes: number): Uint8Array {
  // Taken, not shared: a call that fails leaves its context mid-frame, so it is closed instead
  // of given back.
  const session = idleSession ?? openSession(z);
  idleSession = undefined;
  let len = 0;
  let clean = false;
  try {
    const { outSize, inDesc, outDesc, outPtr, dctx } = session;
    if (bytes.length > session.inCap) {
      if (session.inPtr) z.free(session.inPtr);
      session.inCap = 0;
      session.inPtr = z.malloc(Math.max(1, bytes.length));
      if (!session.inPtr) throw new DecompressError('zstd', `zstd decoder could not allocate memory for a ${bytes.length}-byte input`);
      session.inCap = bytes.length;
    }
    const inPtr = session.inPtr;
    new Uint8Array(z.memory.buffer).set(bytes, inPtr);
    let view = new DataView(z.memory.buffer);
    view.setUint32(inDesc, inPtr, true);
    view.setUint32(inDesc + 4, bytes.length, true);
    view.setUint32(inDesc + 8, 0, true);
    // The size the frames declare when they all do (a hint: the cap is checked as output comes).
    const declared = walkFrames(bytes);
    let out = new Uint8Array(Math.min(maxBytes, declared >= 0 ? declared : Math.max(outSize, bytes.length * 4)));
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
    clean = true;
    return len === out.length ? out : out.subarray(0, len);
  } finally {
    if (clean && session.inCap <= KEEP_SESSION_BYTES && len <= KEEP_SESSION_BYTES) idleSession = session;
    else closeSession(z, session);
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

/** For tests and benchmarks: decode with a given backend (`zstdBackends()` lists those available). */
export function decompressZstdWith(backend: ZstdBackend, bytes: Uint8Array, maxBytes: number): Uint8Array {
  if (backend === 'node') {
    if (!runtimeZstd) throw new DecompressError('zstd', `this runtime (Node ${process.versions.node}) has no zlib.zstdDecompressSync`);
    return runtimeCanTake(bytes) ? decompressRuntime(runtimeZstd, bytes, maxBytes) : decompressZstdWith(wasm ? 'wasm' : 'js', bytes, maxBytes);
  }
  if (backend === 'native') {
    if (!native) throw new DecompressError('zstd', 'the native zstd binding (@toondepauw/node-zstd) is not loaded');
    return nativeCanTake(bytes, maxBytes) ? decompressNative(native, bytes, maxBytes) : decompressZstdWith(wasm ? 'wasm' : 'js', bytes, maxBytes);
  }
  if (backend === 'wasm') {
    if (!wasm) throw new DecompressError('zstd', 'the WebAssembly zstd decoder is not loaded');
    return decompressWasm(wasm, bytes, maxBytes);
  }
  return decompressJs(bytes, maxBytes);
}
