/**
 * A small LZ4 frame decoder (the format libdatadog clients upload), written from the LZ4
 * frame and block format specifications: concatenated and skippable frames, linked or
 * independent blocks, uncompressed blocks, the optional content size, block checksums and
 * content checksum (all verified with xxHash32). Dictionaries (DictID) are not supported.
 */
import { DecompressError, DecompressedTooLargeError } from './errors.js';

const LZ4_MAGIC = 0x184d2204;
const BLOCK_MAX_SIZES: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

function fail(message: string): never {
  throw new DecompressError('lz4', `lz4 ${message}`);
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** A byte buffer that grows up to a hard cap and never past it. */
class Output {
  buf: Uint8Array;
  len = 0;
  constructor(
    initial: number,
    private readonly maxBytes: number,
  ) {
    this.buf = new Uint8Array(Math.max(64, Math.min(initial, maxBytes)));
  }
  reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const capped = Math.min(size, this.maxBytes);
    if (capped < need) throw new DecompressedTooLargeError('lz4', this.maxBytes);
    const next = new Uint8Array(capped);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

export function decompressLz4Frames(input: Uint8Array, maxBytes: number): Uint8Array {
  const out = new Output(input.length * 3, maxBytes);
  let pos = 0;
  let frames = 0;
  while (pos < input.length) {
    if (input.length - pos < 4) fail(`frame truncated after ${input.length} bytes (expected a 4-byte magic number at offset ${pos})`);
    const magic = u32(input, pos);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // Skippable frame: magic, 4-byte size, user data.
      if (input.length - pos < 8) fail(`skippable frame truncated after ${input.length} bytes`);
      const size = u32(input, pos + 4);
      if (pos + 8 + size > input.length) fail(`skippable frame truncated after ${input.length} bytes (declares ${size} bytes of data)`);
      pos += 8 + size;
      continue;
    }
    if (magic !== LZ4_MAGIC) {
      if (frames > 0) fail(`unexpected bytes after frame ${frames} at offset ${pos} (magic 0x${magic.toString(16)}, expected 0x184d2204)`);
      fail(`bad magic 0x${magic.toString(16)} (expected 0x184d2204)`);
    }
    pos = decodeFrame(input, pos + 4, out);
    frames++;
  }
  return out.buf.subarray(0, out.len);
}

function decodeFrame(input: Uint8Array, start: number, out: Output): number {
  let pos = start;
  if (input.length - pos < 3) fail(`frame truncated after ${input.length} bytes (in the frame descriptor)`);
  const flg = input[pos]!;
  const bd = input[pos + 1]!;
  if (flg >> 6 !== 1) fail(`frame version ${flg >> 6} is not supported (expected 1)`);
  if (flg & 0x02 || bd & 0x8f) fail('frame descriptor has reserved bits set');
  const blockChecksum = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const hasDictId = (flg & 0x01) !== 0;
  const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 0x7];
  if (blockMax === undefined) fail(`frame declares an invalid block maximum size code ${(bd >> 4) & 0x7} (expected 4..7)`);
  const descriptorLength = 2 + (hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0);
  if (input.length - pos < descriptorLength + 1) fail(`frame truncated after ${input.length} bytes (in the frame descriptor)`);
  let contentSize = -1;
  if (hasContentSize) contentSize = u32(input, pos + 2) + u32(input, pos + 6) * 2 ** 32;
  if (hasDictId) fail('frames with a dictionary (DictID) are not supported');
  const headerChecksum = input[pos + descriptorLength]!;
  if (((xxh32(input, pos, descriptorLength, 0) >>> 8) & 0xff) !== headerChecksum) fail('frame descriptor checksum mismatch (corrupt header)');
  pos += descriptorLength + 1;
  if (contentSize > 0) out.reserve(contentSize);
  const frameStart = out.len;

  for (;;) {
    if (input.length - pos < 4) fail(`frame truncated after ${input.length} bytes (expected a block header or end mark at offset ${pos})`);
    const header = u32(input, pos);
    pos += 4;
    if (header === 0) break;
    const uncompressed = (header & 0x80000000) !== 0;
    const size = header & 0x7fffffff;
    if (size > blockMax) fail(`block of ${size} bytes is larger than the frame's block maximum of ${blockMax}`);
    if (pos + size + (blockChecksum ? 4 : 0) > input.length)
      fail(`frame truncated after ${input.length} bytes (a block at offset ${pos - 4} declares ${size} bytes)`);
    if (blockChecksum && xxh32(input, pos, size, 0) !== u32(input, pos + size)) fail(`block checksum mismatch at offset ${pos - 4}`);
    if (uncompressed) {
      out.reserve(size);
      out.buf.set(input.subarray(pos, pos + size), out.len);
      out.len += size;
    } else {
      decodeBlock(input, pos, pos + size, out, frameStart, blockMax);
    }
    pos += size + (blockChecksum ? 4 : 0);
  }
  if (contentChecksum) {
    if (input.length - pos < 4) fail(`frame truncated after ${input.length} bytes (expected the content checksum)`);
    if (xxh32(out.buf, frameStart, out.len - frameStart, 0) !== u32(input, pos)) fail('content checksum mismatch (corrupt data)');
    pos += 4;
  }
  if (contentSize >= 0 && out.len - frameStart !== contentSize) fail(`frame declares ${contentSize} bytes of content but decodes to ${out.len - frameStart}`);
  return pos;
}

