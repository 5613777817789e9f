/**
 * Streaming summaries of a raw (decompressed) pprof protobuf: one pass over the bytes,
 * no object per sample. Field numbers are those of `profile.proto`:
 * Profile { 1 sample_type, 2 sample, 3 mapping, 4 location, 5 function, 6 string_table,
 * 7 drop_frames, 8 keep_frames, 9 time_nanos, 10 duration_nanos, 11 period_type,
 * 12 period, 13 comment, 14 default_sample_type, 15 doc_url }.
 *
 * Speed: the hot loops keep the buffer and the offset in locals and read 1–4 byte varints
 * inline; anything unusual (a longer varint, a value that would run past its message, a
 * wrong wire type) goes to the checked `Reader`, which gives the answer or the error. The
 * offsets and values the pass records live in typed arrays reused from call to call.
 *
 * Stack filters (the GC-frame attribution): Go writes samples BEFORE locations, functions
 * and strings, so the pass records where each sample, location and function is, and
 * attributes once the tables are read: per function once (on the name's bytes), per location
 * once (a mask of matching filters in an array indexed by id when ids are dense), then one
 * walk over each sample's location ids; a matching sample's values are read again. When no
 * function matches, no location or sample is read at all.
 */
import type { ProfileSummary, SampleType } from '@profcol/core';
import { PprofDecodeError } from './errors.js';
import { compileStackFilters, type FunctionMatcher, type StackFilter } from './stack-filters.js';
import { int64FromHalves, Reader, WIRE_LEN, WIRE_VARINT, wrongWireType } from './wire.js';

export interface SummaryOptions {
  /** Filters whose per-sample-type sums go to `stackTotals[filter.name]`. */
  stackFilters?: readonly StackFilter[] | undefined;
}

const utf8 = new TextDecoder('utf-8');

/** Values a sample may carry on the fast path (the scratch array holds this many). */
const FAST_VALUES = 32;

/** Location mask tables cover every 1–2 byte id, so the hot walk needs no bounds check per id. */
const SHORT_IDS = 1 << 14;

/** Growable typed arrays the pass records into, kept for the next call when not too large. */
class Scratch {
  /** Per sample type, the sum so far (a typed array per call cost more than a small profile's pass). */
  totals = new Float64Array(8);
  strStart = new Int32Array(64);
  strEnd = new Int32Array(64);
  // With stack filters only:
  /** Where each sample's length prefix is: samples are read once the tables are (see samplePass). */
  sampleMessage = new Int32Array(64);
  /** Per filter and sample type, the sums of the last pass with stack filters. */
  sums: Float64Array = new Float64Array(0);
  /** One sample's values (FAST_VALUES of room; more only in the checked path). */
  values = new Float64Array(FAST_VALUES);
  /** Where each location's fields are: read in the attribution, once the functions' masks are known. */
  locStart = new Int32Array(64);
  locEnd = new Int32Array(64);
  locId = new Float64Array(64);
  locMask = new Int32Array(64);
  /** Where each function's fields are: read in the attribution. */
  fnStart = new Int32Array(64);
  fnEnd = new Int32Array(64);
  fnId = new Float64Array(64);
  fnName = new Float64Array(64);
  reader = new Reader(NO_BYTES);
  /** Sample type string indexes (type, unit, type, unit…) as read. */
  typeIdx = new Float64Array(16);
  /** What the last pass read: the profile, and how many of each entry it recorded. */
  raw: Uint8Array = NO_BYTES;
  strCount = 0;
  sampleCount = 0;
  locCount = 0;
  fnCount = 0;
  /** Function and location id → filter mask while attributing; -1 (undefined) between calls. */
  fnMasks = new Int32Array(1024).fill(-1);
  locMasks = new Int32Array(SHORT_IDS).fill(-1);

  bytes(): number {
    return (
      this.strStart.byteLength * 2 +
      this.values.byteLength +
      this.sampleMessage.byteLength +
      this.locStart.byteLength * 2 +
      this.locId.byteLength +
      this.locMask.byteLength +
      this.fnStart.byteLength * 2 +
      this.fnId.byteLength +
      this.fnName.byteLength +
      this.fnMasks.byteLength +
      this.locMasks.byteLength
    );
  }
}

/**
 * Kept between calls up to this size; a huge profile's arrays go to the garbage collector.
 * Each thread that summarizes keeps its own, so this bounds what a burst of large profiles
 * leaves behind (4 MiB covers a 200k-sample CPU profile's arrays).
 */
const KEEP_SCRATCH_BYTES = 4 * 1024 * 1024;
/**
 * A profile this small cannot grow the scratch arrays past KEEP_SCRATCH_BYTES (they hold at
 * most a few entries per byte of input), so its call skips adding up their sizes.
 */
const SMALL_PROFILE = 64 * 1024;
const NO_BYTES = new Uint8Array();
let spare: Scratch | undefined = new Scratch();

function growI32(a: Int32Array): Int32Array<ArrayBuffer> {
  const next = new Int32Array(a.length * 2);
  next.set(a);
  return next;
}

function growF64(a: Float64Array): Float64Array<ArrayBuffer> {
  const next = new Float64Array(a.length * 2);
  next.set(a);
  return next;
}

/*
 * The fast parsers' second results live in module variables declared with `var`, not `let`:
 * a `let` read from another function is checked for its temporal dead zone on every access,
 * and these are read per message (3% of a CPU profile's summary, measured).
 */

/** The offset after the varint most recently read by `fastVarint` / `fastLenEnd`. */
var next = 0;

/**
 * A varint of 1 to 4 bytes (< 2^28) that ends before `end`, else -1: the caller then reads
 * it with the checked `Reader`. Sets `next`.
 */
function fastVarint(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return -1;
  let b = buf[pos]!;
  if (b < 0x80) {
    next = pos + 1;
    return b;
  }
  let v = b & 0x7f;
  if (pos + 1 >= end) return -1;
  b = buf[pos + 1]!;
  v |= (b & 0x7f) << 7;
  if (b < 0x80) {
    next = pos + 2;
    return v;
  }
  if (pos + 2 >= end) return -1;
  b = buf[pos + 2]!;
  v |= (b & 0x7f) << 14;
  if (b < 0x80) {
    next = pos + 3;
    return v;
  }
  if (pos + 3 >= end) return -1;
  b = buf[pos + 3]!;
  v |= b << 21;
  if (b < 0x80) {
    next = pos + 4;
    return v;
  }
  return -1;
}

/**
 * The end of the length-delimited value whose length prefix starts at `pos` (its start in
 * `next`): by `fastLenEnd`, else by the checked reader, which gives the answer or the error.
 */
function lengthEndAt(buf: Uint8Array, r: Reader, pos: number, end: number, what: string): number {
  const fast = fastLenEnd(buf, pos, end);
  if (fast >= 0) return fast;
  r.pos = pos;
  r.end = end;
  const valueEnd = r.lengthEnd(what);
  next = r.pos;
  return valueEnd;
}

/** The end offset of a length-delimited value whose short length prefix starts at `pos`, or -1 (see `fastVarint`). */
function fastLenEnd(buf: Uint8Array, pos: number, end: number): number {
  const len = fastVarint(buf, pos, end);
  if (len < 0) return -1;
  const valueEnd = next + len;
  return valueEnd <= end ? valueEnd : -1;
}

