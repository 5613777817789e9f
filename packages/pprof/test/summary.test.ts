import { Profile } from 'pprof-format';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PprofDecodeError, decodePprof, decompressAndSummarize, summarizePprof, sumSamplesWhere } from '../src/index.js';
import { bytes, fixture, lfield, localFixture, rawGoPprof, str, tag, varint, vfield } from './helpers.js';

/** sample_type cpu/nanoseconds; one sample with value 5 at location 1; strings "", cpu, nanoseconds. */
function goodProfile(): number[][] {
  return [
    lfield(1, [...vfield(1, 1), ...vfield(2, 2)]),
    lfield(2, [...lfield(1, varint(1)), ...lfield(2, varint(5))]),
    str(''),
    str('cpu'),
    str('nanoseconds'),
    vfield(9, 1_700_000_000_123_456_789n),
    vfield(10, 10_000_000_000),
  ];
}

function decodeError(raw: Uint8Array): PprofDecodeError {
  try {
    summarizePprof(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(PprofDecodeError);
    expect((error as PprofDecodeError).kind).toBe('pprof');
    return error as PprofDecodeError;
  }
  throw new Error('expected a PprofDecodeError');
}

/** The totals by `type/unit`; `_fixture` names the profile for the reader of the test. */
function totalsOf(_fixture: string, raw: Uint8Array) {
  const summary = summarizePprof(raw);
  return Object.fromEntries(summary.sampleTypes.map((t, i) => [`${t.type}/${t.unit}`, summary.totals[i]])) as Record<string, number>;
}

describe('summarizePprof: the reference sums of test/fixtures/README.md', () => {
  it('ddtrace-go cpu.pprof: samples 607, cpu 6,070,000,000 ns over 60,115,887,125 ns', () => {
    const s = summarizePprof(fixture('ddtrace-go/cpu.pprof'));
    expect(s.sampleTypes).toEqual([
      { type: 'samples', unit: 'count' },
      { type: 'cpu', unit: 'nanoseconds' },
    ]);
    expect(s.totals).toEqual([607, 6_070_000_000]);
    expect(s.durationNanos).toBe(60_115_887_125n);
    expect(s.periodType).toEqual({ type: 'cpu', unit: 'nanoseconds' });
    expect(s.period).toBe(10_000_000);
    expect(s.timeNanos).toBe(1_723_210_341_746_316_117n);
  });

  it('ddtrace-go delta-heap.pprof: alloc 535 / 16,699,978 B, inuse 55,422 / 18,585,974 B', () => {
    expect(totalsOf('delta-heap', fixture('ddtrace-go/delta-heap.pprof'))).toEqual({
      'alloc_objects/count': 535,
      'alloc_space/bytes': 16_699_978,
      'inuse_objects/count': 55_422,
      'inuse_space/bytes': 18_585_974,
    });
  });

  it('ddtrace-go delta-block.pprof: contentions 1,089, delay 1,136,108,787,243 ns', () => {
    expect(totalsOf('delta-block', fixture('ddtrace-go/delta-block.pprof'))).toEqual({ 'contentions/count': 1089, 'delay/nanoseconds': 1_136_108_787_243 });
  });

  it('ddtrace-go delta-mutex.pprof: contentions 570, delay 1,603,409 ns', () => {
    expect(totalsOf('delta-mutex', fixture('ddtrace-go/delta-mutex.pprof'))).toEqual({ 'contentions/count': 570, 'delay/nanoseconds': 1_603_409 });
  });

  it('ddtrace-go goroutines.pprof: 25 goroutines, sample type "goroutine" (singular)', () => {
    expect(totalsOf('goroutines', fixture('ddtrace-go/goroutines.pprof'))).toEqual({ 'goroutine/count': 25 });
  });

  it('go-pprof profile.pprof: cpu 9,860,000,000 ns over 5,147,616,019 ns (≈ 1.92 cores)', () => {
    const s = decompressAndSummarize(fixture('go-pprof/profile.pprof'));
    expect(s.totals[1]).toBe(9_860_000_000);
    expect(s.durationNanos).toBe(5_147_616_019n);
    expect(s.totals[1]! / Number(s.durationNanos)).toBeCloseTo(1.92, 2);
  });

  it('go-pprof goroutine.pprof: 16 goroutines; threadcreate.pprof: 7 threads', () => {
    expect(decompressAndSummarize(fixture('go-pprof/goroutine.pprof')).totals).toEqual([16]);
    expect(decompressAndSummarize(fixture('go-pprof/threadcreate.pprof')).totals).toEqual([7]);
  });

  it('go-pprof heap.pprof: inuse_space 5,603,986 bytes, with the space/bytes period of 512 KiB', () => {
    const s = decompressAndSummarize(fixture('go-pprof/heap.pprof'));
    expect(s.sampleTypes.map((t) => t.type)).toEqual(['alloc_objects', 'alloc_space', 'inuse_objects', 'inuse_space']);
    expect(s.totals[3]).toBe(5_603_986);
    expect(s.periodType).toEqual({ type: 'space', unit: 'bytes' });
    expect(s.period).toBe(524_288);
    expect(s.durationNanos).toBe(0n);
  });

  it('go-pprof mutex.pprof delay 12,392,463,130 ns; block.pprof delay 119,129,273,493 ns', () => {
    expect(decompressAndSummarize(fixture('go-pprof/mutex.pprof')).totals[1]).toBe(12_392_463_130);
    expect(decompressAndSummarize(fixture('go-pprof/block.pprof')).totals[1]).toBe(119_129_273_493);
  });

  it('agrees with a full pprof-format decode on every fixture', () => {
    const files = [
      'ddtrace-go/cpu.pprof',
      'ddtrace-go/delta-heap.pprof',
      'ddtrace-go/delta-block.pprof',
      'ddtrace-go/delta-mutex.pprof',
      'ddtrace-go/goroutines.pprof',
    ];
    const raws = [...files.map((f) => fixture(f)), ...['profile', 'heap', 'allocs', 'goroutine', 'mutex', 'block', 'threadcreate'].map(rawGoPprof)];
    for (const raw of raws) {
      const full = Profile.decode(raw);
      const s = summarizePprof(raw);
      expect(s.sampleCount).toBe(full.sample.length);
      expect(s.totals).toEqual(full.sampleType.map((_, i) => full.sample.reduce((sum, sample) => sum + Number(sample.value[i]), 0)));
      expect(s.sampleTypes.map((t) => t.type)).toEqual(full.sampleType.map((t) => full.stringTable.strings[Number(t.type)]));
      expect(s.timeNanos).toBe(BigInt(full.timeNanos));
    }
  });

  it('keeps the raw bytes as pprof without copying them', () => {
    const raw = fixture('ddtrace-go/cpu.pprof');
    expect(summarizePprof(raw).pprof).toBe(raw);
  });
});

describe('summarizePprof: a profile without samples', () => {
  it('gives a total of 0 for each of its sample types, however many it declares (found by fuzzing: undefined past the eighth)', () => {
    const sampleType = lfield(1, [...vfield(1, 1), ...vfield(2, 2)]);
    const raw = bytes(...Array.from({ length: 12 }, () => sampleType), str(''), str('contentions'), str('count'));
    const summary = summarizePprof(raw);
    expect(summary.sampleCount).toBe(0);
    expect(summary.totals).toEqual(new Array(12).fill(0));
  });
});

describe('decompressAndSummarize', () => {
  it('sniffs the compression, then summarizes: gzip, zstd without content size, raw', () => {
    expect(decompressAndSummarize(fixture('go-pprof/goroutine.pprof')).totals).toEqual([16]);
    expect(decompressAndSummarize(localFixture('goroutine.pprof.stream.zst')).totals).toEqual([16]);
    expect(decompressAndSummarize(localFixture('cpu.pprof.stream.zst')).totals).toEqual([607, 6_070_000_000]);
    expect(decompressAndSummarize(fixture('ddtrace-go/cpu.pprof')).sampleCount).toBe(332);
  });

  it('passes the decompression cap on', () => {
    expect(() => decompressAndSummarize(fixture('go-pprof/heap.pprof'), { maxBytes: 100 })).toThrow(/more than the limit of 100 bytes/);
  });
});

describe('summarizePprof: malformed input gives a typed, readable error', () => {
  it('a hand-built valid profile decodes (the base of the malformed cases)', () => {
    const s = summarizePprof(bytes(...goodProfile()));
    expect(s.sampleTypes).toEqual([{ type: 'cpu', unit: 'nanoseconds' }]);
    expect(s.totals).toEqual([5]);
    expect(s.timeNanos).toBe(1_700_000_000_123_456_789n);
    expect(s.durationNanos).toBe(10_000_000_000n);
  });

  it('an empty input is an empty profile, not an error', () => {
    expect(summarizePprof(new Uint8Array())).toMatchObject({ sampleTypes: [], totals: [], sampleCount: 0 });
  });

  it('truncated at every possible byte of a real profile', () => {
    const raw = rawGoPprof('mutex');
    let errors = 0;
    for (let cut = 1; cut < raw.length; cut++) {
      try {
        summarizePprof(raw.subarray(0, cut));
      } catch (error) {
        expect(error).toBeInstanceOf(PprofDecodeError);
        errors++;
      }
    }
    // A cut exactly between two top-level fields is a shorter valid message; every other cut is an error.
    expect(errors).toBeGreaterThan(raw.length * 0.9);
  });

  it('truncated inside a length-delimited field says how much was declared and how much remains', () => {
    const raw = rawGoPprof('heap');
    const error = decodeError(raw.subarray(0, 100));
    expect(error.message).toMatch(/^pprof truncated: .* declares \d+ bytes but only \d+ remain|^pprof truncated: .* runs past the end/);
  });

  it('truncated in the middle of a varint', () => {
    const error = decodeError(bytes(tag(9, 0), [0x80, 0x80]));
    expect(error.message).toMatch(/^pprof truncated: time_nanos at offset 3 runs past the end of its input/);
  });

  it('a varint longer than 10 bytes', () => {
    expect(decodeError(bytes(tag(12, 0), new Array(11).fill(0xff))).message).toMatch(/longer than 10 bytes/);
  });

  it('a wrong wire type: sample encoded as a varint', () => {
    const error = decodeError(bytes(vfield(2, 7)));
    expect(error.message).toBe('pprof malformed: Profile.sample (field 2) at offset 0 has wire type 0 (varint), expected length-delimited');
  });

  it('a wrong wire type: time_nanos encoded as a string', () => {
    expect(decodeError(bytes(lfield(9, [1, 2]))).message).toBe(
      'pprof malformed: Profile.time_nanos (field 9) at offset 0 has wire type 2 (length-delimited), expected varint',
    );
  });

  it('a wrong wire type inside a sample: value as fixed32', () => {
    const error = decodeError(bytes(lfield(2, [...tag(2, 5), 1, 0, 0, 0])));
    expect(error.message).toMatch(/^pprof malformed: Sample.value \(field 2\) at offset 2 has wire type 5 \(fixed32\), expected varint or packed/);
  });

  it('a group wire type (never used by pprof)', () => {
    expect(decodeError(bytes(tag(20, 3))).message).toMatch(
      /^pprof malformed: field 20 \(ending at offset 2\) has start-group wire type 3, which pprof never uses$/,
    );
  });

  it('a bad string index in a sample type', () => {
    const parts = goodProfile();
    parts[0] = lfield(1, [...vfield(1, 9), ...vfield(2, 2)]);
    expect(decodeError(bytes(...parts)).message).toBe('pprof malformed: sample_type[0].type refers to string index 9, but the string table has 3 entries');
  });

  it('a bad string index in the period type', () => {
    const parts = [...goodProfile(), lfield(11, [...vfield(1, 1), ...vfield(2, 40)])];
    expect(decodeError(bytes(...parts)).message).toBe('pprof malformed: period_type.unit refers to string index 40, but the string table has 3 entries');
  });

  it('a string table whose first entry is not empty', () => {
    const parts = goodProfile();
    parts[2] = str('x');
    expect(decodeError(bytes(...parts)).message).toBe('pprof malformed: string_table[0] must be the empty string');
  });

  it('samples with more values than sample types', () => {
    const parts = goodProfile();
    parts[1] = lfield(2, [...lfield(1, varint(1)), ...lfield(2, [...varint(5), ...varint(6)])]);
    expect(decodeError(bytes(...parts)).message).toBe('pprof malformed: samples carry 2 values but the profile declares 1 sample types');
  });

  it('field number 0 is not protobuf: a gzip of zeros is refused, not read as a valid, empty profile', () => {
    const zeros = gzipSync(Buffer.alloc(16 * 1024 * 1024));
    expect(zeros.length).toBeLessThan(32 * 1024);
    let error: unknown;
    try {
      decompressAndSummarize(zeros);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PprofDecodeError);
    expect((error as Error).message).toBe(
      'pprof malformed: tag at offset 0 has field number 0; protobuf field numbers run from 1 to 536870911 (zero bytes where a field was expected: this is not a pprof profile)',
    );
  });

  it('field number 0 is refused at its byte offset, after a valid profile or inside a message', () => {
    const good = bytes(...goodProfile());
    expect(decodeError(bytes(...goodProfile(), [0x00, 0x00])).message).toMatch(
      new RegExp(`^pprof malformed: tag at offset ${good.length} has field number 0;`),
    );
    // Inside a sample (offset 2: after the sample's tag and length) and inside a sample type.
    expect(decodeError(bytes(lfield(2, [0x00, 0x01]))).message).toMatch(/^pprof malformed: sample tag at offset 2 has field number 0;/);
    expect(decodeError(bytes(lfield(1, [0x02, 0x00]))).message).toMatch(/^pprof malformed: sample_type tag at offset 2 has field number 0;/);
    // sumSamplesWhere reads the same way.
    expect(() => sumSamplesWhere(bytes(...goodProfile(), [0x00, 0x00]), 0, () => true)).toThrow(/tag at offset \d+ has field number 0/);
    expect(() => decodePprof(new Uint8Array(64))).toThrow(PprofDecodeError);
  });

  it('every real fixture still decodes: no real profile uses field number 0', () => {
    for (const name of ['cpu', 'delta-heap', 'delta-block', 'delta-mutex', 'goroutines'])
      expect(summarizePprof(fixture(`ddtrace-go/${name}.pprof`)).sampleTypes.length, name).toBeGreaterThan(0);
    for (const name of ['profile', 'heap', 'allocs', 'goroutine', 'mutex', 'block', 'threadcreate'])
      expect(decompressAndSummarize(fixture(`go-pprof/${name}.pprof`)).sampleTypes.length, name).toBeGreaterThan(0);
    for (const name of ['cpu.pprof.stream.zst', 'delta-heap.pprof.sized.zst', 'goroutine.pprof.stream.zst'])
      expect(decompressAndSummarize(localFixture(name)).sampleCount, name).toBeGreaterThan(0);
  });

  it('garbage bytes (a JSON body where a profile was expected)', () => {
    expect(() => summarizePprof(new TextEncoder().encode('{"error":"not found"}'))).toThrow(PprofDecodeError);
    expect(() => summarizePprof(new TextEncoder().encode('404 page not found\n'))).toThrow(PprofDecodeError);
  });

  it('a gzip body that was not decompressed first', () => {
    expect(() => summarizePprof(fixture('go-pprof/heap.pprof'))).toThrow(PprofDecodeError);
  });

  it('reads unpacked (non-packed) sample values and negative int64 values', () => {
    const parts = goodProfile();
    parts[1] = lfield(2, [...vfield(1, 1), ...vfield(2, -3)]);
    expect(summarizePprof(bytes(...parts)).totals).toEqual([-3]);
  });

  it('decodePprof wraps the same checks for full decoding', () => {
    expect(() => decodePprof(bytes(vfield(2, 7)))).toThrow(PprofDecodeError);
    expect(decodePprof(rawGoPprof('goroutine')).sample.length).toBe(11);
  });
});

describe('sumSamplesWhere: GC CPU overhead', () => {
  const GC_FRAMES = /^runtime\.(gcBgMarkWorker|gcAssistAlloc|gcDrain|markroot|scanobject|gcMarkDone|gcMarkTermination|bgsweep|bgscavenge)/;

  it('ddtrace-go cpu.pprof: 2 samples of 10 ms are in GC frames (gcAssistAlloc from allocation)', () => {
    const raw = fixture('ddtrace-go/cpu.pprof');
    expect(sumSamplesWhere(raw, 1, (name) => GC_FRAMES.test(name))).toEqual({ matched: 20_000_000, total: 6_070_000_000 });
    expect(sumSamplesWhere(raw, 0, (name) => GC_FRAMES.test(name))).toEqual({ matched: 2, total: 607 });
  });

  it('counts a sample once even when several of its frames match', () => {
    const raw = fixture('ddtrace-go/cpu.pprof');
    // Both GC samples have runtime.scanobject AND runtime.gcAssistAlloc on their stack.
    expect(sumSamplesWhere(raw, 1, (name) => name.startsWith('runtime.'))).toEqual(
      sumSamplesWhere(raw, 1, (name) => name.startsWith('runtime.') || name === 'runtime.scanobject'),
    );
    const all = sumSamplesWhere(raw, 1, () => true);
    expect(all.matched).toBe(all.total);
  });

  it('asks about each distinct function once', () => {
    const seen = new Map<string, number>();
    sumSamplesWhere(fixture('ddtrace-go/cpu.pprof'), 1, (name) => (seen.set(name, (seen.get(name) ?? 0) + 1), false));
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(seen.size).toBeGreaterThan(100);
  });

  it('matches inlined frames (every line of a location)', () => {
    const raw = rawGoPprof('profile');
    const full = Profile.decode(raw);
    const inlined = full.location.find((l) => l.line.length > 1);
    expect(inlined).toBeDefined();
    const innerName = full.stringTable.strings[Number(full.function.find((f) => f.id === inlined!.line[0]!.functionId)!.name)]!;
    const expected = full.sample
      .filter((s) =>
        s.locationId.some((id) =>
          full.location
            .find((l) => l.id === id)!
            .line.some((line) => full.stringTable.strings[Number(full.function.find((f) => f.id === line.functionId)!.name)] === innerName),
        ),
      )
      .reduce((sum, s) => sum + Number(s.value[1]), 0);
    expect(expected).toBeGreaterThan(0);
    expect(sumSamplesWhere(raw, 1, (name) => name === innerName).matched).toBe(expected);
  });

  it('rejects an out-of-range value index', () => {
    expect(() => sumSamplesWhere(fixture('ddtrace-go/cpu.pprof'), 2, () => true)).toThrow(/value index 2 is out of range; the profile has 2 sample types/);
  });
});
