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
 */
import type { DecodedProfile } from '@profcol/core';
import { Profile, Sample, type Location } from 'pprof-format';
import { decodePprof, stringAt } from './decode.js';
import { PprofDecodeError } from './errors.js';
import { summarizePprof } from './summary.js';

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
  | { kind: 'delta'; pprof: Uint8Array; decoded: DecodedProfile; baseline: DeltaBaseline }
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

/** Two independent 32-bit hashes of a string (FNV-1a and a murmur-style multiply/shift). */
function hashString(s: string, into: Uint32Array, at: number): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  into[at] = fmix32(a);
  into[at + 1] = fmix32(b);
}

const TWO_21 = 2 ** 21;

/**
 * Per location id: its key text (address@function|file:line,...) hashed to two 32-bit words.
 * Location ids index `words` through `index`.
 */
function locationHashes(profile: Profile): { index: Map<number, number>; words: Uint32Array } {
  const functions = new Map<string, string>();
  for (const fn of profile.function) {
    functions.set(String(fn.id), `${stringAt(profile, fn.name, `function ${fn.id} name`)}|${stringAt(profile, fn.filename, `function ${fn.id} filename`)}`);
  }
  const locations = profile.location as Location[];
  const index = new Map<number, number>();
  const words = new Uint32Array(locations.length * 2);
  locations.forEach((loc, n) => {
    const lines = loc.line.map((line) => {
      const fn = functions.get(String(line.functionId));
      if (fn === undefined) throw new PprofDecodeError(`pprof malformed: location ${loc.id} refers to function ${line.functionId}, which the profile does not define`);
      return `${fn}:${line.line}`;
    });
    hashString(`${Number(loc.address).toString(16)}@${lines.join(',')}`, words, n * 2);
    index.set(Number(loc.id), n);
  });
  return { index, words };
}

const labelWords = new Uint32Array(2);

/** The 53-bit hash of a sample's stack (its locations' keys in order) and its sorted labels. */
function sampleHash(profile: Profile, sample: Sample, locs: { index: Map<number, number>; words: Uint32Array }): number {
  let a = 0x3c6ef372 ^ sample.locationId.length;
  let b = 0xa54ff53a ^ sample.locationId.length;
  for (const id of sample.locationId) {
    const n = locs.index.get(Number(id));
    if (n === undefined) throw new PprofDecodeError(`pprof malformed: a sample refers to location ${id}, which the profile does not define`);
    const w0 = locs.words[n * 2]!;
    const w1 = locs.words[n * 2 + 1]!;
    a = mix(mix(a, w0), w1);
    b = mix(mix(b, w1), w0);
  }
  if (sample.label.length > 0) {
    const labels = sample.label
      .map((l) => `${stringAt(profile, l.key, 'label key')}=${Number(l.str) ? stringAt(profile, l.str, 'label value') : `${Number(l.num)}${Number(l.numUnit) ? stringAt(profile, l.numUnit, 'label unit') : ''}`}`)
      .sort();
    hashString(labels.join(','), labelWords, 0);
    a = mix(mix(a, labelWords[0]!), labelWords[1]!);
    b = mix(mix(b, labelWords[1]!), labelWords[0]!);
  }
  return fmix32(a ^ 0x5bd1e995) * TWO_21 + (fmix32(b ^ 0x1b873593) >>> 11);
}

function checkTypes(deltaTypes: string[]): void {
  for (const type of deltaTypes) {
    if (!DELTA_VALUE_TYPES.includes(type)) throw new PprofDecodeError(`delta: "${type}" is not a cumulative type that may be delta'd (accepted: ${DELTA_VALUE_TYPES.join(', ')})`);
  }
}

function typeIndexes(profile: Profile, types: string[], which: string): number[] {
  const names = profile.sampleType.map((t) => stringAt(profile, t.type, 'sample_type.type'));
  return types.map((type) => {
    const i = names.indexOf(type);
    if (i < 0) throw new PprofDecodeError(`delta: the ${which} profile has no "${type}" sample type (it has ${names.join(', ') || 'none'})`);
    return i;
  });
}

/** Samples grouped by stack hash, in first-occurrence order, with the listed types' sums. */
interface Grouped {
  /** hash → group number. */
  groups: Map<number, number>;
  /** Per group, the first sample's index. */
  first: number[];
  /** Per sample, its group. */
  groupOf: Int32Array;
  baseline: DeltaBaseline;
}

function group(profile: Profile, deltaTypes: string[], which: string): Grouped {
  const idx = typeIndexes(profile, deltaTypes, which);
  const k = idx.length;
  const locs = locationHashes(profile);
  const groups = new Map<number, number>();
  const first: number[] = [];
  const samples = profile.sample;
  const groupOf = new Int32Array(samples.length);
  const hashes: number[] = [];
  let sums = new Float64Array(Math.max(1, samples.length) * k);
  const totals = deltaTypes.map(() => 0);
  samples.forEach((sample, s) => {
    const h = sampleHash(profile, sample, locs);
    let g = groups.get(h);
    if (g === undefined) {
      g = first.length;
      groups.set(h, g);
      first.push(s);
      hashes.push(h);
    }
    groupOf[s] = g;
    for (let j = 0; j < k; j++) {
      const v = Number(sample.value[idx[j]!] ?? 0);
      totals[j]! += v;
      sums[g * k + j]! += v;
    }
  });
  if (sums.length > first.length * k) sums = sums.slice(0, first.length * k);
  const baseline: DeltaBaseline = { timeNanos: BigInt(profile.timeNanos), deltaTypes: [...deltaTypes], totals, stackCount: first.length, hashes: Float64Array.from(hashes), sums };
  return { groups, first, groupOf, baseline };
}