/**
 * The offset after a varint of at most 9 bytes starting at `pos`, or -1. It may read past the
 * end of its message (a byte past the buffer reads as undefined, which ends it): every fast
 * parser below checks that it stopped exactly at its message's end, else the checked path
 * reads the message again and gives the answer or the error.
 */
function skipVar(buf: Uint8Array, pos: number): number {
  const limit = pos + 9;
  while (buf[pos++]! >= 0x80) if (pos >= limit) return -1;
  return pos;
}

/**
 * A varint of at most 9 bytes (below 2^63: any time or duration in nanoseconds) that ends
 * before `end`, as a bigint; else undefined (the checked `Reader` then reads it). Sets `next`.
 */
function fastVarint64(buf: Uint8Array, pos: number, end: number): bigint | undefined {
  let lo = 0;
  let hi = 0;
  let shift = 0;
  const limit = Math.min(pos + 9, end);
  while (pos < limit) {
    const b = buf[pos++]!;
    const bits = b & 0x7f;
    if (shift < 28) lo |= bits << shift;
    else if (shift === 28) {
      lo |= bits << 28; // the low 4 bits; the rest go to `hi`
      hi = bits >>> 4;
    } else hi |= bits << (shift - 32);
    if (b < 0x80) {
      next = pos;
      return int64FromHalves(lo, hi);
    }
    shift += 7;
  }
  return undefined;
}

/**
 * The filter masks of the `count` locations recorded in `s` (their ids to `s.locId`, masks to
 * `s.locMask`). Location { 1 id, 2 mapping_id, 3 address, 4 line { 1 function_id, 2 line, 3
 * column }, 5 is_folded }: the union of its lines' function masks (`fnMasks` by function id,
 * -1 = undefined). One loop with everything in locals (no call per location, no result in a
 * module variable: this runs for every location of every CPU profile). A location with an id
 * or a function id of 2^21 or more, a long line, an undefined function or anything unusual
 * goes to `checkedLocationMask`, which gives the answer or the error. Varints are skipped
 * without a bounds check per byte: a read past the buffer gives undefined, which ends the
 * varint, and the location then fails its end check. The masks also go straight to the reused
 * id table `s.locMasks` while the ids fit in it (Go numbers locations 1..n): the largest id when all
 * did (the table is then cleared up to it in one fill), else -1.
 */
function locationMasks(buf: Uint8Array, s: Scratch, count: number, fnMasks: Int32Array | undefined, fnSparse: Map<number, number> | undefined): number {
  const table = s.locMasks;
  const tableLength = table.length;
  let small = true;
  let maxId = 0;
  const starts = s.locStart;
  const ends = s.locEnd;
  const ids = s.locId;
  const masks = s.locMask;
  const fnLimit = fnMasks ? fnMasks.length : 0;
  for (let i = 0; i < count; i++) {
    let pos = starts[i]!;
    const end = ends[i]!;
    let id = 0;
    let mask = 0;
    while (pos < end) {
      const tag = buf[pos++]!;
      if (tag === 0x22) {
        const len = buf[pos++]!;
        if (len >= 0x80) break; // a line is a few bytes
        const lineEnd = pos + len;
        while (pos < lineEnd) {
          const lineTag = buf[pos++]!;
          if (lineTag === 0x08) {
            let b = buf[pos++]!;
            let fn = b & 0x7f;
            if (b >= 0x80) {
              b = buf[pos++]!;
              fn |= (b & 0x7f) << 7;
              if (b >= 0x80) {
                b = buf[pos++]!;
                if (b >= 0x80) {
                  mask = -1;
                  break;
                }
                fn |= b << 14;
              }
            }
            // Go: function id 0 = no function information for this line. Undefined: -1.
            if (fn !== 0) mask |= fn < fnLimit ? fnMasks![fn]! : -1;
          } else if (lineTag === 0x10 || lineTag === 0x18) {
            while (buf[pos++]! >= 0x80);
          } else {
            mask = -1;
            break;
          }
        }
        if (pos !== lineEnd) mask = -1;
        if (mask < 0) break;
      } else if (tag === 0x08) {
        let b = buf[pos++]!;
        id = b & 0x7f;
        if (b >= 0x80) {
          b = buf[pos++]!;
          id |= (b & 0x7f) << 7;
          if (b >= 0x80) {
            b = buf[pos++]!;
            if (b >= 0x80) {
              mask = -1;
              break;
            }
            id |= b << 14;
          }
        }
      } else if (tag === 0x10 || tag === 0x18 || tag === 0x28) {
        while (buf[pos++]! >= 0x80);
      } else {
        mask = -1;
        break;
      }
    }
    if (mask < 0 || pos !== end) {
      mask = checkedLocationMask(s.reader, starts[i]!, end, fnMasks, fnSparse);
      id = checkedId;
    }
    ids[i] = id;
    masks[i] = mask;
    if (id < tableLength && id >= 0 && Number.isInteger(id)) {
      table[id] = mask;
      if (id > maxId) maxId = id;
    } else small = false;
  }
  return small ? maxId : -1;
}

/**
 * The id and name index of each function recorded by the first pass, to `s.fnId`/`s.fnName`.
 * Function { 1 id, 2 name, 3 system_name, 4 filename, 5 start_line }: Go writes the id and
 * the name first, and nothing after them is needed, so the usual function is read in its
 * first few bytes (ids and name indexes below 2^14). Any other shape takes `checkedFunction`.
 */
function readFunctions(s: Scratch): void {
  const buf = s.raw;
  const count = s.fnCount;
  if (count > s.fnId.length) {
    s.fnId = new Float64Array(s.fnStart.length);
    s.fnName = new Float64Array(s.fnStart.length);
  }
  const starts = s.fnStart;
  const ends = s.fnEnd;
  const ids = s.fnId;
  const names = s.fnName;
  for (let i = 0; i < count; i++) {
    let pos = starts[i]!;
    const end = ends[i]!;
    let id = -1;
    let name = -1;
    if (pos + 4 <= end && buf[pos] === 0x08) {
      let b = buf[pos + 1]!;
      pos += 2;
      id = b;
      if (b >= 0x80) {
        b = buf[pos++]!;
        id = b < 0x80 ? (id & 0x7f) | (b << 7) : -1;
      }
      if (id >= 0 && pos + 2 <= end && buf[pos] === 0x10) {
        b = buf[pos + 1]!;
        pos += 2;
        name = b;
        if (b >= 0x80) {
          b = pos < end ? buf[pos++]! : 0x80;
          name = b < 0x80 ? (name & 0x7f) | (b << 7) : -1;
        }
      }
    }
    if (name < 0 || id < 0) {
      checkedFunction(s.reader, starts[i]!, end);
      id = checkedId;
      name = checkedName;
    }
    ids[i] = id;
    names[i] = name;
  }
}

/** The name index of the function most recently read by `checkedFunction` (its id in `checkedId`). */
var checkedName = 0;

