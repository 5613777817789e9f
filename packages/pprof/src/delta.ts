/**
 * Deltas of two cumulative profiles of the same process (heap/allocs `alloc_*`, mutex and
 * block `contentions`/`delay`), as DataKit, Alloy and dd-trace-go compute them: the listed
 * types become cur − prev, the others are kept from cur, all-zero samples are dropped,
 * TimeNanos = cur and DurationNanos = cur − prev. A restarted target is detected and
 * reported as a reset so the caller can take cur as a new baseline.
 *
 * The previous profile is only needed as per-stack sums of the delta'd types, so a caller
 * that scrapes in rounds keeps a `DeltaBaseline` (a 53-bit hash and the sums per distinct
 * stack) instead of the previous protobuf, and never decodes it again.
 *
 * Speed: a pull round computes one delta per cumulative profile, so this works on the wire
 * format, never building an object per sample: one pass records where each top-level field,
 * sample and string is; stacks are hashed per location once (address, and function name,
 * file name and line of every line, hashed on the strings' bytes) and per sample by combining
 * location hashes; the output copies every field but the samples and times verbatim and writes
 * one sample per distinct stack, reusing the first sample's location ids and labels.
 */
import type { ProfileSummary } from '@profcol/core';
import { PprofDecodeError } from './errors.js';
import { summarizePprof } from './summary.js';
import { Reader, WIRE_LEN, WIRE_VARINT } from './wire.js';

/**
 * What the next delta needs of a cumulative profile: its TimeNanos, the listed types'
 * totals, and per distinct stack (address + function + file + line of every frame, plus the
 * labels) a 53-bit hash and the summed values of the listed types. Treat `hashes` and
 * `sums` as opaque. About `8 + 8 × deltaTypes.length` bytes per distinct stack.
 */
export interface DeltaBaseline {
  readonly timeNanos: bigint;
  /** The delta types the sums are of, in the order given. */
  readonly deltaTypes: readonly string[];
  /** Per listed type, the sum over all samples. */
  readonly totals: readonly number[];
  /** Distinct stacks. */
  readonly stackCount: number;
  /** One 53-bit stack hash per distinct stack (opaque). */
  readonly hashes: Float64Array;
  /** `stackCount × deltaTypes.length` sums, stack-major (opaque). */
  readonly sums: Float64Array;
}

export type DeltaResult =
  /**
   * `pprof` is the raw (uncompressed) protobuf of the delta profile, `decoded` its summary
   * (equal to `summarizePprof(pprof)`, computed while building it). `baseline` (cur's
   * per-stack sums) is the `prev` of the next round; it is not enumerable.
   */
  | { kind: 'delta'; pprof: Uint8Array; decoded: ProfileSummary; baseline: DeltaBaseline }
  /** The counters went backwards (a restarted target): take cur (`baseline`, not enumerable) as the new baseline. */
  | { kind: 'reset'; reason: string; baseline: DeltaBaseline };

/** The value types that are cumulative and may be delta'd; `inuse_*` never is (golang/go#67942). */
export const DELTA_VALUE_TYPES: readonly string[] = ['alloc_objects', 'alloc_space', 'contentions', 'delay'];

/** Part of a reset decision: more than this share of a type's previous total vanished with its stacks. */
const VANISHED_SHARE = 0.5;

// ---- hashing: two 32-bit lanes, finalized into one 53-bit number (exact as a double, a fast Map key).

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** One murmur3_32 block step. */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

const TWO_32 = 2 ** 32;
const utf8 = new TextDecoder();
const TWO_21 = 2 ** 21;

/** Where the pieces of a raw Profile are, from one pass over its top-level fields. */
interface Layout {
  buf: Uint8Array;
  /** Top-level fields copied verbatim into a delta: [start, end) of tag + payload, in order; samples and times left out. */
  keep: number[];
  /** Index into `keep` (in pairs) before which the samples were (where the delta writes its own). */
  samplesAt: number;
  /** Content [start, end) of every sample message. */
  samples: number[];
  /** Content [start, end) of every string, by index. */
  strings: number[];
  /** sample_type: string index of each type's name. */
  sampleTypeNames: number[];
  /** Content [start, end) of every location and function message. */
  locations: number[];
  functions: number[];
  timeNanos: bigint;
}

