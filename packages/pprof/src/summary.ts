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
 * and strings, so the pass records where each sample is and its values, and attributes once
 * the tables are read: per function once (on the name's bytes), per location once (a mask of
 * matching filters in an array indexed by id when ids are dense), then one walk over each
 * sample's location ids.
 */
import type { DecodedProfile, SampleType } from '@profcol/core';
import { PprofDecodeError } from './errors.js';
import { compileStackFilters, type FunctionMatcher, type StackFilter } from './stack-filters.js';
import { Reader, WIRE_LEN, WIRE_VARINT, wrongWireType } from './wire.js';

export interface SummaryOptions {
  /** Filters whose per-sample-type sums go to `stackTotals[filter.name]`. */
  stackFilters?: readonly StackFilter[] | undefined;
}

const utf8 = new TextDecoder('utf-8');

/** Location mask tables cover every 1–2 byte id, so the hot walk needs no bounds check per id. */
const SHORT_IDS = 1 << 14;

/** Growable typed arrays the pass records into, kept for the next call when not too large. */
class Scratch {
  strStart = new Int32Array(64);
  strEnd = new Int32Array(64);
  // With stack filters only:
  sampleStart = new Int32Array(64);
  sampleEnd = new Int32Array(64);
  values = new Float64Array(128);
  locId = new Float64Array(64);
  locLinesEnd = new Int32Array(64); // end offset in lineFn of each location's function ids
  lineFn = new Float64Array(128);
  fnId = new Float64Array(64);
  fnName = new Float64Array(64);
  reader = new Reader(NO_BYTES);
  /** Location id → filter mask while attributing; -1 (undefined) between calls. */
  locMasks = new Int32Array(SHORT_IDS).fill(-1);

  bytes(): number {
    return (
      this.strStart.byteLength * 2 + this.sampleStart.byteLength * 2 + this.values.byteLength + this.locId.byteLength + this.locLinesEnd.byteLength +
      this.lineFn.byteLength + this.fnId.byteLength + this.fnName.byteLength
    );
  }
}

/** Kept between calls up to this size; a huge profile's arrays go to the garbage collector. */
const KEEP_SCRATCH_BYTES = 16 * 1024 * 1024;
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

/** The offset after the varint most recently read by `fastVarint` / `fastLenEnd`. */
let next = 0;

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

/** The end offset of a length-delimited value whose short length prefix starts at `pos`, or -1 (see `fastVarint`). */
function fastLenEnd(buf: Uint8Array, pos: number, end: number): number {
  const len = fastVarint(buf, pos, end);
  if (len < 0) return -1;
  const valueEnd = next + len;
  return valueEnd <= end ? valueEnd : -1;
}

/** The offset after a varint of at most 9 bytes that ends before `end` (its value unused), or -1. */
function skipVarint(buf: Uint8Array, pos: number, end: number): number {
  const limit = Math.min(end, pos + 9);
  while (pos < limit) if (buf[pos++]! < 0x80) return pos;
  return -1;
}

/** The id of the location or function most recently read by `fastLocation` / `fastFunction`, and the function's name index. */
let fastId = 0;
let fastName = 0;

/**
 * A Location { 1 id, 2 mapping_id, 3 address, 4 line { 1 function_id, 2 line, 3 column }, 5
 * is_folded } in [pos, end) with short ids: appends its lines' function ids to `s.lineFn`
 * from `lineCount` on and returns the new count (the id in `fastId`), or -1 when the checked
 * path must read it (which also gives the errors).
 */
function fastLocation(buf: Uint8Array, pos: number, end: number, s: Scratch, lineCount: number): number {
  let id = 0;
  while (pos < end) {
    const tag = buf[pos++]!;
    if (tag === 0x08) {
      id = fastVarint(buf, pos, end);
      if (id < 0) return -1;
      pos = next;
    } else if (tag === 0x22) {
      const lineEnd = fastLenEnd(buf, pos, end);
      if (lineEnd < 0) return -1;
      pos = next;
      while (pos < lineEnd) {
        const lineTag = buf[pos++]!;
        if (lineTag === 0x08) {
          const fn = fastVarint(buf, pos, lineEnd);
          if (fn < 0) return -1;
          pos = next;
          if (lineCount === s.lineFn.length) s.lineFn = growF64(s.lineFn);
          s.lineFn[lineCount++] = fn;
        } else if (lineTag === 0x10 || lineTag === 0x18) {
          pos = skipVarint(buf, pos, lineEnd);
          if (pos < 0) return -1;
        } else return -1;
      }
    } else if (tag === 0x10 || tag === 0x18 || tag === 0x28) {
      pos = skipVarint(buf, pos, end);
      if (pos < 0) return -1;
    } else return -1;
  }
  fastId = id;
  return lineCount;
}