/** A function in [start, end) by the checked reader: its id and name index, or the error that says what is wrong with it. */
function checkedFunction(r: Reader, start: number, end: number): void {
  r.pos = start;
  r.end = end;
  let id = 0;
  let name = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag('function tag');
    const f = tag >>> 3;
    const w = tag & 7;
    if (f === 1 || f === 2) {
      expectWire('Function', f === 1 ? 'id' : 'name', f, w, WIRE_VARINT, at);
      const v = r.varint(f === 1 ? 'function.id' : 'function.name');
      if (f === 1) id = v;
      else name = v;
    } else r.skip(w, f);
  }
  checkedId = id;
  checkedName = name;
}

/** What `fastSample` read: where its fields start, the packed location ids' range (start -1 when none, -2 when unpacked or repeated), the number of values. */
var fastFieldsStart = 0;
var fastIdsStart = 0;
var fastIdsEnd = 0;
var fastValues = 0;

/**
 * A Sample { 1 location_id, 2 value, 3 label } whose length prefix starts at `pos`, of the
 * usual shapes: ids and values packed, or unpacked as Go's runtime writes lists of at most
 * two; values below 2^35 (at most FAST_VALUES); labels. Writes its values to `values` from
 * `at` (nothing is committed: the caller adds them) and returns the sample's end, or -1 when
 * the checked path must read it (see `skipVar`).
 */
function fastSample(buf: Uint8Array, pos: number, end: number, values: Float64Array, at: number): number {
  let b = buf[pos++]!;
  let len = b & 0x7f;
  if (b >= 0x80) {
    b = buf[pos++]!;
    len |= (b & 0x7f) << 7;
    if (b >= 0x80) {
      b = buf[pos++]!;
      if (b >= 0x80) return -1;
      len |= b << 14;
    }
  }
  const sampleEnd = pos + len;
  if (sampleEnd > end) return -1;
  fastFieldsStart = pos;
  let idsStart = -1;
  let idsEnd = 0;
  let k = 0;
  while (pos < sampleEnd) {
    const tag = buf[pos++]!;
    if (tag === 0x10) {
      // One unpacked value.
      b = buf[pos++]!;
      let v = b & 0x7f;
      if (b >= 0x80) {
        b = buf[pos++]!;
        v |= (b & 0x7f) << 7;
        if (b >= 0x80) {
          b = buf[pos++]!;
          v |= (b & 0x7f) << 14;
          if (b >= 0x80) {
            b = buf[pos++]!;
            v |= (b & 0x7f) << 21;
            if (b >= 0x80) {
              b = buf[pos++]!;
              if (b >= 0x80) return -1;
              v = (v >>> 0) + b * 268435456; // bits 28..34
            }
          }
        }
      }
      if (k === FAST_VALUES) return -1;
      values[at + k++] = v;
      continue;
    }
    if (tag === 0x08) {
      // One unpacked location id: the attribution walks this sample's fields.
      pos = skipVar(buf, pos);
      if (pos < 0) return -1;
      idsStart = -2;
      continue;
    }
    b = buf[pos++]!;
    len = b & 0x7f;
    if (b >= 0x80) {
      b = buf[pos++]!;
      len |= (b & 0x7f) << 7;
      if (b >= 0x80) {
        b = buf[pos++]!;
        if (b >= 0x80) return -1;
        len |= b << 14;
      }
    }
    const fieldEnd = pos + len;
    if (fieldEnd > sampleEnd) return -1;
    if (tag === 0x12) {
      while (pos < fieldEnd) {
        b = buf[pos++]!;
        let v = b & 0x7f;
        if (b >= 0x80) {
          b = buf[pos++]!;
          v |= (b & 0x7f) << 7;
          if (b >= 0x80) {
            b = buf[pos++]!;
            v |= (b & 0x7f) << 14;
            if (b >= 0x80) {
              b = buf[pos++]!;
              v |= (b & 0x7f) << 21;
              if (b >= 0x80) {
                b = buf[pos++]!;
                if (b >= 0x80) return -1;
                v = (v >>> 0) + b * 268435456; // bits 28..34
              }
            }
          }
        }
        if (k === FAST_VALUES) return -1;
        values[at + k++] = v;
      }
      if (pos !== fieldEnd) return -1;
    } else if (tag === 0x0a) {
      idsStart = idsStart === -1 ? pos : -2; // repeated packed fields: walk the fields
      idsEnd = fieldEnd;
      pos = fieldEnd;
    } else if (tag === 0x1a) pos = fieldEnd;
    else return -1;
  }
  if (pos !== sampleEnd) return -1;
  fastIdsStart = idsStart;
  fastIdsEnd = idsEnd;
  fastValues = k;
  return sampleEnd;
}

var runCount = 0;
function stringRun(buf: Uint8Array, pos: number, end: number, s: Scratch, count: number): number {
  let starts = s.strStart;
  let ends = s.strEnd;
  while (pos + 1 < end && buf[pos] === 0x32) {
    let b = buf[pos + 1]!;
    let len = b;
    let start = pos + 2;
    if (b >= 0x80) {
      if (pos + 2 >= end) break;
      b = buf[pos + 2]!;
      if (b >= 0x80) break;
      len = (len & 0x7f) | (b << 7);
      start = pos + 3;
    }
    const stop = start + len;
    if (stop > end) break;
    if (count === starts.length) {
      s.strStart = starts = growI32(starts);
      s.strEnd = ends = growI32(ends);
    }
    starts[count] = start;
    ends[count] = stop;
    count++;
    pos = stop;
  }
  runCount = count;
  return pos;
}

/**
 * The sample whose length prefix is at `pos`, by the checked path (any shape; the error that
 * says what is wrong with it): like `fastSample`, its values to `s.values` from 0 and the
 * same module variables. Returns the sample's end.
 */
function checkedSample(s: Scratch, pos: number, end: number): number {
  const buf = s.raw;
  const r = s.reader;
  let values = s.values;
  const sampleEnd = lengthEndAt(buf, r, pos, end, 'sample');
  pos = next;
  const sampleStart = pos;
  let idsStart = -1; // the packed location ids, for the attribution pass
  let idsEnd = 0;
  let irregular = false; // unpacked or repeated location id fields: walk the whole sample again
  let k = 0;
  while (pos < sampleEnd) {
    const sat = pos;
    let stag = buf[pos]!;
    if (stag >= 8 && stag < 0x80) pos++;
    else {
      r.pos = pos;
      r.end = sampleEnd;
      stag = r.tag('sample tag');
      pos = r.pos;
    }
    if (stag === 0x12) {
      const valuesEnd = lengthEndAt(buf, r, pos, sampleEnd, 'sample.value');
      pos = next;
      while (pos < valuesEnd) {
        let v = fastVarint(buf, pos, valuesEnd);
        if (v < 0) {
          r.pos = pos;
          r.end = valuesEnd;
          v = r.varint('sample.value');
          pos = r.pos;
        } else pos = next;
        if (k === values.length) s.values = values = growF64(values);
        values[k++] = v;
      }
    } else if (stag === 0x0a || stag === 0x1a) {
      // Location ids and labels: only their extent matters here.
      const skipEnd = lengthEndAt(buf, r, pos, sampleEnd, stag === 0x0a ? 'sample.location_id' : 'sample.label');
      pos = next;
      if (stag === 0x0a) {
        if (idsStart >= 0) irregular = true;
        idsStart = pos;
        idsEnd = skipEnd;
      }
      pos = skipEnd;
    } else {
      // The rare shapes: unpacked values or ids, unknown fields, wrong wire types.
      const sf = stag >>> 3;
      const swt = stag & 7;
      r.pos = pos;
      r.end = sampleEnd;
      if (sf === 2) {
        if (swt !== WIRE_VARINT) throw wrongWireType('Sample', 'value', 2, swt, 'varint or packed', sat);
        const v = r.varint('sample.value');
        if (k === values.length) s.values = values = growF64(values);
        values[k++] = v;
      } else if (sf === 1) {
        if (swt !== WIRE_VARINT) throw wrongWireType('Sample', 'location_id', 1, swt, 'varint or packed', sat);
        r.varint('sample.location_id');
        irregular = true;
      } else if (sf === 3) {
        throw wrongWireType('Sample', 'label', 3, swt, 'length-delimited', sat);
      } else r.skip(swt, sf);
      pos = r.pos;
    }
  }
  fastFieldsStart = sampleStart;
  fastIdsStart = irregular ? -2 : idsStart;
  fastIdsEnd = idsEnd;
  fastValues = k;
  return sampleEnd;
}

