/**
 * Streaming summaries of a raw (decompressed) pprof protobuf: one pass over the bytes,
 * no object per sample. Field numbers are those of `profile.proto`:
 * Profile { 1 sample_type, 2 sample, 3 mapping, 4 location, 5 function, 6 string_table,
 * 7 drop_frames, 8 keep_frames, 9 time_nanos, 10 duration_nanos, 11 period_type,
 * 12 period, 13 comment, 14 default_sample_type, 15 doc_url }.
 */
import type { DecodedProfile, SampleType } from '@profcol/core';
import { PprofDecodeError } from './errors.js';
import { Reader, WIRE_LEN, WIRE_VARINT, wrongWireType } from './wire.js';

const utf8 = new TextDecoder('utf-8');

/** Offsets of the string table entries, read lazily. */
class Strings {
  starts = new Int32Array(256);
  ends = new Int32Array(256);
  count = 0;
  constructor(private readonly buf: Uint8Array) {}
  push(start: number, end: number): void {
    if (this.count === this.starts.length) {
      const starts = new Int32Array(this.count * 2);
      starts.set(this.starts);
      this.starts = starts;
      const ends = new Int32Array(this.count * 2);
      ends.set(this.ends);
      this.ends = ends;
    }
    this.starts[this.count] = start;
    this.ends[this.count] = end;
    this.count++;
  }
  get(index: number, what: string): string {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new PprofDecodeError(`pprof malformed: ${what} refers to string index ${index}, but the string table has ${this.count} ${this.count === 1 ? 'entry' : 'entries'}`);
    }
    return utf8.decode(this.buf.subarray(this.starts[index]!, this.ends[index]!));
  }
  checkFirstEmpty(): void {
    if (this.count > 0 && this.ends[0] !== this.starts[0]) throw new PprofDecodeError('pprof malformed: string_table[0] must be the empty string');
  }
}