/** A Function { 1 id, 2 name, 3 system_name, 4 filename, 5 start_line } with short ids (in `fastId`, `fastName`), or false (see `fastLocation`). */
function fastFunction(buf: Uint8Array, pos: number, end: number): boolean {
  let id = 0;
  let name = 0;
  while (pos < end) {
    const tag = buf[pos++]!;
    if (tag === 0x08 || tag === 0x10) {
      const v = fastVarint(buf, pos, end);
      if (v < 0) return false;
      pos = next;
      if (tag === 0x08) id = v;
      else name = v;
    } else if (tag === 0x18 || tag === 0x20 || tag === 0x28) {
      pos = skipVarint(buf, pos, end);
      if (pos < 0) return false;
    } else return false;
  }
  fastId = id;
  fastName = name;
  return true;
}

function readValueType(r: Reader, what: 'sample_type' | 'period_type'): [number, number] {
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
  return [type, unit];
}

function expectWire(message: string, name: string, field: number, wt: number, expected: number, at: number): void {
  if (wt !== expected) throw wrongWireType(message, name, field, wt, expected === WIRE_LEN ? 'length-delimited' : 'varint', at);
}

const PROFILE_FIELD_NAMES: Record<number, string> = {
  1: 'sample_type', 2: 'sample', 3: 'mapping', 4: 'location', 5: 'function', 6: 'string_table', 7: 'drop_frames', 8: 'keep_frames',
  9: 'time_nanos', 10: 'duration_nanos', 11: 'period_type', 12: 'period', 13: 'comment', 14: 'default_sample_type', 15: 'doc_url',
};

function checkProfileWire(field: number, wt: number, at: number): void {
  if (field >= 1 && field <= 15 && field !== 13) {
    const isLen = field <= 6 || field === 11;
    expectWire('Profile', PROFILE_FIELD_NAMES[field]!, field, wt, isLen ? WIRE_LEN : WIRE_VARINT, at);
  } else if (field === 13 && wt !== WIRE_VARINT && wt !== WIRE_LEN) throw wrongWireType('Profile', 'comment', 13, wt, 'varint or packed', at);
}

/** Short ASCII strings (sample type names, units) without TextDecoder's per-call cost. */
function decodeString(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 32) {
    let s = '';
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b >= 0x80) return utf8.decode(buf.subarray(start, end));
      s += String.fromCharCode(b);
    }
    return s;
  }
  return utf8.decode(buf.subarray(start, end));
}

/** What one pass recorded; the arrays are `scratch`'s. */
interface Scan {
  raw: Uint8Array;
  scratch: Scratch;
  strCount: number;
  sampleCount: number;
  valuesPerSample: number; // checked equal for every sample before attribution
  locCount: number;
  fnCount: number;
}

/** String `index` of the table; `what()` names the field for the error (built only on error). */
function stringAt(scan: Scan, index: number, what: () => string): string {
  if (!(index >= 0 && index < scan.strCount && Number.isInteger(index))) {
    throw new PprofDecodeError(`pprof malformed: ${what()} refers to string index ${index}, but the string table has ${scan.strCount} ${scan.strCount === 1 ? 'entry' : 'entries'}`);
  }
  return decodeString(scan.raw, scan.scratch.strStart[index]!, scan.scratch.strEnd[index]!);
}

/**
 * The summary every metric needs, in one streaming pass over a raw pprof protobuf:
 * sample types, per-type totals, sample count, time, duration, period type and period; with
 * `stackFilters`, also `stackTotals` (for each filter, the per-type sums over the samples
 * whose stack has a matching function). `pprof` of the result is `raw` itself (not copied).
 */