/** Entries with field tag `tag` whose content is not read: where their run stops (`pos` when the first is not of the usual shape). */
function skipRun(buf: Uint8Array, pos: number, end: number, tag: number): number {
  while (pos + 1 < end && buf[pos] === tag) {
    let len = buf[pos + 1]!;
    let start = pos + 2;
    if (len >= 0x80) {
      if (pos + 2 >= end) break;
      const b = buf[pos + 2]!;
      if (b >= 0x80) break;
      len = (len & 0x7f) | (b << 7);
      start = pos + 3;
    }
    const stop = start + len;
    if (stop > end) break;
    pos = stop;
  }
  return pos;
}

/** The type and unit string indexes of the ValueType most recently read by `readValueType`. */
let vtType = 0;
let vtUnit = 0;

function readValueType(r: Reader, what: 'sample_type' | 'period_type'): void {
  const end = r.lengthEnd(what);
  const saved = r.end;
  r.end = end;
  let type = 0;
  let unit = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(what === 'sample_type' ? 'sample_type tag' : 'period_type tag');
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 || field === 2) {
      if (wt !== WIRE_VARINT) throw wrongWireType('ValueType', field === 1 ? 'type' : 'unit', field, wt, 'varint', at);
      const v = r.varint(what);
      if (field === 1) type = v;
      else unit = v;
    } else r.skip(wt, field);
  }
  r.end = saved;
  vtType = type;
  vtUnit = unit;
}

function expectWire(message: string, name: string, field: number, wt: number, expected: number, at: number): void {
  if (wt !== expected) throw wrongWireType(message, name, field, wt, expected === WIRE_LEN ? 'length-delimited' : 'varint', at);
}

const PROFILE_FIELD_NAMES: Record<number, string> = {
  1: 'sample_type',
  2: 'sample',
  3: 'mapping',
  4: 'location',
  5: 'function',
  6: 'string_table',
  7: 'drop_frames',
  8: 'keep_frames',
  9: 'time_nanos',
  10: 'duration_nanos',
  11: 'period_type',
  12: 'period',
  13: 'comment',
  14: 'default_sample_type',
  15: 'doc_url',
};

function checkProfileWire(field: number, wt: number, at: number): void {
  if (field >= 1 && field <= 15 && field !== 13) {
    const isLen = field <= 6 || field === 11;
    expectWire('Profile', PROFILE_FIELD_NAMES[field]!, field, wt, isLen ? WIRE_LEN : WIRE_VARINT, at);
  } else if (field === 13 && wt !== WIRE_VARINT && wt !== WIRE_LEN) throw wrongWireType('Profile', 'comment', 13, wt, 'varint or packed', at);
}

/**
 * Sample type names and units, decoded once per process: every profile of a kind repeats the
 * same few ("cpu", "nanoseconds", "alloc_space", "bytes"…), and a cache hit (a byte compare)
 * costs less than building the string. Slots are chosen by length and first and last bytes.
 */
const internBytes: (Uint8Array | undefined)[] = new Array(256).fill(undefined);
const internStrings: string[] = new Array(256).fill('');

function decodeString(buf: Uint8Array, start: number, end: number): string {
  const length = end - start;
  if (length === 0) return '';
  if (length > 32) return utf8.decode(buf.subarray(start, end));
  const slot = (length * 31 + buf[start]! * 7 + buf[end - 1]!) & 255;
  const cached = internBytes[slot];
  if (cached !== undefined && cached.length === length) {
    let i = 0;
    while (i < length && cached[i] === buf[start + i]) i++;
    if (i === length) return internStrings[slot]!;
  }
  const str = utf8.decode(buf.subarray(start, end));
  internBytes[slot] = buf.slice(start, end);
  internStrings[slot] = str;
  return str;
}

/** String `index` of the table; `field` (with `i` in place of "#") names the field for the error. */
function stringAt(s: Scratch, index: number, field: string, i = 0): string {
  if (!(index >= 0 && index < s.strCount && Number.isInteger(index))) {
    const what = field.replace('#', String(i));
    throw new PprofDecodeError(
      `pprof malformed: ${what} refers to string index ${index}, but the string table has ${s.strCount} ${s.strCount === 1 ? 'entry' : 'entries'}`,
    );
  }
  return decodeString(s.raw, s.strStart[index]!, s.strEnd[index]!);
}

/**
 * The summary every metric needs, in one streaming pass over a raw pprof protobuf:
 * sample types, per-type totals, sample count, time, duration, period type and period; with
 * `stackFilters`, also `stackTotals` (for each filter, the per-type sums over the samples
 * whose stack has a matching function). `pprof` of the result is `raw` itself (not copied).
 */
export function summarizePprof(raw: Uint8Array, options: SummaryOptions = {}): ProfileSummary {
  const filters = options.stackFilters && options.stackFilters.length > 0 ? options.stackFilters : undefined;
  const matchers = filters ? compileStackFilters(filters) : undefined;
  const scratch = spare ?? new Scratch();
  spare = undefined; // a re-entrant call (from a sumSamplesWhere predicate) gets its own
  try {
    const summary = summarize(raw, scratch, matchers, undefined);
    if (filters && matchers) {
      const sums = scratch.sums;
      const stackTotals: Record<string, number[]> = {};
      const n = summary.sampleTypes.length;
      for (let f = 0; f < filters.length; f++) {
        // A loop, not Array.from(subarray): the iterator protocol cost more than a small profile's whole pass.
        const row = new Array<number>(n);
        for (let t = 0; t < n; t++) row[t] = sums[f * n + t]!;
        stackTotals[filters[f]!.name] = row;
      }
      summary.stackTotals = stackTotals;
    }
    return summary;
  } finally {
    scratch.reader.reset(NO_BYTES); // do not keep the profile alive
    scratch.raw = NO_BYTES;
    if (raw.length <= SMALL_PROFILE || scratch.bytes() <= KEEP_SCRATCH_BYTES) spare = scratch;
  }
}

/**
 * The summary of `raw`. With `matchers` (or a `predicate`, for `sumSamplesWhere`), the samples
 * are read after the tables, with their stacks: the sums per filter and sample type go to
 * `s.sums`.
 */