function scanLayout(buf: Uint8Array): Layout {
  const r = new Reader(buf);
  const layout: Layout = { buf, keep: [], samplesAt: -1, samples: [], strings: [], sampleTypeNames: [], locations: [], functions: [], timeNanos: 0n };
  while (r.pos < r.end) {
    const fieldStart = r.pos;
    const tag = r.tag('Profile field');
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === WIRE_LEN && (field === 1 || field === 2 || field === 4 || field === 5 || field === 6)) {
      const end = r.lengthEnd(`Profile field ${field}`);
      const start = r.pos;
      r.pos = end;
      if (field === 2) {
        if (layout.samplesAt < 0) layout.samplesAt = layout.keep.length;
        layout.samples.push(start, end);
        continue;
      }
      if (field === 6) layout.strings.push(start, end);
      else if (field === 4) layout.locations.push(start, end);
      else if (field === 5) layout.functions.push(start, end);
      else layout.sampleTypeNames.push(valueTypeName(buf, start, end));
    } else if (wire === WIRE_VARINT && (field === 9 || field === 10)) {
      const value = r.varint64(field === 9 ? 'time_nanos' : 'duration_nanos');
      if (field === 9) layout.timeNanos = value;
      continue;
    } else r.skip(wire, field);
    layout.keep.push(fieldStart, r.pos);
  }
  if (layout.samplesAt < 0) layout.samplesAt = layout.keep.length;
  return layout;
}

/** ValueType.type (field 1). */
function valueTypeName(buf: Uint8Array, start: number, end: number): number {
  const r = new Reader(buf, start, end);
  let type = 0;
  while (r.pos < r.end) {
    const tag = r.tag('ValueType field');
    if (tag === 8) type = r.varint('ValueType.type');
    else r.skip(tag & 7, tag >>> 3);
  }
  return type;
}

/** Per string index, two 32-bit hashes of its bytes, computed when first needed. */
class StringHashes {
  private readonly words: Uint32Array;
  private readonly done: Uint8Array;
  constructor(private readonly layout: Layout) {
    this.words = new Uint32Array(layout.strings.length);
    this.done = new Uint8Array(layout.strings.length / 2);
  }

  /** Word `lane` (0 or 1) of string `index`'s hash. */
  word(index: number, lane: number, what: string): number {
    const n = this.layout.strings.length / 2;
    if (!(index >= 0 && index < n))
      throw new PprofDecodeError(`pprof malformed: ${what} refers to string index ${index}, but the string table has ${n} entries`);
    if (!this.done[index]) {
      const buf = this.layout.buf;
      const end = this.layout.strings[index * 2 + 1]!;
      let a = 0x811c9dc5;
      let b = 0x9747b28c ^ (end - this.layout.strings[index * 2]!);
      for (let i = this.layout.strings[index * 2]!; i < end; i++) {
        const c = buf[i]!;
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul(b ^ c, 0x5bd1e995);
        b ^= b >>> 15;
      }
      this.words[index * 2] = fmix32(a);
      this.words[index * 2 + 1] = fmix32(b);
      this.done[index] = 1;
    }
    return this.words[index * 2 + lane]!;
  }

  text(index: number, what: string): string {
    this.word(index, 0, what);
    return utf8.decode(this.layout.buf.subarray(this.layout.strings[index * 2], this.layout.strings[index * 2 + 1]));
  }
}

/**
 * Per location id, two 32-bit hash words of its key: address and, per line, the function's
 * name and file name and the line number (the same identity as `go tool pprof`'s merge).
 */