export function summarizePprof(raw: Uint8Array, options: SummaryOptions = {}): DecodedProfile {
  const filters = options.stackFilters && options.stackFilters.length > 0 ? options.stackFilters : undefined;
  const matchers = filters ? compileStackFilters(filters) : undefined;
  const scratch = spare ?? new Scratch();
  spare = undefined; // a re-entrant call (from a sumSamplesWhere predicate) gets its own
  try {
    const { summary, scan } = summarize(raw, scratch, matchers !== undefined);
    if (filters && matchers) {
      const sums = attribute(scan, matchers, summary.sampleTypes.length);
      const stackTotals: Record<string, number[]> = {};
      const n = summary.sampleTypes.length;
      filters.forEach((filter, f) => {
        stackTotals[filter.name] = Array.from(sums.subarray(f * n, f * n + n));
      });
      summary.stackTotals = stackTotals;
    }
    return summary;
  } finally {
    scratch.reader.reset(NO_BYTES); // do not keep the profile alive
    if (scratch.bytes() <= KEEP_SCRATCH_BYTES) spare = scratch;
  }
}

function summarize(raw: Uint8Array, s: Scratch, stacks: boolean): { summary: DecodedProfile; scan: Scan } {
  const buf = raw;
  const end = raw.length;
  const r = s.reader;
  r.reset(raw);
  const sampleTypeIdx: [number, number][] = [];
  let periodTypeIdx: [number, number] | undefined;
  let totals = new Float64Array(8);
  let strCount = 0;
  let sampleCount = 0;
  let valueCount = 0;
  let locCount = 0;
  let lineCount = 0;
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
  let sampleStartArr = s.sampleStart;
  let sampleEndArr = s.sampleEnd;
  let valuesArr = s.values;

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
      let sampleEnd = fastLenEnd(buf, pos, end);
      if (sampleEnd < 0) {
        r.pos = pos;
        r.end = end;
        sampleEnd = r.lengthEnd('sample');
        pos = r.pos;
      } else pos = next;
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
          let valuesEnd = fastLenEnd(buf, pos, sampleEnd);
          if (valuesEnd < 0) {
            r.pos = pos;
            r.end = sampleEnd;
            valuesEnd = r.lengthEnd('sample.value');
            pos = r.pos;
          } else pos = next;
          while (pos < valuesEnd) {
            let v = fastVarint(buf, pos, valuesEnd);
            if (v < 0) {
              r.pos = pos;
              r.end = valuesEnd;
              v = r.varint('sample.value');
              pos = r.pos;
            } else pos = next;
            if (k === totals.length) totals = growF64(totals);
            totals[k++]! += v;
            if (stacks) {
              if (valueCount === valuesArr.length) valuesArr = growF64(valuesArr);
              valuesArr[valueCount++] = v;
            }
          }
        } else if (stag === 0x0a || stag === 0x1a) {
          // Location ids and labels: only their extent matters here.
          let skipEnd = fastLenEnd(buf, pos, sampleEnd);
          if (skipEnd < 0) {
            r.pos = pos;
            r.end = sampleEnd;
            skipEnd = r.lengthEnd(stag === 0x0a ? 'sample.location_id' : 'sample.label');
            pos = r.pos;
          } else pos = next;
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
            if (k === totals.length) totals = growF64(totals);
            totals[k++]! += v;
            if (stacks) {
              if (valueCount === valuesArr.length) valuesArr = growF64(valuesArr);
              valuesArr[valueCount++] = v;
            }
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
      if (stacks) {
        if (sampleCount === sampleStartArr.length) {
          sampleStartArr = growI32(sampleStartArr);
          sampleEndArr = growI32(sampleEndArr);
        }
        // Regular: the packed ids' range. Irregular: ~(the sample's start), and its end.
        sampleStartArr[sampleCount] = irregular ? ~sampleStart : idsStart < 0 ? 0 : idsStart;
        sampleEndArr[sampleCount] = irregular ? sampleEnd : idsStart < 0 ? 0 : idsEnd;
      }
      if (k < minValues) minValues = k;
      if (k > maxValues) maxValues = k;
      sampleCount++;
      continue;
    }

    if (tag === 0x32) {
      let strEnd = fastLenEnd(buf, pos, end);
      if (strEnd < 0) {
        r.pos = pos;
        r.end = end;
        strEnd = r.lengthEnd('string_table entry');
        pos = r.pos;
      } else pos = next;
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
      const skipEnd = fastLenEnd(buf, pos, end);
      if (skipEnd >= 0) {
        pos = skipEnd;
        continue;
      }
    }
    if (stacks && (tag === 0x22 || tag === 0x2a)) {
      // Locations and functions of the usual shape; anything else takes the checked path below.
      const messageEnd = fastLenEnd(buf, pos, end);
      if (messageEnd >= 0) {
        if (tag === 0x22) {
          const lines = fastLocation(buf, next, messageEnd, s, lineCount);
          if (lines >= 0) {
            if (locCount === s.locId.length) {
              s.locId = growF64(s.locId);
              s.locLinesEnd = growI32(s.locLinesEnd);
            }
            s.locId[locCount] = fastId;
            s.locLinesEnd[locCount] = lines;
            locCount++;
            lineCount = lines;
            pos = messageEnd;
            continue;
          }
        } else if (fastFunction(buf, next, messageEnd)) {
          if (fnCount === s.fnId.length) {
            s.fnId = growF64(s.fnId);
            s.fnName = growF64(s.fnName);
          }
          s.fnId[fnCount] = fastId;
          s.fnName[fnCount] = fastName;
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
        sampleTypeIdx.push(readValueType(r, 'sample_type'));
        break;
      case 4:
        if (!stacks) r.skip(wt, field);
        else {
          // Location { 1 id, 4 line: Line { 1 function_id } }: the function ids of every line.
          const locEnd = r.lengthEnd('location');
          let id = 0;
          while (r.pos < locEnd) {
            r.end = locEnd;
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
                  if (lineCount === s.lineFn.length) s.lineFn = growF64(s.lineFn);
                  s.lineFn[lineCount++] = r.varint('line.function_id');
                } else r.skip(ltag & 7, ltag >>> 3);
              }
            } else r.skip(w, f);
          }
          r.end = end;
          if (locCount === s.locId.length) {
            s.locId = growF64(s.locId);
            s.locLinesEnd = growI32(s.locLinesEnd);
          }
          s.locId[locCount] = id;
          s.locLinesEnd[locCount] = lineCount;
          locCount++;
        }
        break;
      case 5:
        if (!stacks) r.skip(wt, field);
        else {
          // Function { 1 id, 2 name }
          const fnEnd = r.lengthEnd('function');
          r.end = fnEnd;
          let id = 0;
          let name = 0;
          while (r.pos < fnEnd) {
            const fat = r.pos;
            const ftag = r.tag('function tag');
            const f = ftag >>> 3;
            const w = ftag & 7;
            if (f === 1 || f === 2) {
              expectWire('Function', f === 1 ? 'id' : 'name', f, w, WIRE_VARINT, fat);
              const v = r.varint(f === 1 ? 'function.id' : 'function.name');
              if (f === 1) id = v;
              else name = v;
            } else r.skip(w, f);
          }
          r.end = end;
          if (fnCount === s.fnId.length) {
            s.fnId = growF64(s.fnId);
            s.fnName = growF64(s.fnName);
          }
          s.fnId[fnCount] = id;
          s.fnName[fnCount] = name;
          fnCount++;
        }
        break;
      case 9:
        timeNanos = r.varint64('time_nanos');
        break;
      case 10:
        durationNanos = r.varint64('duration_nanos');
        break;
      case 11:
        periodTypeIdx = readValueType(r, 'period_type');
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
  s.sampleStart = sampleStartArr;
  s.sampleEnd = sampleEndArr;
  s.values = valuesArr;
