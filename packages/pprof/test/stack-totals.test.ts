import { Function as PFunction, Line, Location, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import { describe, expect, it } from 'vitest';
import { GC_STACK_FILTER, GO_GC_FRAMES, PprofDecodeError, decompressAndSummarize, summarizePprof, sumSamplesWhere, type StackFilter } from '../src/index.js';
import { bytes, fixture, lfield, localFixture, rawGoPprof, str, varint, vfield } from './helpers.js';

/** The same predicate as a StackFilter's patterns, written the obvious way. */
function matcherOf(patterns: readonly string[]): (name: string) => boolean {
  return (name) => patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** The reference: for each sample type, sumSamplesWhere with the filter's predicate. */
function expectedTotals(raw: Uint8Array, patterns: readonly string[]): number[] {
  const types = summarizePprof(raw).sampleTypes.length;
  return Array.from({ length: types }, (_, i) => sumSamplesWhere(raw, i, matcherOf(patterns)).matched);
}

const RAW_FIXTURES: [string, () => Uint8Array][] = [
  ...['cpu', 'delta-heap', 'delta-block', 'delta-mutex', 'goroutines'].map((n): [string, () => Uint8Array] => [
    `ddtrace-go/${n}.pprof`,
    () => fixture(`ddtrace-go/${n}.pprof`),
  ]),
  ...['profile', 'heap', 'allocs', 'goroutine', 'mutex', 'block', 'threadcreate'].map((n): [string, () => Uint8Array] => [
    `go-pprof/${n}.pprof`,
    () => rawGoPprof(n),
  ]),
];

/**
 * A CPU profile built with pprof-format: `stacks` are leaf-first lists of frames, a frame being
 * a function name or a list of names (one location whose lines are inlined calls, innermost first).
 */
function cpuProfile(stacks: { stack: (string | string[])[]; count: number }[], idBase = 1): Uint8Array {
  const st = new StringTable();
  const functions = new Map<string, PFunction>();
  const locations = new Map<string, Location>();
  const fn = (name: string) => {
    let f = functions.get(name);
    if (!f) functions.set(name, (f = new PFunction({ id: idBase + functions.size, name: st.dedup(name) })));
    return f;
  };
  const loc = (frame: string | string[]) => {
    const names = typeof frame === 'string' ? [frame] : frame;
    const key = names.join('|');
    let l = locations.get(key);
    if (!l) locations.set(key, (l = new Location({ id: idBase + locations.size, line: names.map((n) => new Line({ functionId: fn(n).id, line: 1 })) })));
    return l;
  };
  const samples = stacks.map(({ stack, count }) => new Sample({ locationId: stack.map((frame) => loc(frame).id), value: [count, count * 10_000_000] }));
  return new Profile({
    sampleType: [
      new ValueType({ type: st.dedup('samples'), unit: st.dedup('count') }),
      new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
    ],
    sample: samples,
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: st,
    periodType: new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
    period: 10_000_000,
  }).encode();
}

const GC_STACKS = [
  { stack: ['main.work', 'main.main', 'runtime.main'], count: 40 },
  // Inlined: runtime.greyobject is inlined into runtime.scanobject (one location, two lines).
  { stack: [['runtime.greyobject', 'runtime.scanobject'], 'runtime.gcDrain', 'runtime.gcBgMarkWorker'], count: 7 },
  { stack: [['main.inlinedHelper', 'main.work'], 'main.main'], count: 5 },
  { stack: ['runtime.mallocgc', 'runtime.gcAssistAlloc.func1', 'runtime.systemstack', 'main.work'], count: 3 },
  { stack: ['runtime.bgscavenge', 'runtime.goexit'], count: 2 },
];

describe('summarizePprof with stack filters: the GC-frame sums in the summary pass', () => {
  it('equals sumSamplesWhere with the same patterns, for every sample type, on every fixture', () => {
    for (const [name, load] of RAW_FIXTURES) {
      const raw = load();
      const summary = summarizePprof(raw, { stackFilters: [GC_STACK_FILTER] });
      expect(summary.stackTotals?.gc, name).toEqual(expectedTotals(raw, GO_GC_FRAMES));
      // A filter that matches plenty, so that the equality is not only of zeros.
      const runtime: StackFilter = { name: 'runtime', patterns: ['runtime.*'] };
      expect(summarizePprof(raw, { stackFilters: [runtime] }).stackTotals?.runtime, name).toEqual(expectedTotals(raw, runtime.patterns));
    }
  });

  it('equals an independent decode (pprof-format) on every fixture: Go runtime shapes (unpacked values and ids), labels, inlined lines', () => {
    for (const [name, load] of RAW_FIXTURES) {
      const raw = load();
      const p = Profile.decode(raw);
      const nameOf = (id: unknown) => String(p.stringTable.strings[Number(p.function.find((f) => Number(f.id) === Number(id))!.name)]);
      const isGc = matcherOf(['runtime.*']);
      const matching = new Set(p.location.filter((l) => l.line.some((line) => isGc(nameOf(line.functionId)))).map((l) => Number(l.id)));
      const expected = p.sampleType.map(() => 0);
      const totals = p.sampleType.map(() => 0);
      for (const sample of p.sample) {
        const hit = sample.locationId.some((id) => matching.has(Number(id)));
        sample.value.forEach((v, i) => {
          totals[i]! += Number(v);
          if (hit) expected[i]! += Number(v);
        });
      }
      const summary = summarizePprof(raw, { stackFilters: [{ name: 'runtime', patterns: ['runtime.*'] }] });
      expect(summary.stackTotals?.runtime, name).toEqual(expected);
      expect(summary.totals, name).toEqual(totals);
      expect(summary.sampleCount, name).toBe(p.sample.length);
    }
  });

  it('ddtrace-go cpu.pprof: 2 samples, 20,000,000 ns in GC frames (test/fixtures/README.md)', () => {
    expect(summarizePprof(fixture('ddtrace-go/cpu.pprof'), { stackFilters: [GC_STACK_FILTER] }).stackTotals).toEqual({ gc: [2, 20_000_000] });
  });

  it('decompressAndSummarize passes the filters on, from compressed bytes too (zstd without content size)', () => {
    expect(decompressAndSummarize(localFixture('cpu.pprof.stream.zst'), { stackFilters: [GC_STACK_FILTER] }).stackTotals).toEqual({ gc: [2, 20_000_000] });
    expect(decompressAndSummarize(fixture('go-pprof/profile.pprof'), { stackFilters: [GC_STACK_FILTER] }).stackTotals?.gc).toEqual(
      expectedTotals(rawGoPprof('profile'), GO_GC_FRAMES),
    );
  });

  it('matches inlined frames, counts a sample once, and leaves scavenging out (a synthetic profile)', () => {
    const raw = cpuProfile(GC_STACKS);
    const summary = summarizePprof(raw, { stackFilters: [GC_STACK_FILTER, { name: 'inlined', patterns: ['main.inlinedHelper'] }] });
    expect(summary.stackTotals).toEqual({ gc: [10, 100_000_000], inlined: [5, 50_000_000] });
    expect(summary.stackTotals!.gc).toEqual(expectedTotals(raw, GO_GC_FRAMES));
    expect(summary.totals).toEqual([57, 570_000_000]);
  });

  it('gives the same sums with sparse ids (a Map instead of an array) and with ids past 16,383', () => {
    const expected = { gc: [10, 100_000_000] };
    expect(summarizePprof(cpuProfile(GC_STACKS, 1_000_000_000), { stackFilters: [GC_STACK_FILTER] }).stackTotals).toEqual(expected);
    expect(summarizePprof(cpuProfile(GC_STACKS, 20_000), { stackFilters: [GC_STACK_FILTER] }).stackTotals).toEqual(expected);
    const many = Array.from({ length: 17_000 }, (_, i) => ({ stack: [`main.f${i}`, ...(i % 1000 === 0 ? ['runtime.gcBgMarkWorker'] : [])], count: 1 }));
    const raw = cpuProfile(many);
    expect(summarizePprof(raw, { stackFilters: [GC_STACK_FILTER] }).stackTotals).toEqual({ gc: [17, 170_000_000] });
    expect(summarizePprof(raw, { stackFilters: [GC_STACK_FILTER] }).stackTotals!.gc).toEqual(expectedTotals(raw, GO_GC_FRAMES));
  });

  it('reads unpacked location ids', () => {
    // sample_type cpu/nanoseconds; one sample at locations 1 and 2 (unpacked) worth 5; location 2 → function 1 "runtime.gcDrain".
    const raw = bytes(
      lfield(1, [...vfield(1, 2), ...vfield(2, 3)]),
      lfield(2, [...vfield(1, 1), ...vfield(1, 2), ...lfield(2, varint(5))]),
      lfield(4, [...vfield(1, 1)]),
      lfield(4, [...vfield(1, 2), ...lfield(4, vfield(1, 1))]),
      lfield(5, [...vfield(1, 1), ...vfield(2, 1)]),
      str(''),
      str('runtime.gcDrain'),
      str('cpu'),
      str('nanoseconds'),
    );
    expect(summarizePprof(raw, { stackFilters: [GC_STACK_FILTER] }).stackTotals).toEqual({ gc: [5] });
    expect(sumSamplesWhere(raw, 0, matcherOf(GO_GC_FRAMES)).matched).toBe(5);
  });

  it('leaves stackTotals out when no filter is asked for, and the result survives structuredClone', () => {
    const raw = fixture('ddtrace-go/cpu.pprof');
    expect('stackTotals' in summarizePprof(raw)).toBe(false);
    const summary = summarizePprof(raw, { stackFilters: [GC_STACK_FILTER] });
    expect(structuredClone(summary)).toEqual(summary);
  });

  it('refuses filters a caller got wrong, saying which', () => {
    const raw = fixture('ddtrace-go/cpu.pprof');
    expect(() => summarizePprof(raw, { stackFilters: [{ name: 'x', patterns: ['runtime.*Drain'] }] })).toThrow(
      /filter "x": pattern "runtime.\*Drain": "\*" is accepted only at the end/,
    );
    expect(() => summarizePprof(raw, { stackFilters: [GC_STACK_FILTER, GC_STACK_FILTER] })).toThrow(/the name "gc" is used twice/);
  });
});

/** The error of `fn`, which must be a PprofDecodeError. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PprofDecodeError);
    return (error as Error).message;
  }
  throw new Error('expected a PprofDecodeError');
}

describe('stack filters on malformed input: the same clear PprofDecodeErrors as sumSamplesWhere', () => {
  const base = () => [lfield(1, [...vfield(1, 1), ...vfield(2, 2)]), str(''), str('cpu'), str('nanoseconds'), str('runtime.gcDrain')];
  const withFilter = (raw: Uint8Array) => () => summarizePprof(raw, { stackFilters: [GC_STACK_FILTER] });
  const walk = (raw: Uint8Array) => () => sumSamplesWhere(raw, 0, () => true);

  /** Function 2 is runtime.gcDrain, a GC frame: with it the stacks must be read. */
  const gcDrain = () => lfield(5, [...vfield(1, 2), ...vfield(2, 3)]);

  it('a sample refers to a location the profile does not define', () => {
    const raw = bytes(
      ...base(),
      lfield(2, [...lfield(1, varint(7)), ...lfield(2, varint(5))]),
      lfield(4, [...vfield(1, 1), ...lfield(4, vfield(1, 2))]),
      gcDrain(),
    );
    const message = 'pprof malformed: sample 0 refers to location 7, which the profile does not define';
    expect(errorOf(withFilter(raw))).toBe(message);
    expect(errorOf(walk(raw))).toBe(message);
    expect(summarizePprof(raw).totals).toEqual([5]); // without filters the stacks are not read
  });

  it('a location refers to a function the profile does not define', () => {
    const raw = bytes(
      ...base(),
      lfield(2, [...lfield(1, varint(1)), ...lfield(2, varint(5))]),
      lfield(4, [...vfield(1, 1), ...lfield(4, vfield(1, 9))]),
      gcDrain(),
    );
    const message = 'pprof malformed: location 1 refers to function 9, which the profile does not define';
    expect(errorOf(withFilter(raw))).toBe(message);
    expect(errorOf(walk(raw))).toBe(message);
  });

  it('when no function matches, no stack is read: every sum is 0 and, as without filters, references are not checked', () => {
    // Location 7 and function 9 are undefined, but no function's name is a GC frame.
    const raw = bytes(...base(), lfield(2, [...lfield(1, varint(7)), ...lfield(2, varint(5))]), lfield(4, [...vfield(1, 1), ...lfield(4, vfield(1, 9))]));
    expect(summarizePprof(raw, { stackFilters: [GC_STACK_FILTER] }).stackTotals).toEqual({ gc: [0] });
    expect(sumSamplesWhere(raw, 0, () => true)).toEqual({ matched: 0, total: 5 });
  });

  it("a function's name is not in the string table", () => {
    const raw = bytes(
      ...base(),
      lfield(2, [...lfield(1, varint(1)), ...lfield(2, varint(5))]),
      lfield(4, [...vfield(1, 1), ...lfield(4, vfield(1, 3))]),
      lfield(5, [...vfield(1, 3), ...vfield(2, 40)]),
    );
    const message = 'pprof malformed: function 3 name refers to string index 40, but the string table has 4 entries';
    expect(errorOf(withFilter(raw))).toBe(message);
    expect(errorOf(walk(raw))).toBe(message);
  });

  it('a wrong wire type inside a location or a function', () => {
    const loc = bytes(...base(), lfield(4, lfield(1, [1])));
    expect(errorOf(withFilter(loc))).toMatch(/^pprof malformed: Location.id \(field 1\) at offset \d+ has wire type 2 \(length-delimited\), expected varint$/);
    const fn = bytes(...base(), lfield(5, lfield(2, [1])));
    expect(errorOf(withFilter(fn))).toMatch(/^pprof malformed: Function.name \(field 2\) at offset \d+ has wire type 2 \(length-delimited\), expected varint$/);
  });

  it('truncated at every byte of a real CPU profile: an error exactly where the walk gives one, and the same message', () => {
    const raw = rawGoPprof('profile');
    let errors = 0;
    for (let cut = 1; cut < raw.length; cut += 7) {
      const part = raw.subarray(0, cut);
      let expected: string | undefined;
      try {
        sumSamplesWhere(part, 0, () => false);
      } catch (error) {
        expected = (error as Error).message;
      }
      if (expected === undefined) expect(() => withFilter(part)()).not.toThrow();
      else {
        expect(errorOf(withFilter(part))).toBe(expected);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(raw.length / 7 / 2);
  });
});