function locationHashes(layout: Layout, strings: StringHashes): LocationHashes {
  const functions = new Map<number, [number, number, number, number]>();
  const { buf } = layout;
  for (let i = 0; i < layout.functions.length; i += 2) {
    const r = new Reader(buf, layout.functions[i]!, layout.functions[i + 1]!);
    let id = 0;
    let name = 0;
    let filename = 0;
    while (r.pos < r.end) {
      const tag = r.tag('Function field');
      if (tag === 8) id = r.varint('Function.id');
      else if (tag === 16) name = r.varint('Function.name');
      else if (tag === 32) filename = r.varint('Function.filename');
      else r.skip(tag & 7, tag >>> 3);
    }
    functions.set(id, [
      strings.word(name, 0, `function ${id} name`),
      strings.word(name, 1, `function ${id} name`),
      strings.word(filename, 0, `function ${id} filename`),
      strings.word(filename, 1, `function ${id} filename`),
    ]);
  }
  const hashes = new LocationHashes(layout.locations.length / 2);
  for (let i = 0; i < layout.locations.length; i += 2) {
    const r = new Reader(buf, layout.locations[i]!, layout.locations[i + 1]!);
    let id = 0;
    let address = 0;
    let a = 0x2545f491;
    let b = 0x6c8e9cf5;
    let lines = 0;
    while (r.pos < r.end) {
      const tag = r.tag('Location field');
      if (tag === 8) id = r.varint('Location.id');
      else if (tag === 24) address = r.varint('Location.address');
      else if (tag === 34) {
        const end = r.lengthEnd('Location.line');
        let functionId = 0;
        let line = 0;
        while (r.pos < end) {
          const lineTag = r.tag('Line field');
          if (lineTag === 8) functionId = r.varint('Line.function_id');
          else if (lineTag === 16) line = r.varint('Line.line');
          else r.skip(lineTag & 7, lineTag >>> 3);
        }
        r.pos = end;
        lines++;
        const fn = functions.get(functionId);
        if (fn === undefined) throw new PprofDecodeError(`pprof malformed: location ${id} refers to function ${functionId}, which the profile does not define`);
        a = mix(mix(mix(a, fn[0]), fn[2]), line | 0);
        b = mix(mix(mix(b, fn[3]), fn[1]), Math.floor(line / TWO_32) | 0);
      } else r.skip(tag & 7, tag >>> 3);
    }
    const lo = address >>> 0;
    const hi = Math.floor(address / TWO_32) | 0;
    a = mix(mix(a, lo), hi ^ lines);
    b = mix(mix(b, hi), lo ^ lines);
    // Two 32-bit words packed in one double (exact): the sample hash takes them apart.
    hashes.set(id, fmix32(a) * TWO_32 + fmix32(b));
  }
  return hashes;
}

/**
 * Location id → hash. Go numbers locations 1..n, so ids up to a bound index an array (NaN =
 * undefined); others go to a map.
 */
class LocationHashes {
  private readonly dense: Float64Array;
  private readonly sparse = new Map<number, number>();
  constructor(count: number) {
    this.dense = new Float64Array(Math.min(count * 2 + 16, 1 << 20)).fill(NaN);
  }

  set(id: number, hash: number): void {
    if (id >= 0 && id < this.dense.length) this.dense[id] = hash;
    else this.sparse.set(id, hash);
  }

  /** The hash, or NaN when the profile defines no such location. */
  get(id: number): number {
    if (id >= 0 && id < this.dense.length) return this.dense[id]!;
    return this.sparse.get(id) ?? NaN;
  }
}

/** Samples grouped by stack hash, in first-occurrence order, with every type's sums. */
interface Grouped {
  layout: Layout;
  /** hash → group number. */
  groups: Map<number, number>;
  /** Per group, the first sample's number. */
  first: number[];
  /** Per group, the sums of every sample type, group-major (`nTypes` per group). */
  values: Float64Array;
  nTypes: number;
  /** Per delta type, its index among the sample types. */
  typeIndex: number[];
  baseline: DeltaBaseline;
}

const labelHashes: number[] = [];