function summarize(
  raw: Uint8Array,
  s: Scratch,
  matchers: readonly FunctionMatcher[] | undefined,
  predicate: ((functionName: string) => boolean) | undefined,
): ProfileSummary {
  const stacks = matchers !== undefined;
  const buf = raw;
  const end = raw.length;
  const r = s.reader;
  r.reset(raw);
  s.raw = raw;
  let sampleTypeIdx = s.typeIdx; // type, unit, type, unit…
  let typeIdxCount = 0;
  let periodTypeIdx = -1; // its type, then its unit at periodUnitIdx
  let periodUnitIdx = 0;
  let totals = s.totals;
  for (let i = 0; i < totals.length; i++) totals[i] = 0;
  let strCount = 0;
  let sampleCount = 0;
  let locCount = 0;
  let fnCount = 0;
  let minValues = Infinity;
  let maxValues = -1;
  let timeNanos = 0n;
  let durationNanos = 0n;
  let period = 0;
  let pos = 0;
  // The scratch arrays in locals: the hot loops do not reload them through \`s\`.
  let strStartArr = s.strStart;
  let strEndArr = s.strEnd;
  const valuesArr = s.values;
  let locStartArr = s.locStart;
  let locEndArr = s.locEnd;

  while (pos < end) {
    const at = pos;
    let tag = buf[pos]!;
    if (tag >= 8 && tag < 0x80) pos++;
    else {
      r.pos = pos;
      r.end = end;
      tag = r.tag();
      pos = r.pos;
    }

    if (tag === 0x12) {
      // Sample { 1 location_id (packed), 2 value (packed), 3 label }
      if (stacks) {
        // Read once the location and function tables are (see samplePass): here only where it is.
        let sampleEnd = fastLenEnd(buf, pos, end);
        if (sampleEnd < 0) {
          r.pos = pos;
          r.end = end;
          sampleEnd = r.lengthEnd('sample');
        }
        if (sampleCount === s.sampleMessage.length) s.sampleMessage = growI32(s.sampleMessage);
        s.sampleMessage[sampleCount++] = pos;
        pos = sampleEnd;
        continue;
      }
      let values = valuesArr;
      let sampleEnd = fastSample(buf, pos, end, values, 0);
      if (sampleEnd < 0) {
        sampleEnd = checkedSample(s, pos, end);
        values = s.values;
      }
      const k = fastValues;
      while (k > totals.length) totals = growF64(totals);
      for (let j = 0; j < k; j++) totals[j]! += values[j]!;
      if (k < minValues) minValues = k;
      if (k > maxValues) maxValues = k;
      sampleCount++;
      pos = sampleEnd;
      continue;
    }

    if (tag === 0x0a || tag === 0x5a) {
      // sample_type / period_type: a ValueType { 1 type, 2 unit } of two 1-byte indexes, as
      // Go writes them; any other shape takes readValueType.
      if (buf[pos] === 4 && buf[pos + 1] === 0x08 && buf[pos + 3] === 0x10 && pos + 5 <= end) {
        const type = buf[pos + 2]!;
        const unit = buf[pos + 4]!;
        if (type < 0x80 && unit < 0x80) {
          if (tag === 0x0a) {
            if (typeIdxCount === sampleTypeIdx.length) s.typeIdx = sampleTypeIdx = growF64(sampleTypeIdx);
            sampleTypeIdx[typeIdxCount++] = type;
            sampleTypeIdx[typeIdxCount++] = unit;
          } else {
            periodTypeIdx = type;
            periodUnitIdx = unit;
          }
          pos += 5;
          continue;
        }
      }
    } else if (tag === 0x60) {
      const v = fastVarint(buf, pos, end);
      if (v >= 0) {
        period = v;
        pos = next;
        continue;
      }
    } else if (tag === 0x48 || tag === 0x50) {
      // time_nanos, duration_nanos
      const v = fastVarint64(buf, pos, end);
      if (v !== undefined) {
        if (tag === 0x48) timeNanos = v;
        else durationNanos = v;
        pos = next;
        continue;
      }
    }

    if (tag === 0x32) {
      s.strStart = strStartArr;
      s.strEnd = strEndArr;
      const runEnd = stringRun(buf, at, end, s, strCount);
      if (runEnd !== at) {
        strCount = runCount;
        strStartArr = s.strStart;
        strEndArr = s.strEnd;
        pos = runEnd;
        continue;
      }
      const strEnd = lengthEndAt(buf, r, pos, end, 'string_table entry');
      pos = next;
      if (strCount === strStartArr.length) {
        strStartArr = growI32(strStartArr);
        strEndArr = growI32(strEndArr);
      }
      strStartArr[strCount] = pos;
      strEndArr[strCount] = strEnd;
      strCount++;
      pos = strEnd;
      continue;
    }

    if (tag === 0x1a || (!stacks && (tag === 0x22 || tag === 0x2a))) {
      // Mappings, and locations and functions when no stack is read: only their extent matters.
      // Go writes each as one run: skipped in a small loop of its own (see stringRun).
      const runEnd = skipRun(buf, at, end, tag);
      if (runEnd !== at) {
        pos = runEnd;
        continue;
      }
    }
    if (stacks && (tag === 0x22 || tag === 0x2a)) {
      // Locations and functions of the usual shape; anything else takes the checked path below.
      const messageEnd = fastLenEnd(buf, pos, end);
      if (messageEnd >= 0) {
        if (tag === 0x22) {
          if (locCount === locStartArr.length) {
            locStartArr = growI32(locStartArr);
            locEndArr = growI32(locEndArr);
          }
          locStartArr[locCount] = next;
          locEndArr[locCount] = messageEnd;
          locCount++;
          pos = messageEnd;
          continue;
        } else {
          if (fnCount === s.fnStart.length) {
            s.fnStart = growI32(s.fnStart);
            s.fnEnd = growI32(s.fnEnd);
          }
          s.fnStart[fnCount] = next;
          s.fnEnd[fnCount] = messageEnd;
          fnCount++;
          pos = messageEnd;
          continue;
        }
      }
    }

    const field = tag >>> 3;
    const wt = tag & 7;
    checkProfileWire(field, wt, at);
    r.pos = pos;
    r.end = end;
    switch (field) {
      case 1:
        readValueType(r, 'sample_type');
        if (typeIdxCount === sampleTypeIdx.length) s.typeIdx = sampleTypeIdx = growF64(sampleTypeIdx);
        sampleTypeIdx[typeIdxCount++] = vtType;
        sampleTypeIdx[typeIdxCount++] = vtUnit;
        break;
      case 4:
        if (!stacks) r.skip(wt, field);
        else {
          // Read in the attribution (see locationMasks).
          const locEnd = r.lengthEnd('location');
          if (locCount === locStartArr.length) {
            locStartArr = growI32(locStartArr);
            locEndArr = growI32(locEndArr);
          }
          locStartArr[locCount] = r.pos;
          locEndArr[locCount] = locEnd;
          locCount++;
          r.pos = locEnd;
        }
        break;
      case 5:
        if (!stacks) r.skip(wt, field);
        else {
          // Read in the attribution (see readFunctions).
          const fnEnd = r.lengthEnd('function');
          if (fnCount === s.fnStart.length) {
            s.fnStart = growI32(s.fnStart);
            s.fnEnd = growI32(s.fnEnd);
          }
          s.fnStart[fnCount] = r.pos;
          s.fnEnd[fnCount] = fnEnd;
          fnCount++;
          r.pos = fnEnd;
        }
        break;
      case 9:
        timeNanos = r.varint64('time_nanos');
        break;
      case 10:
        durationNanos = r.varint64('duration_nanos');
        break;
      case 11:
        readValueType(r, 'period_type');
        periodTypeIdx = vtType;
        periodUnitIdx = vtUnit;
        break;
      case 12:
        period = r.varint('period');
        break;
      default:
        r.skip(wt, field);
    }
    pos = r.pos;
  }

  s.strStart = strStartArr;
  s.strEnd = strEndArr;
  s.values = valuesArr;
  s.totals = totals;
  s.locStart = locStartArr;
  s.locEnd = locEndArr;
  s.strCount = strCount;
  s.sampleCount = sampleCount;
  s.locCount = locCount;
  s.fnCount = fnCount;
  if (strCount > 0 && s.strEnd[0] !== s.strStart[0]) throw new PprofDecodeError('pprof malformed: string_table[0] must be the empty string');
  if (matchers) {
    // The tables are read: now the samples, their totals and their stacks' sums.
    s.sums = attribute(s, matchers, predicate, typeIdxCount / 2);
    totals = s.totals;
    if (sampleCount > 0) {
      minValues = runMinValues;
      maxValues = runMaxValues;
    }
  }
  const typeCount = typeIdxCount / 2;
  const sampleTypes = new Array<SampleType>(typeCount);
  for (let i = 0; i < typeCount; i++) {
    sampleTypes[i] = sampleTypeAt(s, sampleTypeIdx[2 * i]!, sampleTypeIdx[2 * i + 1]!, 'sample_type[#]', i);
  }
  if (sampleCount > 0 && (minValues !== typeCount || maxValues !== typeCount)) {
    throw new PprofDecodeError(
      `pprof malformed: samples carry ${minValues === maxValues ? minValues : `${minValues}..${maxValues}`} values but the profile declares ${typeCount} sample types`,
    );
  }
  let periodType: SampleType | undefined;
  if (periodTypeIdx >= 0) {
    // Usually the same strings as a sample type's (contentions/count, cpu/nanoseconds): no second lookup.
    let i = 0;
    while (i < typeCount && (sampleTypeIdx[2 * i] !== periodTypeIdx || sampleTypeIdx[2 * i + 1] !== periodUnitIdx)) i++;
    periodType = i < typeCount ? sampleTypes[i]! : sampleTypeAt(s, periodTypeIdx, periodUnitIdx, 'period_type', 0);
  }
  const totalsOut = new Array<number>(typeCount);
  // More sample types than any sample had values for (no samples at all): their totals are 0.
  for (let i = 0; i < typeCount; i++) totalsOut[i] = i < totals.length ? totals[i]! : 0;
  return { pprof: raw, sampleTypes, totals: totalsOut, sampleCount, timeNanos, durationNanos, periodType, period };
}

