/**
 * Deltas of two cumulative profiles of the same process (heap/allocs `alloc_*`, mutex and
 * block `contentions`/`delay`), as DataKit, Alloy and dd-trace-go compute them: the listed
 * types become cur − prev, the others are kept from cur, all-zero samples are dropped,
 * TimeNanos = cur and DurationNanos = cur − prev. A restarted target is detected and
 * reported as a reset so the caller can take cur as a new baseline.
 */
import { Profile, Sample, type Location } from 'pprof-format';
import { decodePprof, stringAt } from './decode.js';
import { PprofDecodeError } from './errors.js';

export type DeltaResult =
  /** `pprof` is the raw (uncompressed) protobuf of the delta profile. */
  | { kind: 'delta'; pprof: Uint8Array }
  /** The counters went backwards (a restarted target): take cur as the new baseline. */
  | { kind: 'reset'; reason: string };

/** The value types that are cumulative and may be delta'd; `inuse_*` never is (golang/go#67942). */
export const DELTA_VALUE_TYPES: readonly string[] = ['alloc_objects', 'alloc_space', 'contentions', 'delay'];

/** Part of a reset decision: more than this share of a type's previous total vanished with its stacks. */
const VANISHED_SHARE = 0.5;

function locationKeys(profile: Profile): Map<string, string> {
  const functions = new Map<string, string>();
  for (const fn of profile.function) {
    functions.set(String(fn.id), `${stringAt(profile, fn.name, `function ${fn.id} name`)}|${stringAt(profile, fn.filename, `function ${fn.id} filename`)}`);
  }
  const keys = new Map<string, string>();
  for (const loc of profile.location as Location[]) {
    const lines = loc.line.map((line) => {
      const fn = functions.get(String(line.functionId));
      if (fn === undefined) throw new PprofDecodeError(`pprof malformed: location ${loc.id} refers to function ${line.functionId}, which the profile does not define`);
      return `${fn}:${line.line}`;
    });
    keys.set(String(loc.id), `${Number(loc.address).toString(16)}@${lines.join(',')}`);
  }
  return keys;
}

function sampleKey(profile: Profile, sample: Sample, locations: Map<string, string>): string {
  const stack = sample.locationId.map((id) => {
    const key = locations.get(String(id));
    if (key === undefined) throw new PprofDecodeError(`pprof malformed: a sample refers to location ${id}, which the profile does not define`);
    return key;
  });
  const labels = sample.label
    .map((l) => `${stringAt(profile, l.key, 'label key')}=${Number(l.str) ? stringAt(profile, l.str, 'label value') : `${Number(l.num)}${Number(l.numUnit) ? stringAt(profile, l.numUnit, 'label unit') : ''}`}`)
    .sort();
  return `${stack.join(';')}#${labels.join(',')}`;
}

function typeIndexes(profile: Profile, types: string[], which: string): number[] {
  const names = profile.sampleType.map((t) => stringAt(profile, t.type, 'sample_type.type'));
  return types.map((type) => {
    const i = names.indexOf(type);
    if (i < 0) throw new PprofDecodeError(`delta: the ${which} profile has no "${type}" sample type (it has ${names.join(', ') || 'none'})`);
    return i;
  });
}

/**
 * cur − prev for `deltaTypes` (raw, decompressed protobufs). Returns `reset` when the
 * target restarted: cur's TimeNanos before prev's, a listed type's total smaller than
 * before, or more than half of a listed type's previous total on stacks that vanished.
 * Samples only present in prev are otherwise dropped. Throws `PprofDecodeError` when a
 * listed type is missing or a profile is malformed.
 */
export function deltaProfiles(prevRaw: Uint8Array, curRaw: Uint8Array, deltaTypes: string[]): DeltaResult {
  for (const type of deltaTypes) {
    if (!DELTA_VALUE_TYPES.includes(type)) throw new PprofDecodeError(`delta: "${type}" is not a cumulative type that may be delta'd (accepted: ${DELTA_VALUE_TYPES.join(', ')})`);
  }
  const prev = decodePprof(prevRaw);
  const cur = decodePprof(curRaw);
  const prevIdx = typeIndexes(prev, deltaTypes, 'previous');
  const curIdx = typeIndexes(cur, deltaTypes, 'current');
  const prevTime = BigInt(prev.timeNanos);
  const curTime = BigInt(cur.timeNanos);
  if (curTime < prevTime) return { kind: 'reset', reason: `the profile's time went backwards (${curTime} < ${prevTime})` };

  // prev: key -> summed values of the delta'd types.
  const prevLocs = locationKeys(prev);
  const prevByKey = new Map<string, number[]>();
  const prevTotals = deltaTypes.map(() => 0);
  for (const sample of prev.sample) {
    const key = sampleKey(prev, sample, prevLocs);
    const values = prevIdx.map((i) => Number(sample.value[i] ?? 0));
    values.forEach((v, j) => (prevTotals[j]! += v));
    const existing = prevByKey.get(key);
    if (existing) values.forEach((v, j) => (existing[j]! += v));
    else prevByKey.set(key, values);
  }

  // cur: merge samples with the same key, then subtract.
  const curLocs = locationKeys(cur);
  const merged = new Map<string, Sample>();
  const curTotals = deltaTypes.map(() => 0);
  for (const sample of cur.sample) {
    const key = sampleKey(cur, sample, curLocs);
    const values = sample.value.map(Number);
    curIdx.forEach((i, j) => (curTotals[j]! += values[i] ?? 0));
    const existing = merged.get(key);
    if (existing) existing.value = existing.value.map((v, i) => Number(v) + (values[i] ?? 0));
    else merged.set(key, new Sample({ locationId: sample.locationId, label: sample.label, value: values }));
  }

  for (let j = 0; j < deltaTypes.length; j++) {
    if (curTotals[j]! < prevTotals[j]!) {
      return { kind: 'reset', reason: `the ${deltaTypes[j]} total went down from ${prevTotals[j]} to ${curTotals[j]} (target restarted?)` };
    }
  }
  const vanished = deltaTypes.map(() => 0);
  for (const [key, values] of prevByKey) {
    if (!merged.has(key)) values.forEach((v, j) => (vanished[j]! += v));
  }
  for (let j = 0; j < deltaTypes.length; j++) {
    if (prevTotals[j]! > 0 && vanished[j]! > prevTotals[j]! * VANISHED_SHARE) {
      return { kind: 'reset', reason: `${Math.round((vanished[j]! / prevTotals[j]!) * 100)}% of the previous ${deltaTypes[j]} total is on stacks the current profile no longer has (target restarted?)` };
    }
  }

  const out: Sample[] = [];
  for (const [key, sample] of merged) {
    const before = prevByKey.get(key);
    if (before) {
      const values = sample.value.map(Number);
      curIdx.forEach((i, j) => (values[i] = values[i]! - before[j]!));
      sample.value = values;
    }
    if (sample.value.some((v) => Number(v) !== 0)) out.push(sample);
  }
  cur.sample = out;
  cur.durationNanos = curTime - prevTime;
  cur.timeNanos = curTime;
  return { kind: 'delta', pprof: cur.encode() };
}