function decodeBlock(input: Uint8Array, start: number, end: number, out: Output, frameStart: number, blockMax: number): void {
  let buf = out.buf;
  let o = out.len;
  const limit = o + blockMax;
  let i = start;
  for (;;) {
    if (i >= end) fail(`block truncated at offset ${i} (expected a sequence token)`);
    const token = input[i++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (i >= end) fail(`block truncated at offset ${i} (in a literal length)`);
        b = input[i++]!;
        literals += b;
      } while (b === 255);
    }
    if (i + literals > end) fail(`block truncated at offset ${i} (${literals} literals declared, ${end - i} bytes left)`);
    if (o + literals > limit) fail(`block decodes to more than its maximum of ${blockMax} bytes`);
    if (o + literals > buf.length) {
      out.len = o;
      out.reserve(literals);
      buf = out.buf;
    }
    buf.set(input.subarray(i, i + literals), o);
    i += literals;
    o += literals;
    if (i === end) break; // the last sequence has literals only
    if (i + 2 > end) fail(`block truncated at offset ${i} (in a match offset)`);
    const offset = input[i]! | (input[i + 1]! << 8);
    i += 2;
    if (offset === 0 || o - offset < frameStart) fail(`block has an invalid match offset ${offset} at output position ${o - frameStart}`);
    let matchLength = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (i >= end) fail(`block truncated at offset ${i} (in a match length)`);
        b = input[i++]!;
        matchLength += b;
      } while (b === 255);
    }
    if (o + matchLength > limit) fail(`block decodes to more than its maximum of ${blockMax} bytes`);
    if (o + matchLength > buf.length) {
      out.len = o;
      out.reserve(matchLength);
      buf = out.buf;
    }
    let from = o - offset;
    if (offset >= matchLength) {
      buf.copyWithin(o, from, from + matchLength);
      o += matchLength;
    } else {
      // Overlapping copy: repeats the last `offset` bytes.
      for (let k = 0; k < matchLength; k++) buf[o++] = buf[from++]!;
    }
  }
  out.len = o;
}

const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(acc: number, lane: number): number {
  acc = (acc + Math.imul(lane, P2)) | 0;
  return Math.imul(rotl(acc, 13), P1);
}

/** xxHash32 of `bytes[start, start+length)`. */
export function xxh32(bytes: Uint8Array, start: number, length: number, seed: number): number {
  let p = start;
  const end = start + length;
  let h: number;
  if (length >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    const limit = end - 16;
    while (p <= limit) {
      v1 = round(v1, u32(bytes, p));
      v2 = round(v2, u32(bytes, p + 4));
      v3 = round(v3, u32(bytes, p + 8));
      v4 = round(v4, u32(bytes, p + 12));
      p += 16;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + length) | 0;
  while (p + 4 <= end) {
    h = (h + Math.imul(u32(bytes, p), P3)) | 0;
    h = Math.imul(rotl(h, 17), P4);
    p += 4;
  }
  while (p < end) {
    h = (h + Math.imul(bytes[p]!, P5)) | 0;
    h = Math.imul(rotl(h, 11), P1);
    p++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}