function decodeCurrent(cur: Uint8Array | DecodedProfile): { summary: DecodedProfile; profile: Profile } {
  if (cur instanceof Uint8Array) {
    const summary = summarizePprof(cur);
    return { summary, profile: decodeValidated(cur) };
  }
  return { summary: cur, profile: decodeValidated(cur.pprof) };
}

/** Profile.decode of bytes the streaming summary already validated. */
function decodeValidated(raw: Uint8Array): Profile {
  try {
    return Profile.decode(raw);
  } catch (error) {
    throw new PprofDecodeError(`pprof could not be decoded: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The baseline of a cumulative profile (raw, decompressed protobuf) for the next
 * `deltaProfiles`: the first round of a target. Throws `PprofDecodeError` when a listed type
 * is missing or not cumulative, or the profile is malformed.
 */
export function deltaBaseline(raw: Uint8Array, deltaTypes: string[]): DeltaBaseline {
  checkTypes(deltaTypes);
  return group(decodePprof(raw), deltaTypes, 'previous').baseline;
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
export function deltaProfiles(prev: Uint8Array | DeltaBaseline, cur: Uint8Array | DecodedProfile, deltaTypes: string[]): DeltaResult {
  checkTypes(deltaTypes);
  let before: DeltaBaseline;
  if (prev instanceof Uint8Array) before = group(decodePprof(prev), deltaTypes, 'previous').baseline;
  else {
    before = prev;
    if (before.deltaTypes.length !== deltaTypes.length || before.deltaTypes.some((t, j) => t !== deltaTypes[j])) {
      throw new PprofDecodeError(`delta: the previous baseline is of [${before.deltaTypes.join(', ')}], not of [${deltaTypes.join(', ')}]`);
    }
  }
  const { summary, profile } = decodeCurrent(cur);
  const curIdx = typeIndexes(profile, deltaTypes, 'current');
  const now = group(profile, deltaTypes, 'current');
  const after = now.baseline;
  const k = deltaTypes.length;
  const prevTime = before.timeNanos;
  const curTime = after.timeNanos;
  if (curTime < prevTime) return withBaseline({ kind: 'reset', reason: `the profile's time went backwards (${curTime} < ${prevTime})` }, after) as DeltaResult;

  for (let j = 0; j < k; j++) {
    if (after.totals[j]! < before.totals[j]!) {
      return withBaseline({ kind: 'reset', reason: `the ${deltaTypes[j]} total went down from ${before.totals[j]} to ${after.totals[j]} (target restarted?)` }, after) as DeltaResult;
    }
  }
  // Match prev's stacks to cur's groups; what is left over vanished.
  const prevOfGroup = new Int32Array(now.first.length).fill(-1);
  const vanished = deltaTypes.map(() => 0);
  for (let p = 0; p < before.stackCount; p++) {
    const g = now.groups.get(before.hashes[p]!);
    if (g === undefined) for (let j = 0; j < k; j++) vanished[j]! += before.sums[p * k + j]!;
    else prevOfGroup[g] = p;
  }
  for (let j = 0; j < k; j++) {
    if (before.totals[j]! > 0 && vanished[j]! > before.totals[j]! * VANISHED_SHARE) {
      return withBaseline({ kind: 'reset', reason: `${Math.round((vanished[j]! / before.totals[j]!) * 100)}% of the previous ${deltaTypes[j]} total is on stacks the current profile no longer has (target restarted?)` }, after) as DeltaResult;
    }
  }

  // cur's samples merged per stack (first occurrence keeps its ids and labels), minus prev.
  const samples = profile.sample;
  const merged: (number[] | undefined)[] = new Array<number[] | undefined>(now.first.length);
  samples.forEach((sample, s) => {
    const g = now.groupOf[s]!;
    const values = sample.value.map(Number);
    const existing = merged[g];
    if (existing) for (let i = 0; i < existing.length; i++) existing[i] = existing[i]! + (values[i] ?? 0);
    else merged[g] = values;
  });
  const nTypes = summary.sampleTypes.length;
  const totals = new Float64Array(nTypes);
  const out: Sample[] = [];
  for (let g = 0; g < now.first.length; g++) {
    const values = merged[g]!;
    const p = prevOfGroup[g]!;
    if (p >= 0) for (let j = 0; j < k; j++) values[curIdx[j]!] = values[curIdx[j]!]! - before.sums[p * k + j]!;
    if (!values.some((v) => v !== 0)) continue;
    const sample = samples[now.first[g]!]!;
    out.push(new Sample({ locationId: sample.locationId, label: sample.label, value: values }));
    for (let i = 0; i < nTypes; i++) totals[i]! += values[i] ?? 0;
  }
  profile.sample = out;
  profile.durationNanos = curTime - prevTime;
  profile.timeNanos = curTime;
  const pprof = profile.encode();
  const decoded: DecodedProfile = {
    pprof,
    sampleTypes: summary.sampleTypes,
    totals: Array.from(totals),
    sampleCount: out.length,
    timeNanos: curTime,
    durationNanos: curTime - prevTime,
    periodType: summary.periodType,
    period: summary.period,
  };
  return withBaseline({ kind: 'delta', pprof, decoded }, after) as DeltaResult;
}