const scan: Scan = { raw, scratch: s, strCount, sampleCount, valuesPerSample: maxValues, locCount, fnCount };
  if (strCount > 0 && s.strEnd[0] !== s.strStart[0]) throw new PprofDecodeError('pprof malformed: string_table[0] must be the empty string');
  const sampleTypes: SampleType[] = [];
  for (let i = 0; i < sampleTypeIdx.length; i++) {
    const [t, u] = sampleTypeIdx[i]!;
    sampleTypes.push({ type: stringAt(scan, t, () => `sample_type[${i}].type`), unit: stringAt(scan, u, () => `sample_type[${i}].unit`) });
  }
  if (sampleCount > 0 && (minValues !== sampleTypes.length || maxValues !== sampleTypes.length)) {
    throw new PprofDecodeError(`pprof malformed: samples carry ${minValues === maxValues ? minValues : `${minValues}..${maxValues}`} values but the profile declares ${sampleTypes.length} sample types`);
  }
  const periodType = periodTypeIdx ? { type: stringAt(scan, periodTypeIdx[0], () => 'period_type.type'), unit: stringAt(scan, periodTypeIdx[1], () => 'period_type.unit') } : undefined;
  const totalsOut = new Array<number>(sampleTypes.length);
  for (let i = 0; i < sampleTypes.length; i++) totalsOut[i] = totals[i]!;
  const summary: DecodedProfile = { pprof: raw, sampleTypes, totals: totalsOut, sampleCount, timeNanos, durationNanos, periodType, period };
  return { summary, scan };
}