/**
 * Sample types are shared, frozen objects: every profile of a kind has the same few
 * ("cpu"/"nanoseconds", "contentions"/"count"…), and comparing the bytes of the two strings
 * with the last ones seen in a slot costs less than decoding them and making an object.
 * Slots are chosen by the strings' lengths and first bytes; a miss decodes both and takes
 * the slot.
 */
interface CachedSampleType {
  type: Uint8Array;
  unit: Uint8Array;
  value: SampleType;
}

const sampleTypeCache: (CachedSampleType | undefined)[] = new Array(64).fill(undefined);

function sameBytes(cached: Uint8Array, buf: Uint8Array, start: number, end: number): boolean {
  const length = end - start;
  if (cached.length !== length) return false;
  for (let i = 0; i < length; i++) if (cached[i] !== buf[start + i]) return false;
  return true;
}

/** The sample type of string indexes `typeIndex` and `unitIndex`; `field` (with `i` for "#") names them in an error. */
function sampleTypeAt(s: Scratch, typeIndex: number, unitIndex: number, field: string, i: number): SampleType {
  if (!(typeIndex >= 0 && typeIndex < s.strCount && Number.isInteger(typeIndex))) stringAt(s, typeIndex, `${field}.type`, i);
  if (!(unitIndex >= 0 && unitIndex < s.strCount && Number.isInteger(unitIndex))) stringAt(s, unitIndex, `${field}.unit`, i);
  const buf = s.raw;
  const typeStart = s.strStart[typeIndex]!;
  const typeEnd = s.strEnd[typeIndex]!;
  const unitStart = s.strStart[unitIndex]!;
  const unitEnd = s.strEnd[unitIndex]!;
  const first = (typeEnd > typeStart ? buf[typeStart]! : 0) + (unitEnd > unitStart ? buf[unitStart]! : 0);
  const slot = ((typeEnd - typeStart) * 7 + (unitEnd - unitStart) * 3 + first) & 63;
  const cached = sampleTypeCache[slot];
  if (cached !== undefined && sameBytes(cached.type, buf, typeStart, typeEnd) && sameBytes(cached.unit, buf, unitStart, unitEnd)) return cached.value;
  const value = Object.freeze({ type: decodeString(buf, typeStart, typeEnd), unit: decodeString(buf, unitStart, unitEnd) });
  sampleTypeCache[slot] = { type: buf.slice(typeStart, typeEnd), unit: buf.slice(unitStart, unitEnd), value };
  return value;
}

/**
 * The dense table for `count` ids (id → mask, -1 = undefined) when the ids are small
 * non-negative integers (Go numbers locations and functions 1..n; anything much sparser would
 * waste memory): `reuse` when they fit in it, else a new array of -1s. Undefined when sparse.
 */
