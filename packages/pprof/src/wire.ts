/**
 * A minimal protobuf wire-format reader for the pprof `Profile` message: varints as
 * doubles (exact up to 2^53, signed int64 semantics for 10-byte varints) or bigints,
 * length-delimited ranges, and skipping of unknown fields. Every read is bounds-checked and
 * a malformed input raises a `PprofDecodeError` that says where.
 */
import { PprofDecodeError } from './errors.js';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

const WIRE_NAMES: Record<number, string> = { 0: 'varint', 1: 'fixed64', 2: 'length-delimited', 3: 'start-group', 4: 'end-group', 5: 'fixed32' };

export function wireName(wireType: number): string {
  return WIRE_NAMES[wireType] ?? `invalid (${wireType})`;
}

/**
 * A 64-bit varint's two 32-bit halves become one bigint through a typed array: one bigint made
 * by the runtime, where shifting and or-ing bigints made five (time_nanos and duration_nanos
 * are read from every profile; the five cost a tenth of a small profile's summary, measured).
 */
const asInt64 = new BigInt64Array(1);
const halves = new Uint32Array(asInt64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

/** The signed 64-bit integer whose low and high 32 bits are `lo` and `hi`. */
export function int64FromHalves(lo: number, hi: number): bigint {
  halves[LO] = lo;
  halves[HI] = hi;
  return asInt64[0]!;
}

export class Reader {
  pos: number;
  constructor(
    public buf: Uint8Array,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  /** Reads `buf` from its start (a reader is reused from call to call). */
  reset(buf: Uint8Array): void {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
  }

  truncated(what: string, detail = ''): never {
    if (detail) what = `${detail}${what}`;
    throw new PprofDecodeError(
      `pprof truncated: ${what} at offset ${this.pos} runs past the end of its ${this.end === this.buf.length ? 'input' : 'message'} (${this.end} bytes${this.end === this.buf.length ? '' : ' into the input'}; input is ${this.buf.length} bytes)`,
    );
  }

  /** A varint as a double; 10-byte (negative) varints are read as signed int64. */
  varint(what = 'varint', detail = ''): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    if (pos >= end) this.truncated(what, detail);
    let b = buf[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let lo = b & 0x7f;
    let shift = 7;
    // Bits 0..27 into `lo`.
    for (; shift < 28; shift += 7) {
      if (pos >= end) {
        this.pos = pos;
        this.truncated(what, detail);
      }
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return lo >>> 0;
      }
    }
    // Byte 5: bits 28..34.
    if (pos >= end) {
      this.pos = pos;
      this.truncated(what, detail);
    }
    b = buf[pos++]!;
    lo |= (b & 0x0f) << 28;
    let hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      for (shift = 3; ; shift += 7) {
        if (pos >= end) {
          this.pos = pos;
          this.truncated(what, detail);
        }
        b = buf[pos++]!;
        if (shift === 31) {
          // Byte 10: only its lowest bit is part of a 64-bit value.
          if (b > 1) {
            this.pos = pos;
            throw new PprofDecodeError(`pprof malformed: ${what} at offset ${pos - 10} is longer than 10 bytes or exceeds 64 bits`);
          }
          hi |= b << 31;
          break;
        }
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    return (hi | 0) * 4294967296 + (lo >>> 0);
  }

  /**
   * A field tag (`field number << 3 | wire type`). Field number 0 is not valid protobuf (field
   * numbers run from 1 to 2^29 − 1): without this check a run of zero bytes would read as
   * thousands of empty varint fields, and a gzip of zeros as a valid, empty profile.
   */
  tag(what = 'tag'): number {
    const at = this.pos;
    const tag = this.varint(what);
    if (tag < 8 || tag > 0xffffffff) {
      const field = tag < 0 ? tag : Math.floor(tag / 8);
      throw new PprofDecodeError(
        `pprof malformed: ${what} at offset ${at} has field number ${field}; protobuf field numbers run from 1 to 536870911${field === 0 ? ' (zero bytes where a field was expected: this is not a pprof profile)' : ''}`,
      );
    }
    return tag;
  }

  /**
   * A varint as an exact signed 64-bit bigint. The bytes are gathered into two 32-bit halves
   * first: a bigint operation per byte costs more than the rest of a small profile's summary.
   */
  varint64(what = 'varint'): bigint {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.truncated(what);
      const b = this.buf[this.pos++]!;
      const bits = b & 0x7f;
      const shift = i * 7;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if (b < 0x80) {
        if (hi === 0) return BigInt(lo >>> 0);
        return int64FromHalves(lo, hi);
      }
    }
    throw new PprofDecodeError(`pprof malformed: ${what} at offset ${this.pos - 10} is longer than 10 bytes`);
  }

  /** Reads a length prefix and returns the end offset of the bytes it announces. */
  lengthEnd(what: string): number {
    const len = this.varint(what, 'length of ');
    if (len < 0 || this.pos + len > this.end) {
      throw new PprofDecodeError(`pprof truncated: ${what} at offset ${this.pos} declares ${len} bytes but only ${this.end - this.pos} remain`);
    }
    return this.pos + len;
  }

  skip(wireType: number, field: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint('a varint field');
        return;
      case WIRE_I64:
        if (this.pos + 8 > this.end) this.truncated(`fixed64 field ${field}`);
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.pos = this.lengthEnd('a length-delimited field');
        return;
      case WIRE_I32:
        if (this.pos + 4 > this.end) this.truncated(`fixed32 field ${field}`);
        this.pos += 4;
        return;
      default:
        throw new PprofDecodeError(
          `pprof malformed: field ${field} (ending at offset ${this.pos}) has ${wireName(wireType)} wire type ${wireType}, which pprof never uses`,
        );
    }
  }
}

export function wrongWireType(message: string, field: string, number: number, got: number, expected: string, at: number): PprofDecodeError {
  return new PprofDecodeError(
    `pprof malformed: ${message}.${field} (field ${number}) at offset ${at} has wire type ${got} (${wireName(got)}), expected ${expected}`,
  );
}