/** Ids to values: a typed array indexed by id when the ids are dense, a Map otherwise. -1 = not defined. */
class IdTable {
  private readonly dense: Int32Array | undefined;
  private readonly sparse: Map<number, number> | undefined;

  /**
   * `reuse`, when given, is an array of -1s used (instead of a new array) when the ids fit;
   * `release()` puts its -1s back.
   */
  constructor(
    private readonly ids: Float64Array,
    private readonly count: number,
    valueOf: (i: number) => number,
    private readonly reuse?: Int32Array,
  ) {
    let max = 0;
    let integral = true;
    for (let i = 0; i < count; i++) {
      const id = ids[i]!;
      if (id > max) max = id;
      if (!(id >= 0 && Number.isInteger(id))) integral = false;
    }
    // Go numbers locations and functions 1..n; anything much sparser would waste memory.
    if (integral && max <= count * 4 + 1024) {
      const dense = reuse && max < reuse.length ? reuse : new Int32Array(max + 1).fill(-1);
      let i = 0;
      try {
        for (; i < count; i++) dense[ids[i]!] = valueOf(i);
      } catch (error) {
        if (dense === reuse) for (let j = 0; j < i; j++) dense[ids[j]!] = -1;
        throw error;
      }
      this.dense = dense;
    } else {
      this.sparse = new Map();
      for (let i = 0; i < count; i++) this.sparse.set(ids[i]!, valueOf(i));
    }
  }

  get(id: number): number {
    if (this.dense) return id < this.dense.length ? this.dense[id]! : -1;
    return this.sparse!.get(id) ?? -1;
  }

  /** The dense array (ids past its end are undefined), when there is one. */
  get array(): Int32Array | undefined {
    return this.dense;
  }

  release(): void {
    if (this.dense && this.dense === this.reuse) for (let i = 0; i < this.count; i++) this.dense[this.ids[i]!] = -1;
  }
}

/**
 * For each filter (row) and sample type (column), the sum of the values of the samples whose
 * stack has a frame of a matching function. Undefined function or location ids are the same
 * `PprofDecodeError`s `sumSamplesWhere` has always given.
 */
function attribute(scan: Scan, matchers: readonly FunctionMatcher[], typeCount: number): Float64Array {
  const { raw, scratch: s } = scan;
  const sums = new Float64Array(matchers.length * typeCount);
  if (scan.sampleCount === 0) return sums;

  // Per function, once: the mask of the filters its name matches.
  const fnMask = new IdTable(s.fnId, scan.fnCount, (i) => {
    const nameIndex = s.fnName[i]!;
    if (!(nameIndex >= 0 && nameIndex < scan.strCount && Number.isInteger(nameIndex))) stringAt(scan, nameIndex, () => `function ${s.fnId[i]} name`);
    const start = s.strStart[nameIndex]!;
    const end = s.strEnd[nameIndex]!;
    let mask = 0;
    for (let f = 0; f < matchers.length; f++) if (matchers[f]!.matches(raw, start, end)) mask |= 1 << f;
    return mask;
  });

  // Per location, once: the union of its lines' function masks (inlined frames included).
  // The reused table covers every 1–2 byte id (idsMask relies on it); it is -1s again on return.
  const locMask = new IdTable(s.locId, scan.locCount, (i) => {
    let mask = 0;
    for (let l = i === 0 ? 0 : s.locLinesEnd[i - 1]!; l < s.locLinesEnd[i]!; l++) {
      const fn = s.lineFn[l]!;
      if (fn === 0) continue; // Go: function id 0 = no function information for this line
      const m = fnMask.get(fn);
      if (m < 0) throw new PprofDecodeError(`pprof malformed: location ${s.locId[i]} refers to function ${fn}, which the profile does not define`);
      mask |= m;
    }
    return mask;
  }, s.locMasks);
  try {
    sampleMasks(scan, locMask, matchers.length, typeCount, sums);
  } finally {
    locMask.release();
  }
  return sums;
}