function denseTable(ids: Float64Array, count: number, reuse: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> | undefined {
  let max = 0;
  for (let i = 0; i < count; i++) {
    const id = ids[i]!;
    if (!(id >= 0 && id <= 0x3fffffff && (id | 0) === id)) return undefined;
    if (id > max) max = id;
  }
  if (max > count * 4 + 1024) return undefined;
  return max < reuse.length ? reuse : new Int32Array(max + 1).fill(-1);
}

/** Puts back the -1s of a reused dense table (every id that may have been set). */
function clearTable(table: Int32Array | undefined, ids: Float64Array, count: number): void {
  if (table) for (let i = 0; i < count; i++) table[ids[i]!] = -1;
}

/** The mask of id `id` in a dense or sparse table; -1 when the profile does not define it. */
function maskOf(dense: Int32Array | undefined, sparse: Map<number, number> | undefined, id: number): number {
  if (dense) return id >= 0 && id < dense.length ? dense[id]! : -1;
  return sparse!.get(id) ?? -1;
}

/**
 * For each filter (row) and sample type (column), the sum of the values of the samples whose
 * stack has a frame of a matching function: by `matchers` (one bit each), or by a caller's
 * `predicate` on the decoded name (bit 0). Undefined function or location ids are the same
 * `PprofDecodeError`s `sumSamplesWhere` has always given. One function, no closure and no
 * table allocated per call: it runs for every CPU profile, beside every other kind.
 */
function attribute(
  s: Scratch,
  matchers: readonly FunctionMatcher[],
  predicate: ((functionName: string) => boolean) | undefined,
  typeCount: number,
): Float64Array {
  const filterCount = predicate ? 1 : matchers.length;
  const sums = new Float64Array(filterCount * typeCount);
  const raw = s.raw;
  readFunctions(s);
  if (s.sampleCount === 0) {
    // Nothing to attribute, but the locations (read here, not in the first pass) are still checked.
    for (let i = 0; i < s.locCount; i++) checkedLocationMask(s.reader, s.locStart[i]!, s.locEnd[i]!, undefined, undefined);
    return sums;
  }
  const fnId = s.fnId;
  const fnCount = s.fnCount;
  let locId = s.locId;
  const locCount = s.locCount;
  const fnDense = denseTable(fnId, fnCount, s.fnMasks);
  const fnSparse = fnDense ? undefined : new Map<number, number>();
  // The location table covers every 1–2 byte id (the sample walk relies on it).
  let locDense: Int32Array<ArrayBuffer> | undefined;
  let locMax = -1; // the largest id written to s.locMasks, when all fit in it
  try {
    // Per function, once: the mask of the filters its name matches.
    let anyMatch = 0;
    const fnName = s.fnName;
    const strStart = s.strStart;
    const strEnd = s.strEnd;
    for (let i = 0; i < fnCount; i++) {
      const nameIndex = fnName[i]!;
      if (!(nameIndex >= 0 && nameIndex < s.strCount && Number.isInteger(nameIndex))) stringAt(s, nameIndex, 'function # name', fnId[i]);
      const start = strStart[nameIndex]!;
      const end = strEnd[nameIndex]!;
      let mask = 0;
      if (predicate) mask = predicate(utf8.decode(raw.subarray(start, end))) ? 1 : 0;
      else for (let f = 0; f < filterCount; f++) if (matchers[f]!.matches(raw, start, end)) mask |= 1 << f;
      if (fnDense) fnDense[fnId[i]!] = mask;
      else fnSparse!.set(fnId[i]!, mask);
      anyMatch |= mask;
    }
    // No function matches, so no location and no sample can: every sum is 0, and the stacks
    // are not read (as for a summary without filters, their references are then not checked).
    // A short CPU profile of an idle program often has no GC frame.
    if (anyMatch === 0) {
      samplePass(s, undefined, undefined, sums, filterCount, typeCount);
      return sums;
    }

    // Per location, once: the union of its lines' function masks (inlined frames included).
    if (locCount > s.locId.length) {
      s.locId = locId = new Float64Array(s.locStart.length);
      s.locMask = new Int32Array(s.locStart.length);
    }
    locDense = s.locMasks; // written while the ids fit in it, so cleared in \`finally\` even on an error
    let locSparse: Map<number, number> | undefined;
    locMax = locationMasks(raw, s, locCount, fnDense, fnSparse);
    if (locMax < 0) {
      // Ids past the reused table: a larger table, or a map when they are sparse.
      clearTable(locDense, locId, locCount);
      const locMask = s.locMask;
      locDense = denseTable(locId, locCount, s.locMasks);
      locSparse = locDense ? undefined : new Map<number, number>();
      for (let i = 0; i < locCount; i++) {
        if (locDense) locDense[locId[i]!] = locMask[i]!;
        else locSparse!.set(locId[i]!, locMask[i]!);
      }
    }

    samplePass(s, locDense, locSparse, sums, filterCount, typeCount);
  } finally {
    if (fnDense === s.fnMasks) clearTable(fnDense, fnId, fnCount);
    else if (fnDense && fnDense.length <= MAX_KEPT_TABLE) s.fnMasks = fnDense.fill(-1);
    if (locDense === s.locMasks) {
      if (locMax >= 0) locDense.fill(-1, 0, locMax + 1);
      else clearTable(locDense, locId, locCount);
    } else if (locDense && locDense.length <= MAX_KEPT_TABLE) s.locMasks = locDense.fill(-1);
  }
  return sums;
}

/** The fewest and most values a sample had in the last `samplePass`. */
var runMinValues = 0;
var runMaxValues = 0;

/**
 * Every sample recorded by the first pass, read now that the tables are: its values go to the
 * totals (`s.totals`), and, when its stack matches a filter (its locations' masks in `dense`
 * or `sparse`), to that filter's row of `sums`. One walk over the sample's bytes reads the
 * values and the location ids together. Without tables (no function matches), only the totals.
 */
function samplePass(
  s: Scratch,
  dense: Int32Array | undefined,
  sparse: Map<number, number> | undefined,
  sums: Float64Array,
  filterCount: number,
  typeCount: number,
): void {
  const buf = s.raw;
  const end = buf.length;
  const messages = s.sampleMessage;
  const count = s.sampleCount;
  const stacks = dense !== undefined || sparse !== undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let totals = s.totals;
  let min = Number.POSITIVE_INFINITY;
  let max = -1;
  for (let i = 0; i < count; i++) {
    let values = s.values;
    let sampleEnd = fastSample(buf, messages[i]!, end, values, 0);
    if (sampleEnd < 0) {
      sampleEnd = checkedSample(s, messages[i]!, end);
      values = s.values;
    }
    const k = fastValues;
    while (k > totals.length) s.totals = totals = growF64(totals);
    for (let j = 0; j < k; j++) totals[j]! += values[j]!;
    if (k < min) min = k;
    if (k > max) max = k;
    if (!stacks) continue;
    // Packed ids: their range; unpacked or repeated: every field of the sample; none: no frame.
    const ids = fastIdsStart;
    if (ids === -1) continue;
    let mask = -1;
    if (dense) mask = ids >= 0 ? idsMask(buf, view, ids, fastIdsEnd, dense) : fieldsMask(buf, view, fastFieldsStart, sampleEnd, dense);
    if (mask < 0) mask = checkedSampleMask(s.reader, i, ids >= 0 ? ids : ~fastFieldsStart, ids >= 0 ? fastIdsEnd : sampleEnd, dense, sparse);
    if (mask === 0) continue;
    for (let f = 0; f < filterCount; f++) {
      if ((mask & (1 << f)) === 0) continue;
      const row = f * typeCount;
      for (let t = 0; t < typeCount; t++) sums[row + t]! += values[t]!;
    }
  }
  runMinValues = min;
  runMaxValues = max;
}

/** The id of the location or function most recently read by `checkedLocationMask` or `checkedFunction`. */
var checkedId = 0;

/**
 * `locationMasks` by the checked reader: the location in [start, end) (its id in `checkedId`),
 * or the error that says what is wrong with it. Without function tables (a profile without
 * samples), only its structure is checked.
 */
function checkedLocationMask(r: Reader, start: number, end: number, fnDense: Int32Array | undefined, fnSparse: Map<number, number> | undefined): number {
  r.pos = start;
  let id = 0;
  let mask = 0;
  let undefinedFn = -1;
  while (r.pos < end) {
    r.end = end;
    const fat = r.pos;
    const ftag = r.tag('location tag');
    const f = ftag >>> 3;
    const w = ftag & 7;
    if (f === 1) {
      expectWire('Location', 'id', 1, w, WIRE_VARINT, fat);
      id = r.varint('location.id');
    } else if (f === 4) {
      expectWire('Location', 'line', 4, w, WIRE_LEN, fat);
      const lineEnd = r.lengthEnd('location.line');
      r.end = lineEnd;
      while (r.pos < lineEnd) {
        const lat = r.pos;
        const ltag = r.tag('line tag');
        if (ltag >>> 3 === 1) {
          expectWire('Line', 'function_id', 1, ltag & 7, WIRE_VARINT, lat);
          const fn = r.varint('line.function_id');
          if (fn === 0) continue; // Go: function id 0 = no function information for this line
          if (!fnDense && !fnSparse) continue; // structure only
          const m = maskOf(fnDense, fnSparse, fn);
          if (m < 0 && undefinedFn < 0) undefinedFn = fn; // reported with the id, which may come after
          mask |= m;
        } else r.skip(ltag & 7, ltag >>> 3);
      }
    } else r.skip(w, f);
  }
  if (undefinedFn >= 0) throw new PprofDecodeError(`pprof malformed: location ${id} refers to function ${undefinedFn}, which the profile does not define`);
  checkedId = id;
  return mask;
}

/**
 * The union of the masks of the packed location ids in [pos, stop) when each is a 1–3 byte
 * varint within the table; else -1 (the checked walk then decides or throws). An undefined id
 * has mask -1, which ORs into -1: one test at the end instead of one per id.
 *
 * It reads 4 bytes at a time through `view` (the same bytes as `buf`): when they are two
 * 2-byte ids (a profile of 128 to 16,383 locations has mostly those), both are looked up
 * without a branch per byte; else 2 bytes, one id. Measured on 741,256 ids of a synthetic
 * 40k-sample profile: 1.61 ms byte by byte, 1.33 ms 2 bytes at a time, 1.25 ms as here (on
 * a dd-trace-go CPU profile, 10 → 7 µs).
 */
function idsMask(buf: Uint8Array, view: DataView, pos: number, stop: number, masks: Int32Array): number {
  let mask = 0;
  const last2 = stop - 1; // a 2-byte read at pos fits
  const last4 = stop - 3; // a 4-byte read fits
  while (pos < last2) {
    if (pos < last4) {
      const w = view.getUint32(pos, true);
      if ((w & 0x80808080) === 0x00800080) {
        mask |= masks[(w & 0x7f) | ((w >> 1) & 0x3f80)]! | masks[((w >>> 16) & 0x7f) | ((w >>> 17) & 0x3f80)]!;
        pos += 4;
        continue;
      }
    }
    const w = view.getUint16(pos, true);
    if ((w & 0x80) === 0) {
      mask |= masks[w & 0x7f]!;
      pos += 1;
    } else if (w < 0x8000) {
      mask |= masks[(w & 0x7f) | ((w >> 1) & 0x3f80)]!;
      pos += 2;
    } else {
      // An id of 3 bytes (16,384 or more), or longer: -1.
      if (pos + 2 >= stop) return -1;
      const b = buf[pos + 2]!;
      const id = (w & 0x7f) | ((w >> 1) & 0x3f80) | (b << 14);
      if (b >= 0x80 || id >= masks.length) return -1;
      mask |= masks[id]!;
      pos += 3;
    }
  }
  if (pos < stop) {
    const b = buf[pos++]!;
    if (b >= 0x80) return -1;
    mask |= masks[b]!;
  }
  return pos === stop ? mask : -1;
}

/** `idsMask` for a sample with unpacked or repeated id fields: a walk over its fields [pos, stop) (see `skipVar`). */
function fieldsMask(buf: Uint8Array, view: DataView, pos: number, stop: number, masks: Int32Array): number {
  let mask = 0;
  while (pos < stop) {
    const tag = buf[pos++]!;
    if (tag === 0x08 || tag === 0x10) {
      const idEnd = skipVar(buf, pos);
      if (idEnd < 0) return -1;
      if (tag === 0x08) mask |= idsMask(buf, view, pos, idEnd, masks);
      pos = idEnd;
    } else if (tag === 0x0a || tag === 0x12 || tag === 0x1a) {
      let b = buf[pos++]!;
      let len = b & 0x7f;
      if (b >= 0x80) {
        b = buf[pos++]!;
        if (b >= 0x80) return -1;
        len |= b << 7;
      }
      if (tag === 0x0a) mask |= idsMask(buf, view, pos, pos + len, masks);
      pos += len;
    } else return -1;
  }
  return pos === stop ? mask : -1;
}

/** Id tables up to this many entries are kept for the next call. */
const MAX_KEPT_TABLE = 1 << 20;

/**
 * The filter mask of sample `i` by a checked walk: packed ids in [start, stop), or, when
 * `start` is negative, every field of the sample in [~start, stop) (unpacked or repeated id
 * fields). Throws for an id the profile does not define.
 */
function checkedSampleMask(r: Reader, i: number, start: number, stop: number, dense: Int32Array | undefined, sparse: Map<number, number> | undefined): number {
  let mask = 0;
  const locationMask = (id: number): number => {
    const m = maskOf(dense, sparse, id);
    if (m < 0) throw new PprofDecodeError(`pprof malformed: sample ${i} refers to location ${id}, which the profile does not define`);
    return m;
  };
  if (start >= 0) {
    r.pos = start;
    r.end = stop;
    while (r.pos < stop) mask |= locationMask(r.varint('sample.location_id'));
    return mask;
  }
  r.pos = ~start;
  r.end = stop;
  while (r.pos < stop) {
    const tag = r.tag('sample tag');
    if (tag === 0x08) mask |= locationMask(r.varint('sample.location_id'));
    else if (tag === 0x0a) {
      const idsEnd = r.lengthEnd('sample.location_id');
      r.end = idsEnd;
      while (r.pos < idsEnd) mask |= locationMask(r.varint('sample.location_id'));
      r.end = stop;
    } else r.skip(tag & 7, tag >>> 3);
  }
  return mask;
}

/**
 * For each sample, when any line (inlined frames included) of any location of its stack
 * belongs to a function for which `stackMatches(name)` is true, its `values[valueIndex]` is
 * added once to `matched`; `total` is the sum over all samples. `stackMatches` is called once
 * per function of the profile. For fixed name patterns, `summarizePprof` with `stackFilters`
 * computes the same sums in the summary pass.
 */
export function sumSamplesWhere(raw: Uint8Array, valueIndex: number, stackMatches: (functionName: string) => boolean): { matched: number; total: number } {
  const scratch = spare ?? new Scratch();
  spare = undefined;
  try {
    const summary = summarize(raw, scratch, [], stackMatches);
    const typeCount = summary.sampleTypes.length;
    if (!Number.isInteger(valueIndex) || valueIndex < 0 || valueIndex >= typeCount) {
      throw new PprofDecodeError(`sumSamplesWhere: value index ${valueIndex} is out of range; the profile has ${typeCount} sample types`);
    }
    return { matched: scratch.sums[valueIndex]!, total: summary.totals[valueIndex]! };
  } finally {
    scratch.reader.reset(NO_BYTES); // do not keep the profile alive
    scratch.raw = NO_BYTES;
    if (raw.length <= SMALL_PROFILE || scratch.bytes() <= KEEP_SCRATCH_BYTES) spare = scratch;
  }
}