function group(layout: Layout, deltaTypes: readonly string[], which: string): Grouped {
  const strings = new StringHashes(layout);
  const names = layout.sampleTypeNames.map((index) => strings.text(index, 'sample_type.type'));
  const idx = deltaTypes.map((type) => {
    const i = names.indexOf(type);
    if (i < 0) throw new PprofDecodeError(`delta: the ${which} profile has no "${type}" sample type (it has ${names.join(', ') || 'none'})`);
    return i;
  });
  const k = idx.length;
  const nTypes = names.length;
  const locations = locationHashes(layout, strings);
  const { buf } = layout;
  const nSamples = layout.samples.length / 2;
  const groups = new Map<number, number>();
  const first: number[] = [];
  const hashes: number[] = [];
  let values = new Float64Array(Math.max(1, nSamples) * nTypes);
  const sampleValues = new Float64Array(nTypes);
  const r = new Reader(buf);
  for (let s = 0; s < nSamples; s++) {
    r.pos = layout.samples[s * 2]!;
    r.end = layout.samples[s * 2 + 1]!;
    let a = 0x3c6ef372;
    let b = 0xa54ff53a;
    let depth = 0;
    let nValues = 0;
    sampleValues.fill(0);
    labelHashes.length = 0;
    while (r.pos < r.end) {
      const tag = r.tag('Sample field');
      if (tag === 10 || tag === 8) {
        // location_id, packed (10) or not (8)
        const end = tag === 10 ? r.lengthEnd('Sample.location_id') : r.pos + 1;
        do {
          const id = r.varint('Sample.location_id');
          const h = locations.get(id);
          if (Number.isNaN(h)) throw new PprofDecodeError(`pprof malformed: a sample refers to location ${id}, which the profile does not define`);
          const w0 = Math.floor(h / TWO_32);
          const w1 = h >>> 0;
          a = mix(mix(a, w0), w1);
          b = mix(mix(b, w1), w0);
          depth++;
        } while (r.pos < end);
      } else if (tag === 18 || tag === 16) {
        // value, packed (18) or not (16)
        const end = tag === 18 ? r.lengthEnd('Sample.value') : r.pos + 1;
        do {
          const v = r.varint('Sample.value');
          if (nValues < nTypes) sampleValues[nValues] = v;
          nValues++;
        } while (r.pos < end);
      } else if (tag === 26) {
        const end = r.lengthEnd('Sample.label');
        let key = 0;
        let str = 0;
        let num = 0;
        let unit = 0;
        while (r.pos < end) {
          const labelTag = r.tag('Label field');
          if (labelTag === 8) key = r.varint('Label.key');
          else if (labelTag === 16) str = r.varint('Label.str');
          else if (labelTag === 24) num = r.varint('Label.num');
          else if (labelTag === 32) unit = r.varint('Label.num_unit');
          else r.skip(labelTag & 7, labelTag >>> 3);
        }
        r.pos = end;
        // A label is key=str, or key=num+unit when str is the empty string (index 0).
        let h = mix(0x1b873593, strings.word(key, 0, 'label key'));
        h = mix(h, strings.word(key, 1, 'label key'));
        if (str !== 0) h = mix(mix(mix(h, 1), strings.word(str, 0, 'label value')), strings.word(str, 1, 'label value'));
        else h = mix(mix(mix(mix(h, 2), num | 0), Math.floor(num / TWO_32) | 0), unit !== 0 ? strings.word(unit, 0, 'label unit') : 0);
        labelHashes.push(fmix32(h));
      } else r.skip(tag & 7, tag >>> 3);
    }
    if (labelHashes.length > 0) {
      // Labels are a set: their order in the sample does not make another stack.
      // An insertion sort: a sample has a handful of labels, and Array#sort's comparator calls cost more.
      for (let i = 1; i < labelHashes.length; i++) {
        const h = labelHashes[i]!;
        let j = i - 1;
        for (; j >= 0 && labelHashes[j]! > h; j--) labelHashes[j + 1] = labelHashes[j]!;
        labelHashes[j + 1] = h;
      }
      for (let i = 0; i < labelHashes.length; i++) {
        const h = labelHashes[i]!;
        a = mix(a, h);
        b = mix(b, ~h);
      }
    }
    a ^= depth;
    b ^= labelHashes.length;
    const hash = fmix32(a ^ 0x5bd1e995) * TWO_21 + (fmix32(b ^ 0x1b873593) >>> 11);
    let g = groups.get(hash);
    if (g === undefined) {
      g = first.length;
      groups.set(hash, g);
      first.push(s);
      hashes.push(hash);
    }
    for (let i = 0; i < nTypes; i++) values[g * nTypes + i]! += sampleValues[i]!;
  }
  const nGroups = first.length;
  if (values.length > nGroups * nTypes) values = values.slice(0, nGroups * nTypes);
  const sums = new Float64Array(nGroups * k);
  const totals = deltaTypes.map(() => 0);
  for (let g = 0; g < nGroups; g++) {
    for (let j = 0; j < k; j++) {
      const v = values[g * nTypes + idx[j]!]!;
      sums[g * k + j] = v;
      totals[j]! += v;
    }
  }
  const baseline: DeltaBaseline = {
    timeNanos: layout.timeNanos,
    deltaTypes: [...deltaTypes],
    totals,
    stackCount: nGroups,
    hashes: Float64Array.from(hashes),
    sums,
  };
  return { layout, groups, first, values, nTypes, typeIndex: idx, baseline };
}

// ---- writing the delta profile