function readValueType(r: Reader, what: string): [number, number] {
  const end = r.lengthEnd(what);
  const saved = r.end;
  r.end = end;
  let type = 0;
  let unit = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(`${what} tag`);
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
const PROFILE_LEN_FIELDS = new Set([1, 2, 3, 4, 5, 6, 11]);
const PROFILE_VARINT_FIELDS = new Set([7, 8, 9, 10, 12, 14, 15]);

function checkProfileWire(field: number, wt: number, at: number): void {
  if (PROFILE_LEN_FIELDS.has(field)) expectWire('Profile', PROFILE_FIELD_NAMES[field]!, field, wt, WIRE_LEN, at);
  else if (PROFILE_VARINT_FIELDS.has(field)) expectWire('Profile', PROFILE_FIELD_NAMES[field]!, field, wt, WIRE_VARINT, at);
  else if (field === 13 && wt !== WIRE_VARINT && wt !== WIRE_LEN) throw wrongWireType('Profile', 'comment', 13, wt, 'varint or packed', at);
}

/**
 * The summary every metric needs, in one streaming pass over a raw pprof protobuf:
 * sample types, per-type totals, sample count, time, duration, period type and period.
 * `pprof` of the result is `raw` itself (not copied).
 */
export function summarizePprof(raw: Uint8Array): DecodedProfile {
  const r = new Reader(raw);
  const strings = new Strings(raw);
  const sampleTypeIdx: [number, number][] = [];
  let periodTypeIdx: [number, number] | undefined;
  let totals: Float64Array<ArrayBuffer> = new Float64Array(8);
  let sampleCount = 0;
  let minValues = Infinity;
  let maxValues = -1;
  let timeNanos = 0n;
  let durationNanos = 0n;
  let period = 0;
  const end = raw.length;

  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 2) {
      if (wt !== WIRE_LEN) throw wrongWireType('Profile', 'sample', 2, wt, 'length-delimited', at);
      // Sample { 1 location_id (packed), 2 value (packed), 3 label }
      const sampleEnd = r.lengthEnd('sample');
      const outer = r.end;
      r.end = sampleEnd;
      let k = 0;
      while (r.pos < sampleEnd) {
        const sat = r.pos;
        const stag = r.tag('sample tag');
        const sf = stag >>> 3;
        const swt = stag & 7;
        if (sf === 2) {
          if (swt === WIRE_LEN) {
            const vend = r.lengthEnd('sample.value');
            r.end = vend;
            while (r.pos < vend) {
              const v = r.varint('sample.value');
              if (k === totals.length) totals = grow(totals);
              totals[k++]! += v;
            }
            r.end = sampleEnd;
          } else if (swt === WIRE_VARINT) {
            const v = r.varint('sample.value');
            if (k === totals.length) totals = grow(totals);
            totals[k++]! += v;
          } else throw wrongWireType('Sample', 'value', 2, swt, 'varint or packed', sat);
        } else if (sf === 1) {
          if (swt !== WIRE_LEN && swt !== WIRE_VARINT) throw wrongWireType('Sample', 'location_id', 1, swt, 'varint or packed', sat);
          r.skip(swt, sf);
        } else if (sf === 3) {
          if (swt !== WIRE_LEN) throw wrongWireType('Sample', 'label', 3, swt, 'length-delimited', sat);
          r.skip(swt, sf);
        } else r.skip(swt, sf);
      }
      r.end = outer;
      if (k < minValues) minValues = k;
      if (k > maxValues) maxValues = k;
      sampleCount++;
      continue;
    }
    checkProfileWire(field, wt, at);
    switch (field) {
      case 1:
        sampleTypeIdx.push(readValueType(r, 'sample_type'));
        break;
      case 6: {
        const sEnd = r.lengthEnd('string_table entry');
        strings.push(r.pos, sEnd);
        r.pos = sEnd;
        break;
      }
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
  }

  strings.checkFirstEmpty();
  const sampleTypes: SampleType[] = sampleTypeIdx.map(([t, u], i) => ({ type: strings.get(t, `sample_type[${i}].type`), unit: strings.get(u, `sample_type[${i}].unit`) }));
  if (sampleCount > 0 && (minValues !== sampleTypes.length || maxValues !== sampleTypes.length)) {
    throw new PprofDecodeError(`pprof malformed: samples carry ${minValues === maxValues ? minValues : `${minValues}..${maxValues}`} values but the profile declares ${sampleTypes.length} sample types`);
  }
  const periodType = periodTypeIdx ? { type: strings.get(periodTypeIdx[0], 'period_type.type'), unit: strings.get(periodTypeIdx[1], 'period_type.unit') } : undefined;
  return {
    pprof: raw,
    sampleTypes,
    totals: sampleTypes.map((_, i) => totals[i] ?? 0),
    sampleCount,
    timeNanos,
    durationNanos,
    periodType,
    period,
  };
}

function grow(a: Float64Array): Float64Array<ArrayBuffer> {
  const next = new Float64Array(a.length * 2);
  next.set(a);
  return next;
}

/** Growable list of [start, end) byte ranges. */
class Ranges {
  data = new Int32Array(512);
  count = 0;
  push(start: number, end: number): void {
    if (this.count * 2 === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.count * 2] = start;
    this.data[this.count * 2 + 1] = end;
    this.count++;
  }
}

/** Calls `onEntry(field, wt)` for each field of the message in [start,end); the callback must consume the value. */
function forEachField(r: Reader, end: number, message: string, onField: (field: number, wt: number, at: number) => void): void {
  const outer = r.end;
  r.end = end;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(`${message} tag`);
    onField(tag >>> 3, tag & 7, at);
  }
  r.end = outer;
}

function readIds(r: Reader, wt: number, into: number[], what: string): void {
  if (wt === WIRE_LEN) {
    const end = r.lengthEnd(what);
    const outer = r.end;
    r.end = end;
    while (r.pos < end) into.push(r.varint(what));
    r.end = outer;
  } else into.push(r.varint(what));
}

/**
 * For the GC CPU overhead: for each sample, when any line (inlined frames included) of any
 * location of its stack belongs to a function for which `stackMatches(name)` is true, its
 * `values[valueIndex]` is added once to `matched`; `total` is the sum over all samples.
 * `stackMatches` is called at most once per distinct function.
 */
