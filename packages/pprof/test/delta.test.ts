import { Function as PFunction, Label, Line, Location, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import { describe, expect, it } from 'vitest';
import { DELTA_VALUE_TYPES, PprofDecodeError, deltaBaseline, deltaProfiles, summarizePprof } from '../src/index.js';
import { rawGoPprof } from './helpers.js';

/** Independent of delta.ts: per stack (address@function|file:line of every frame, sorted labels), the summed values, via pprof-format. */
function stacks(raw: Uint8Array): Map<string, number[]> {
  const p = Profile.decode(raw);
  const str = (i: unknown) => p.stringTable.strings[Number(i)]!;
  const fns = new Map(p.function.map((f) => [Number(f.id), `${str(f.name)}|${str(f.filename)}`]));
  const locs = new Map(
    p.location.map((l) => [
      Number(l.id),
      `${Number(l.address).toString(16)}@${l.line.map((x) => `${fns.get(Number(x.functionId))}:${Number(x.line)}`).join(',')}`,
    ]),
  );
  const out = new Map<string, number[]>();
  for (const sample of p.sample) {
    const labels = sample.label.map((l) => `${str(l.key)}=${Number(l.str) ? str(l.str) : `${Number(l.num)}${Number(l.numUnit) ? str(l.numUnit) : ''}`}`).sort();
    const key = `${sample.locationId.map((id) => locs.get(Number(id))).join(';')}#${labels.join(',')}`;
    const values = sample.value.map(Number);
    const sum = out.get(key);
    out.set(key, sum ? sum.map((v, i) => v + values[i]!) : values);
  }
  return out;
}

/** What a delta must contain, computed from the two profiles' stacks: cur − prev on the listed types, all-zero stacks dropped. */
function expectedDelta(prev: Uint8Array, cur: Uint8Array, deltaTypes: string[]): Map<string, number[]> {
  const p = Profile.decode(cur);
  const idx = p.sampleType.map((t, i) => (deltaTypes.includes(p.stringTable.strings[Number(t.type)]!) ? i : -1)).filter((i) => i >= 0);
  const before = stacks(prev);
  const out = new Map<string, number[]>();
  for (const [key, values] of stacks(cur)) {
    const old = before.get(key);
    const delta = values.map((v, i) => (old && idx.includes(i) ? v - old[i]! : v));
    if (delta.some((v) => v !== 0)) out.set(key, delta);
  }
  return out;
}

/** A real Go profile later in the life of the process: listed types × factor, TimeNanos + seconds, samples in reverse order. */
function later(raw: Uint8Array, types: string[], factor: number, seconds: bigint): Uint8Array {
  const p = Profile.decode(raw);
  const grow = p.sampleType.map((t) => types.includes(p.stringTable.strings[Number(t.type)]!));
  p.sample = p.sample.reverse().map(
    (sm, n) =>
      new Sample({
        locationId: sm.locationId,
        label: [...sm.label].reverse(),
        value: sm.value.map((v, i) => (grow[i] ? Number(v) * factor + (n % 3) : Number(v))),
      }),
  );
  p.timeNanos = BigInt(p.timeNanos) + seconds * 1_000_000_000n;
  return p.encode();
}

interface FakeSample {
  stack: string[];
  values: number[];
  bytes?: number;
}

/**
 * A profile as Go writes it, with ids assigned in a different order each time (as two
 * scrapes of a real process do), so deltas must match stacks by content, not by id.
 */
function makeProfile(types: [string, string][], samples: FakeSample[], timeNanos: bigint, options: { shuffleIds?: boolean } = {}): Uint8Array {
  const strings = new StringTable();
  const functions = new Map<string, PFunction>();
  const locations = new Map<string, Location>();
  const names = [...new Set(samples.flatMap((s) => s.stack))];
  if (options.shuffleIds) names.reverse();
  for (const name of names) {
    const id = functions.size + 1;
    functions.set(name, new PFunction({ id, name: strings.dedup(name), filename: strings.dedup('main.go') }));
    locations.set(
      name,
      new Location({ id: id + 100, address: 0x1000 + name.length * 16 + name.charCodeAt(0), line: [new Line({ functionId: id, line: 10 })] }),
    );
  }
  return new Profile({
    sampleType: types.map(([t, u]) => new ValueType({ type: strings.dedup(t), unit: strings.dedup(u) })),
    sample: samples.map(
      (s) =>
        new Sample({
          locationId: s.stack.map((n) => locations.get(n)!.id),
          value: s.values,
          label: s.bytes === undefined ? [] : [new Label({ key: strings.dedup('bytes'), num: s.bytes })],
        }),
    ),
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
    timeNanos,
    periodType: new ValueType({ type: strings.dedup('space'), unit: strings.dedup('bytes') }),
    period: 524288,
  }).encode();
}

const HEAP: [string, string][] = [
  ['alloc_objects', 'count'],
  ['alloc_space', 'bytes'],
  ['inuse_objects', 'count'],
  ['inuse_space', 'bytes'],
];
const MUTEX: [string, string][] = [
  ['contentions', 'count'],
  ['delay', 'nanoseconds'],
];
const T0 = 1_700_000_000_000_000_000n;
const S = 1_000_000_000n;

function samplesOf(raw: Uint8Array): Record<string, number[]> {
  const p = Profile.decode(raw);
  const strings = p.stringTable.strings;
  const fnName = new Map(p.function.map((f) => [Number(f.id), strings[Number(f.name)]!]));
  const locName = new Map(p.location.map((l) => [Number(l.id), fnName.get(Number(l.line[0]!.functionId))!]));
  const out: Record<string, number[]> = {};
  for (const s of p.sample) {
    const bytes = s.label.find((l) => strings[Number(l.key)] === 'bytes');
    out[s.locationId.map((id) => locName.get(Number(id))).join('<') + (bytes ? `#${bytes.num}` : '')] = s.value.map(Number);
  }
  return out;
}

describe('deltaProfiles', () => {
  it("heap: alloc_* become cur - prev, inuse_* are kept from cur (never delta'd, golang/go#67942)", () => {
    const prev = makeProfile(
      HEAP,
      [
        { stack: ['main.alloc', 'main.main'], values: [100, 102_400, 10, 10_240], bytes: 1024 },
        { stack: ['main.other', 'main.main'], values: [5, 500, 5, 500], bytes: 100 },
      ],
      T0,
    );
    const cur = makeProfile(
      HEAP,
      [
        { stack: ['main.alloc', 'main.main'], values: [150, 153_600, 12, 12_288], bytes: 1024 },
        { stack: ['main.other', 'main.main'], values: [5, 500, 5, 500], bytes: 100 },
        { stack: ['main.new', 'main.main'], values: [7, 700, 0, 0], bytes: 100 },
      ],
      T0 + 10n * S,
      { shuffleIds: true },
    );
    const result = deltaProfiles(prev, cur, ['alloc_objects', 'alloc_space']);
    expect(result.kind).toBe('delta');
    if (result.kind !== 'delta') return;
    expect(samplesOf(result.pprof)).toEqual({
      'main.alloc<main.main#1024': [50, 51_200, 12, 12_288],
      'main.other<main.main#100': [0, 0, 5, 500], // alloc delta 0 but inuse not zero: kept
      'main.new<main.main#100': [7, 700, 0, 0], // a new stack counts in full
    });
    const summary = summarizePprof(result.pprof);
    expect(summary.totals).toEqual([57, 51_900, 17, 12_788]);
    expect(summary.timeNanos).toBe(T0 + 10n * S);
    expect(summary.durationNanos).toBe(10n * S);
    expect(summary.period).toBe(524288);
  });

  it('drops samples whose values are all zero after the delta', () => {
    const prev = makeProfile(
      MUTEX,
      [
        { stack: ['sync.(*Mutex).Unlock', 'main.worker'], values: [10, 5000] },
        { stack: ['main.quiet'], values: [1, 10] },
      ],
      T0,
    );
    const cur = makeProfile(
      MUTEX,
      [
        { stack: ['sync.(*Mutex).Unlock', 'main.worker'], values: [25, 9000] },
        { stack: ['main.quiet'], values: [1, 10] },
      ],
      T0 + 10n * S,
    );
    const result = deltaProfiles(prev, cur, ['contentions', 'delay']);
    if (result.kind !== 'delta') throw new Error(result.reason);
    expect(samplesOf(result.pprof)).toEqual({ 'sync.(*Mutex).Unlock<main.worker': [15, 4000] });
  });

  it('a profile minus itself is empty, with a zero duration', () => {
    const raw = rawGoPprof('block');
    const result = deltaProfiles(raw, raw, ['contentions', 'delay']);
    if (result.kind !== 'delta') throw new Error(result.reason);
    const summary = summarizePprof(result.pprof);
    expect(summary.sampleCount).toBe(0);
    expect(summary.totals).toEqual([0, 0]);
    expect(summary.durationNanos).toBe(0n);
  });

  it('real Go heap then allocs (the same data 92 ms later): alloc_* delta is 0, inuse_* is the current snapshot', () => {
    const heap = rawGoPprof('heap');
    const allocs = rawGoPprof('allocs');
    const result = deltaProfiles(heap, allocs, ['alloc_objects', 'alloc_space']);
    if (result.kind !== 'delta') throw new Error(result.reason);
    const summary = summarizePprof(result.pprof);
    expect(summary.totals.slice(0, 2)).toEqual([0, 0]);
    expect(summary.totals[3]).toBe(5_603_986);
    expect(summary.durationNanos).toBe(summarizePprof(allocs).timeNanos - summarizePprof(heap).timeNanos);
    expect(summary.durationNanos).toBe(91_646_565n);
  });

  it('keeps the sums consistent: delta total = cur total - prev total when no stack vanished', () => {
    const prev = makeProfile(
      MUTEX,
      [
        { stack: ['a'], values: [1, 100] },
        { stack: ['b'], values: [2, 200] },
      ],
      T0,
    );
    const cur = makeProfile(
      MUTEX,
      [
        { stack: ['a'], values: [4, 400] },
        { stack: ['b'], values: [2, 250] },
        { stack: ['c'], values: [1, 1] },
      ],
      T0 + S,
    );
    const result = deltaProfiles(prev, cur, ['contentions', 'delay']);
    if (result.kind !== 'delta') throw new Error(result.reason);
    expect(summarizePprof(result.pprof).totals).toEqual([7 - 3, 651 - 300]);
  });

  it('merges duplicate samples of the same stack before subtracting', () => {
    const prev = makeProfile(MUTEX, [{ stack: ['a'], values: [1, 100] }], T0);
    const cur = makeProfile(
      MUTEX,
      [
        { stack: ['a'], values: [2, 150] },
        { stack: ['a'], values: [1, 50] },
      ],
      T0 + S,
    );
    const result = deltaProfiles(prev, cur, ['contentions', 'delay']);
    if (result.kind !== 'delta') throw new Error(result.reason);
    expect(samplesOf(result.pprof)).toEqual({ a: [2, 100] });
  });

  describe('reset (a restarted target) instead of negative values', () => {
    it("when a delta'd total goes down", () => {
      const prev = makeProfile(HEAP, [{ stack: ['main.alloc'], values: [1000, 1_000_000, 10, 10_000] }], T0);
      const cur = makeProfile(HEAP, [{ stack: ['main.alloc'], values: [20, 20_000, 10, 10_000] }], T0 + 10n * S);
      const result = deltaProfiles(prev, cur, ['alloc_objects', 'alloc_space']);
      expect(result).toEqual({ kind: 'reset', reason: 'the alloc_objects total went down from 1000 to 20 (target restarted?)' });
    });

    it('when the profile time goes backwards', () => {
      const prev = makeProfile(MUTEX, [{ stack: ['a'], values: [1, 1] }], T0 + S);
      const cur = makeProfile(MUTEX, [{ stack: ['a'], values: [2, 2] }], T0);
      const result = deltaProfiles(prev, cur, ['contentions', 'delay']);
      expect(result.kind).toBe('reset');
      if (result.kind === 'reset') expect(result.reason).toMatch(/time went backwards/);
    });

    it('when most of the previous total is on stacks the new profile does not have', () => {
      const prev = makeProfile(MUTEX, [{ stack: ['old.worker'], values: [100, 10_000] }], T0);
      const cur = makeProfile(MUTEX, [{ stack: ['new.worker'], values: [200, 20_000] }], T0 + 10n * S);
      const result = deltaProfiles(prev, cur, ['contentions', 'delay']);
      expect(result).toEqual({
        kind: 'reset',
        reason: '100% of the previous contentions total is on stacks the current profile no longer has (target restarted?)',
      });
    });

    it('inuse_* going down is normal (frees) and is not a reset', () => {
      const prev = makeProfile(HEAP, [{ stack: ['main.alloc'], values: [100, 100_000, 90, 90_000] }], T0);
      const cur = makeProfile(HEAP, [{ stack: ['main.alloc'], values: [110, 110_000, 1, 1000] }], T0 + S);
      expect(deltaProfiles(prev, cur, ['alloc_objects', 'alloc_space']).kind).toBe('delta');
    });
  });

  it('throws a PprofDecodeError when a listed type is missing', () => {
    const mutex = rawGoPprof('mutex');
    expect(() => deltaProfiles(mutex, mutex, ['alloc_space'])).toThrow(PprofDecodeError);
    expect(() => deltaProfiles(mutex, mutex, ['alloc_space'])).toThrow(
      'delta: the previous profile has no "alloc_space" sample type (it has contentions, delay)',
    );
    const goroutine = rawGoPprof('goroutine');
    expect(() => deltaProfiles(mutex, goroutine, ['contentions'])).toThrow('delta: the current profile has no "contentions" sample type (it has goroutine)');
  });

  it('refuses to delta a snapshot type such as inuse_space', () => {
    const heap = rawGoPprof('heap');
    expect(() => deltaProfiles(heap, heap, ['inuse_space'])).toThrow(/"inuse_space" is not a cumulative type that may be delta'd/);
  });

  it('throws a PprofDecodeError on malformed input', () => {
    expect(() => deltaProfiles(new Uint8Array([0x10, 0x01]), rawGoPprof('mutex'), ['delay'])).toThrow(PprofDecodeError);
  });

  it.each([
    ['heap', ['alloc_objects', 'alloc_space']],
    ['allocs', ['alloc_objects', 'alloc_space']],
    ['mutex', ['contentions', 'delay']],
    ['block', ['contentions', 'delay']],
  ])('real Go %s profiles: every stack of the delta is cur − prev, as computed from the full decode of both', (name, types) => {
    const prev = later(rawGoPprof(name), types, 2, 10n);
    const cur = later(rawGoPprof(name), types, 5, 20n);
    const result = deltaProfiles(deltaBaseline(prev, types), summarizePprof(cur), types);
    if (result.kind !== 'delta') throw new Error(result.reason);
    expect(stacks(result.pprof)).toEqual(expectedDelta(prev, cur, types));
    expect(stacks(result.pprof).size).toBeGreaterThan(0);
  });

  it('copies everything but the samples and times from the current profile (mappings, locations, functions, strings, period, comments)', () => {
    const cur = later(rawGoPprof('heap'), ['alloc_space'], 3, 10n);
    const result = deltaProfiles(rawGoPprof('heap'), cur, ['alloc_objects', 'alloc_space']);
    if (result.kind !== 'delta') throw new Error(result.reason);
    const out = Profile.decode(result.pprof);
    const want = Profile.decode(cur);
    for (const field of ['sampleType', 'mapping', 'location', 'function', 'stringTable', 'periodType', 'period', 'comment', 'defaultSampleType'] as const) {
      expect(out[field], field).toEqual(want[field]);
    }
    expect(BigInt(out.timeNanos)).toBe(BigInt(want.timeNanos));
    expect(BigInt(out.durationNanos)).toBe(10n * S);
  });

  it('the order of labels in a sample does not make another stack', () => {
    const strings = new StringTable();
    const labels = [
      new Label({ key: strings.dedup('a'), str: strings.dedup('1') }),
      new Label({ key: strings.dedup('b'), num: 2, numUnit: strings.dedup('bytes') }),
    ];
    const profile = (values: number[], reversed: boolean, time: bigint) =>
      new Profile({
        sampleType: MUTEX.map(([t, u]) => new ValueType({ type: strings.dedup(t), unit: strings.dedup(u) })),
        sample: [new Sample({ locationId: [1], value: values, label: reversed ? [...labels].reverse() : labels })],
        location: [new Location({ id: 1, address: 0x10, line: [new Line({ functionId: 1, line: 3 })] })],
        function: [new PFunction({ id: 1, name: strings.dedup('main.f'), filename: strings.dedup('f.go') })],
        stringTable: strings,
        timeNanos: time,
      }).encode();
    const result = deltaProfiles(profile([1, 10], false, T0), profile([3, 40], true, T0 + S), ['contentions', 'delay']);
    if (result.kind !== 'delta') throw new Error(result.reason);
    expect([...stacks(result.pprof).values()]).toEqual([[2, 30]]);
  });

  it('knows which types are cumulative', () => {
    expect(DELTA_VALUE_TYPES).toEqual(['alloc_objects', 'alloc_space', 'contentions', 'delay']);
  });
});

describe('deltaProfiles from a baseline (the previous round is never decoded again)', () => {
  const ALLOC = ['alloc_objects', 'alloc_space'];
  /** Three cumulative scrapes: a stack grows, one appears, a duplicate sample, ids shuffled. */
  const rounds = [
    makeProfile(
      HEAP,
      [
        { stack: ['main.alloc', 'main.main'], values: [100, 102_400, 10, 10_240], bytes: 1024 },
        { stack: ['main.other'], values: [5, 500, 5, 500], bytes: 100 },
      ],
      T0,
    ),
    makeProfile(
      HEAP,
      [
        { stack: ['main.alloc', 'main.main'], values: [150, 153_600, 12, 12_288], bytes: 1024 },
        { stack: ['main.other'], values: [5, 500, 5, 500], bytes: 100 },
        { stack: ['main.new'], values: [7, 700, 0, 0], bytes: 100 },
      ],
      T0 + 10n * S,
      { shuffleIds: true },
    ),
    makeProfile(
      HEAP,
      [
        { stack: ['main.alloc', 'main.main'], values: [160, 163_840, 1, 1024], bytes: 1024 },
        { stack: ['main.new'], values: [9, 900, 0, 0], bytes: 100 },
        { stack: ['main.new'], values: [1, 100, 0, 0], bytes: 100 },
        { stack: ['main.other'], values: [6, 600, 0, 0], bytes: 100 },
      ],
      T0 + 20n * S,
    ),
  ];

  it('gives the same delta, byte for byte, as the raw previous profile; each result carries the next baseline', () => {
    let baseline = deltaBaseline(rounds[0]!, ALLOC);
    expect(baseline.timeNanos).toBe(T0);
    expect(baseline.totals).toEqual([105, 102_900]);
    expect(baseline.stackCount).toBe(2);
    for (let i = 1; i < rounds.length; i++) {
      const fromRaw = deltaProfiles(rounds[i - 1]!, rounds[i]!, ALLOC);
      const fromBaseline = deltaProfiles(baseline, summarizePprof(rounds[i]!), ALLOC);
      if (fromRaw.kind !== 'delta' || fromBaseline.kind !== 'delta') throw new Error('expected deltas');
      expect(Buffer.from(fromBaseline.pprof).equals(Buffer.from(fromRaw.pprof))).toBe(true);
      expect(fromBaseline.baseline).toEqual(deltaBaseline(rounds[i]!, ALLOC));
      baseline = fromBaseline.baseline;
    }
    expect(baseline.timeNanos).toBe(T0 + 20n * S);
  });

  it('result.decoded is the summary of the delta profile (no need to summarize it again)', () => {
    const result = deltaProfiles(deltaBaseline(rounds[0]!, ALLOC), rounds[1]!, ALLOC);
    if (result.kind !== 'delta') throw new Error(result.reason);
    expect(result.decoded).toEqual(summarizePprof(result.pprof));
    expect(result.decoded.totals).toEqual([57, 51_900, 17, 12_788]);
    expect(result.decoded.durationNanos).toBe(10n * S);
  });

  it('a real Go heap profile: delta against itself from a baseline is empty, and the baseline is smaller than the profile', () => {
    const heap = rawGoPprof('heap');
    const baseline = deltaBaseline(heap, ALLOC);
    expect(baseline.hashes.byteLength + baseline.sums.byteLength).toBeLessThan(heap.length / 2);
    const result = deltaProfiles(baseline, heap, ALLOC);
    if (result.kind !== 'delta') throw new Error(result.reason);
    expect(result.decoded.totals.slice(0, 2)).toEqual([0, 0]);
    expect(Buffer.from(result.pprof).equals(Buffer.from((deltaProfiles(heap, heap, ALLOC) as { pprof: Uint8Array }).pprof))).toBe(true);
  });

  it('a reset also carries the baseline to start over from (not enumerable: the result still compares by kind and reason)', () => {
    const prev = makeProfile(MUTEX, [{ stack: ['old.worker'], values: [100, 10_000] }], T0);
    const cur = makeProfile(MUTEX, [{ stack: ['new.worker'], values: [200, 20_000] }], T0 + 10n * S);
    const result = deltaProfiles(deltaBaseline(prev, ['contentions', 'delay']), cur, ['contentions', 'delay']);
    expect(result).toEqual({
      kind: 'reset',
      reason: '100% of the previous contentions total is on stacks the current profile no longer has (target restarted?)',
    });
    expect(result.baseline).toEqual(deltaBaseline(cur, ['contentions', 'delay']));
    const backwards = deltaProfiles(deltaBaseline(cur, ['contentions', 'delay']), prev, ['contentions', 'delay']);
    expect(backwards.kind).toBe('reset');
    expect(backwards.baseline.timeNanos).toBe(T0);
  });

  it('refuses a baseline of other types, a missing type and malformed input, with PprofDecodeError', () => {
    const heap = rawGoPprof('heap');
    expect(() => deltaProfiles(deltaBaseline(heap, ['alloc_space']), heap, ALLOC)).toThrow(
      'delta: the previous baseline is of [alloc_space], not of [alloc_objects, alloc_space]',
    );
    expect(() => deltaBaseline(rawGoPprof('mutex'), ['alloc_space'])).toThrow(PprofDecodeError);
    expect(() => deltaBaseline(heap, ['inuse_space'])).toThrow(/"inuse_space" is not a cumulative type/);
    expect(() => deltaBaseline(new Uint8Array([0x10, 0x01]), ['delay'])).toThrow(PprofDecodeError);
    expect(() => deltaProfiles(deltaBaseline(rawGoPprof('mutex'), ['delay']), rawGoPprof('goroutine'), ['delay'])).toThrow(
      'delta: the current profile has no "delay" sample type (it has goroutine)',
    );
  });
});