/** A growable byte buffer for protobuf output. */
class Writer {
  buf: Uint8Array;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(Math.max(64, size));
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  bytes(src: Uint8Array, start: number, end: number): void {
    this.ensure(end - start);
    if (end - start < 64) {
      // Most copies are a sample's few location ids and labels: a loop beats a subarray.
      const buf = this.buf;
      let pos = this.pos;
      for (let i = start; i < end; i++) buf[pos++] = src[i]!;
      this.pos = pos;
    } else {
      this.buf.set(src.subarray(start, end), this.pos);
      this.pos += end - start;
    }
  }

  /** An unsigned varint < 2^53, or a negative int64 (10 bytes, two's complement). */
  varint(value: number): void {
    this.ensure(10);
    if (value < 0) {
      this.varint64(BigInt(value));
      return;
    }
    while (value >= 0x80) {
      this.buf[this.pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[this.pos++] = value;
  }

  varint64(value: bigint): void {
    this.ensure(10);
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }
}

function varintSize(value: number): number {
  if (value < 0) return 10;
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** A sample: the first sample's fields but its values (location ids and labels as they were), then `values` packed. */
function writeSample(out: Writer, layout: Layout, sampleReader: Reader, s: number, values: Float64Array, at: number, nTypes: number): void {
  const { buf } = layout;
  const start = layout.samples[s * 2]!;
  const end = layout.samples[s * 2 + 1]!;
  // The kept fields' bytes: everything in the sample message except its values (two passes: size, then copy).
  sampleReader.pos = start;
  sampleReader.end = end;
  let keptBytes = 0;
  while (sampleReader.pos < end) {
    const fieldStart = sampleReader.pos;
    const tag = sampleReader.tag('Sample field');
    sampleReader.skip(tag & 7, tag >>> 3);
    if (tag !== 18 && tag !== 16) keptBytes += sampleReader.pos - fieldStart;
  }
  let valuesBytes = 0;
  for (let i = 0; i < nTypes; i++) valuesBytes += varintSize(values[at + i]!);
  const valuesField = nTypes > 0 ? 1 + varintSize(valuesBytes) + valuesBytes : 0;
  const length = keptBytes + valuesField;
  out.ensure(1 + 10 + length);
  out.buf[out.pos++] = 0x12; // Profile.sample
  out.varint(length);
  if (keptBytes > 0) {
    sampleReader.pos = start;
    while (sampleReader.pos < end) {
      const fieldStart = sampleReader.pos;
      const tag = sampleReader.tag('Sample field');
      sampleReader.skip(tag & 7, tag >>> 3);
      if (tag !== 18 && tag !== 16) out.bytes(buf, fieldStart, sampleReader.pos);
    }
  }
  if (nTypes > 0) {
    out.buf[out.pos++] = 0x12; // Sample.value, packed
    out.varint(valuesBytes);
    for (let i = 0; i < nTypes; i++) out.varint(values[at + i]!);
  }
}

/**
 * The baseline of a cumulative profile (raw, decompressed protobuf) for the next
 * `deltaProfiles`: the first round of a target. Throws `PprofDecodeError` when a listed type
 * is missing or not cumulative, or the profile is malformed.
 */
export function deltaBaseline(raw: Uint8Array, deltaTypes: string[]): DeltaBaseline {
  checkTypes(deltaTypes);
  summarizePprof(raw); // validates, with errors that say where
  return group(scanLayout(raw), deltaTypes, 'previous').baseline;
}

function checkTypes(deltaTypes: string[]): void {
  for (const type of deltaTypes) {
    if (!DELTA_VALUE_TYPES.includes(type))
      throw new PprofDecodeError(`delta: "${type}" is not a cumulative type that may be delta'd (accepted: ${DELTA_VALUE_TYPES.join(', ')})`);
  }
}

function withBaseline<T extends object>(result: T, baseline: DeltaBaseline): T & { baseline: DeltaBaseline } {
  return Object.defineProperty(result, 'baseline', { value: baseline, enumerable: false, writable: false }) as T & { baseline: DeltaBaseline };
}

/**
 * cur − prev for `deltaTypes`. `prev` is the previous raw (decompressed) protobuf or, better,
 * the `baseline` of the previous result (or `deltaBaseline(prevRaw)`), so it is never decoded
 * again; `cur` is the current raw protobuf or its `summarizePprof` summary. Returns `reset`
 * when the target restarted: cur's TimeNanos before prev's, a listed type's total smaller
 * than before, or more than half of a listed type's previous total on stacks that vanished.
 * Samples only present in prev are otherwise dropped. Both results carry cur's `baseline`.
 * Throws `PprofDecodeError` when a listed type is missing or a profile is malformed.
 */
export function deltaProfiles(prev: Uint8Array | DeltaBaseline, cur: Uint8Array | ProfileSummary, deltaTypes: string[]): DeltaResult {
  checkTypes(deltaTypes);
  let before: DeltaBaseline;
  if (prev instanceof Uint8Array) before = deltaBaseline(prev, deltaTypes);
  else {
    before = prev;
    if (before.deltaTypes.length !== deltaTypes.length || before.deltaTypes.some((t, j) => t !== deltaTypes[j])) {
      throw new PprofDecodeError(`delta: the previous baseline is of [${before.deltaTypes.join(', ')}], not of [${deltaTypes.join(', ')}]`);
    }
  }
  // A summary means the bytes were validated already; raw bytes are validated here.
  const raw = cur instanceof Uint8Array ? summarizePprof(cur).pprof : cur.pprof;
  const now = group(scanLayout(raw), deltaTypes, 'current');
  const after = now.baseline;
  const { layout, nTypes, values, typeIndex } = now;
  const k = deltaTypes.length;
  const prevTime = before.timeNanos;
  const curTime = after.timeNanos;
  if (curTime < prevTime) return withBaseline({ kind: 'reset', reason: `the profile's time went backwards (${curTime} < ${prevTime})` }, after) as DeltaResult;

  for (let j = 0; j < k; j++) {
    if (after.totals[j]! < before.totals[j]!) {
      return withBaseline(
        { kind: 'reset', reason: `the ${deltaTypes[j]} total went down from ${before.totals[j]} to ${after.totals[j]} (target restarted?)` },
        after,
      ) as DeltaResult;
    }
  }
  // Match prev's stacks to cur's groups; what is left over vanished.
  const nGroups = now.first.length;
  const prevOfGroup = new Int32Array(nGroups).fill(-1);
  const vanished = deltaTypes.map(() => 0);
  for (let p = 0; p < before.stackCount; p++) {
    const g = now.groups.get(before.hashes[p]!);
    if (g === undefined) for (let j = 0; j < k; j++) vanished[j]! += before.sums[p * k + j]!;
    else prevOfGroup[g] = p;
  }
  for (let j = 0; j < k; j++) {
    if (before.totals[j]! > 0 && vanished[j]! > before.totals[j]! * VANISHED_SHARE) {
      return withBaseline(
        {
          kind: 'reset',
          reason: `${Math.round((vanished[j]! / before.totals[j]!) * 100)}% of the previous ${deltaTypes[j]} total is on stacks the current profile no longer has (target restarted?)`,
        },
        after,
      ) as DeltaResult;
    }
  }

  // cur's samples merged per stack (the first occurrence keeps its location ids and labels), minus prev.
  const out = new Writer(raw.length + 64);
  const { buf, keep } = layout;
  const sampleReader = new Reader(buf);
  const writeSamples = () => {
    for (let g = 0; g < nGroups; g++) {
      const p = prevOfGroup[g]!;
      if (p >= 0) for (let j = 0; j < k; j++) values[g * nTypes + typeIndex[j]!]! -= before.sums[p * k + j]!;
      let nonZero = false;
      for (let i = 0; i < nTypes; i++) if (values[g * nTypes + i] !== 0) nonZero = true;
      if (nonZero) writeSample(out, layout, sampleReader, now.first[g]!, values, g * nTypes, nTypes);
    }
  };
  for (let i = 0; i < keep.length; i += 2) {
    if (i === layout.samplesAt) writeSamples();
    out.bytes(buf, keep[i]!, keep[i + 1]!);
  }
  if (layout.samplesAt >= keep.length) writeSamples();
  out.ensure(24);
  out.buf[out.pos++] = 9 << 3; // time_nanos
  out.varint64(curTime);
  out.buf[out.pos++] = 10 << 3; // duration_nanos
  out.varint64(curTime - prevTime);
  const pprof = out.buf.subarray(0, out.pos);
  return withBaseline({ kind: 'delta', pprof, decoded: summarizePprof(pprof) }, after) as DeltaResult;
}