export function sumSamplesWhere(raw: Uint8Array, valueIndex: number, stackMatches: (functionName: string) => boolean): { matched: number; total: number } {
  const r = new Reader(raw);
  const strings = new Strings(raw);
  const samples = new Ranges();
  const functionName = new Map<number, number>(); // function id -> name string index
  const locationFunctions = new Map<number, number[]>(); // location id -> function ids
  let sampleTypes = 0;

  while (r.pos < raw.length) {
    const at = r.pos;
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    checkProfileWire(field, wt, at);
    switch (field) {
      case 1:
        sampleTypes++;
        r.skip(wt, field);
        break;
      case 2: {
        const end = r.lengthEnd('sample');
        samples.push(r.pos, end);
        r.pos = end;
        break;
      }
      case 4: {
        const end = r.lengthEnd('location');
        let id = 0;
        const fns: number[] = [];
        forEachField(r, end, 'location', (f, w, fat) => {
          if (f === 1) {
            expectWire('Location', 'id', 1, w, WIRE_VARINT, fat);
            id = r.varint('location.id');
          } else if (f === 4) {
            expectWire('Location', 'line', 4, w, WIRE_LEN, fat);
            const lend = r.lengthEnd('location.line');
            forEachField(r, lend, 'line', (lf, lw, lat) => {
              if (lf === 1) {
                expectWire('Line', 'function_id', 1, lw, WIRE_VARINT, lat);
                fns.push(r.varint('line.function_id'));
              } else r.skip(lw, lf);
            });
          } else r.skip(w, f);
        });
        locationFunctions.set(id, fns);
        break;
      }
      case 5: {
        const end = r.lengthEnd('function');
        let id = 0;
        let name = 0;
        forEachField(r, end, 'function', (f, w, fat) => {
          if (f === 1 || f === 2) {
            expectWire('Function', f === 1 ? 'id' : 'name', f, w, WIRE_VARINT, fat);
            const v = r.varint(f === 1 ? 'function.id' : 'function.name');
            if (f === 1) id = v;
            else name = v;
          } else r.skip(w, f);
        });
        functionName.set(id, name);
        break;
      }
      case 6: {
        const end = r.lengthEnd('string_table entry');
        strings.push(r.pos, end);
        r.pos = end;
        break;
      }
      default:
        r.skip(wt, field);
    }
  }
  strings.checkFirstEmpty();
  if (!Number.isInteger(valueIndex) || valueIndex < 0 || valueIndex >= sampleTypes) {
    throw new PprofDecodeError(`sumSamplesWhere: value index ${valueIndex} is out of range; the profile has ${sampleTypes} sample types`);
  }

  const functionMatches = new Map<number, boolean>();
  for (const [id, nameIdx] of functionName) functionMatches.set(id, stackMatches(strings.get(nameIdx, `function ${id} name`)));
  const locationMatches = new Map<number, boolean>();
  for (const [id, fns] of locationFunctions) {
    locationMatches.set(id, fns.some((fn) => {
      const m = functionMatches.get(fn);
      if (m === undefined) throw new PprofDecodeError(`pprof malformed: location ${id} refers to function ${fn}, which the profile does not define`);
      return m;
    }));
  }

  let matched = 0;
  let total = 0;
  const locs: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < samples.count; i++) {
    r.pos = samples.data[i * 2]!;
    const end = samples.data[i * 2 + 1]!;
    locs.length = 0;
    values.length = 0;
    forEachField(r, end, 'sample', (f, w, fat) => {
      if (f === 1) {
        if (w !== WIRE_LEN && w !== WIRE_VARINT) throw wrongWireType('Sample', 'location_id', 1, w, 'varint or packed', fat);
        readIds(r, w, locs, 'sample.location_id');
      } else if (f === 2) {
        if (w !== WIRE_LEN && w !== WIRE_VARINT) throw wrongWireType('Sample', 'value', 2, w, 'varint or packed', fat);
        readIds(r, w, values, 'sample.value');
      } else r.skip(w, f);
    });
    if (values.length !== sampleTypes) throw new PprofDecodeError(`pprof malformed: sample ${i} carries ${values.length} values but the profile declares ${sampleTypes} sample types`);
    const v = values[valueIndex]!;
    total += v;
    for (const loc of locs) {
      const m = locationMatches.get(loc);
      if (m === undefined) throw new PprofDecodeError(`pprof malformed: sample ${i} refers to location ${loc}, which the profile does not define`);
      if (m) {
        matched += v;
        break;
      }
    }
  }
  return { matched, total };
}