/** Adds each sample's values to the rows of the filters its stack matches. */
function sampleMasks(scan: Scan, locMask: IdTable, filterCount: number, typeCount: number, sums: Float64Array): void {
  const { raw, scratch: s } = scan;
  // Per sample: one walk over its location ids (the first pass checked every sample's extent).
  const buf = raw;
  const dense = locMask.array;
  const r = new Reader(raw);
  const values = s.values;
  const starts = s.sampleStart;
  const ends = s.sampleEnd;
  const locationMask = (i: number, id: number): number => {
    const m = dense ? (id < dense.length ? dense[id]! : -1) : locMask.get(id);
    if (m < 0) throw new PprofDecodeError(`pprof malformed: sample ${i} refers to location ${id}, which the profile does not define`);
    return m;
  };
  for (let i = 0; i < scan.sampleCount; i++) {
    let pos = starts[i]!;
    const stop = ends[i]!;
    let mask = 0;
    if (pos < 0) mask = irregularSampleMask(r, ~pos, stop, (id) => locationMask(i, id));
    else {
      mask = dense ? idsMask(buf, pos, stop, dense) : -1;
      if (mask < 0) mask = checkedIdsMask(r, pos, stop, (id) => locationMask(i, id));
    }
    if (mask !== 0) {
      const v = i * typeCount;
      for (let f = 0; f < filterCount; f++) {
        if ((mask & (1 << f)) === 0) continue;
        const row = f * typeCount;
        for (let t = 0; t < typeCount; t++) sums[row + t]! += values[v + t]!;
      }
    }
  }
}

/**
 * The union of the masks of the packed location ids in [pos, stop) when each is a 1–2 byte
 * varint; else -1 (the checked walk then decides or throws). An undefined id has mask -1,
 * which ORs into -1: one test at the end instead of one per id.
 */
function idsMask(buf: Uint8Array, pos: number, stop: number, masks: Int32Array): number {
  let mask = 0;
  while (pos < stop) {
    let b = buf[pos++]!;
    let id = b & 0x7f;
    if (b >= 0x80) {
      b = buf[pos++]!;
      id |= (b & 0x7f) << 7;
      if (b >= 0x80) {
        // Past 16,383 locations: a 3-byte id, inside the table only if the profile has that many.
        b = buf[pos++]!;
        if (b >= 0x80) return -1;
        id |= b << 14;
        if (id >= masks.length) return -1;
      }
    }
    mask |= masks[id]!;
  }
  return pos === stop ? mask : -1;
}

function checkedIdsMask(r: Reader, pos: number, stop: number, locationMask: (id: number) => number): number {
  let mask = 0;
  r.pos = pos;
  r.end = stop;
  while (r.pos < stop) mask |= locationMask(r.varint('sample.location_id'));
  return mask;
}

/** The filter mask of a sample with unpacked or repeated location id fields, by a checked walk over all its fields. */
function irregularSampleMask(r: Reader, start: number, end: number, locationMask: (id: number) => number): number {
  let mask = 0;
  r.pos = start;
  r.end = end;
  while (r.pos < end) {
    const tag = r.tag('sample tag');
    if (tag === 0x08) mask |= locationMask(r.varint('sample.location_id'));
    else if (tag === 0x0a) {
      const idsEnd = r.lengthEnd('sample.location_id');
      r.end = idsEnd;
      while (r.pos < idsEnd) mask |= locationMask(r.varint('sample.location_id'));
      r.end = end;
    } else r.skip(tag & 7, tag >>> 3);
  }
  return mask;
}

/** A filter that asks a caller's predicate about each function name (decoded once per function). */
class PredicateMatcher implements FunctionMatcher {
  constructor(private readonly predicate: (functionName: string) => boolean) {}
  matches(buf: Uint8Array, start: number, end: number): boolean {
    return this.predicate(utf8.decode(buf.subarray(start, end)));
  }
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
    const { summary, scan } = summarize(raw, scratch, true);
    const typeCount = summary.sampleTypes.length;
    if (!Number.isInteger(valueIndex) || valueIndex < 0 || valueIndex >= typeCount) {
      throw new PprofDecodeError(`sumSamplesWhere: value index ${valueIndex} is out of range; the profile has ${typeCount} sample types`);
    }
    const sums = attribute(scan, [new PredicateMatcher(stackMatches)], typeCount);
    return { matched: sums[valueIndex]!, total: summary.totals[valueIndex]! };
  } finally {
    scratch.reader.reset(NO_BYTES); // do not keep the profile alive
    if (scratch.bytes() <= KEEP_SCRATCH_BYTES) spare = scratch;
  }
}
