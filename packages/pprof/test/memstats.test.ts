import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MemStatsParseError, parseMemStatsTrailer } from '../src/index.js';

const text = readFileSync(new URL('./fixtures/heap-debug1.go126.txt', import.meta.url), 'utf8');
const READ_AT = 1_795_559_542_000_000_000n;

describe('parseMemStatsTrailer (heap?debug=1 from a real Go program)', () => {
  const stats = parseMemStatsTrailer(text, READ_AT);

  it('reads every "# Name = value" line into values', () => {
    expect(stats.readAtNanos).toBe(READ_AT);
    expect(stats.values).toMatchObject({
      Alloc: 8_431_416,
      TotalAlloc: 8_611_576,
      Sys: 17_144_072,
      Lookups: 0,
      Mallocs: 2858,
      Frees: 79,
      HeapAlloc: 8_431_416,
      HeapSys: 12_222_464,
      HeapIdle: 3_293_184,
      HeapInuse: 8_929_280,
      HeapReleased: 3_153_920,
      HeapObjects: 2779,
      BuckHashSys: 1_443_643,
      GCSys: 2_296_560,
      OtherSys: 625_365,
      NextGC: 16_988_746,
      NumGC: 4,
      NumForcedGC: 2,
      GCCPUFraction: 0.0705194608380041,
      DebugGC: 0,
      MaxRSS: 27_074_560,
    });
  });

  it('splits "Stack = inuse / sys" (and MSpan, MCache) into two values', () => {
    expect(stats.values).toMatchObject({
      StackInuse: 360_448,
      StackSys: 360_448,
      MSpanInuse: 177_440,
      MSpanSys: 179_520,
      MCacheInuse: 4592,
      MCacheSys: 16_072,
    });
  });

  it('reads PauseNs and PauseEnd as 256-entry rings, PauseEnd exactly (bigint ns)', () => {
    expect(stats.pauseNs).toHaveLength(256);
    expect(stats.pauseEnd).toHaveLength(256);
    expect(stats.pauseNs.slice(0, 5)).toEqual([433_864, 192_101, 233_558, 167_164, 0]);
    expect(stats.pauseEnd[3]).toBe(1_795_559_541_880_966_178n);
    // The newest pause is at (NumGC + 255) % 256, and it ended at LastGC.
    const newest = (stats.values.NumGC! + 255) % 256;
    expect(stats.pauseEnd[newest]).toBe(1_795_559_541_880_966_178n);
  });

  it('throws a typed error when the trailer is missing', () => {
    expect(() => parseMemStatsTrailer('heap profile: 1: 2 [3: 4] @ heap/1048576\n', READ_AT)).toThrow(MemStatsParseError);
    expect(() => parseMemStatsTrailer('404 page not found', READ_AT)).toThrow(/has no "# runtime.MemStats" trailer/);
    try {
      parseMemStatsTrailer('', READ_AT);
    } catch (error) {
      expect((error as MemStatsParseError).kind).toBe('memstats');
    }
  });

  it('throws when the trailer is cut short or a value is not a number', () => {
    const cut = text.slice(0, text.indexOf('# PauseNs'));
    expect(() => parseMemStatsTrailer(cut, READ_AT)).toThrow('heap?debug=1 trailer has no "# NumGC = ..." line');
    expect(() => parseMemStatsTrailer(text.replace(/# PauseNs = .*\n/, ''), READ_AT)).toThrow(/PauseNs/);
    expect(() => parseMemStatsTrailer(text.replace('# Alloc = 8431416', '# Alloc = lots'), READ_AT)).toThrow(/"lots" is not a number/);
  });

  // Found by the fuzz run (test/fuzz.test.ts): Number() took these, and they became negative or infinite metrics.
  it.each(['-1', 'Infinity', '1e400', '0x10', '-0'])('refuses Alloc = %s, which no Go runtime prints', (value) => {
    expect(() => parseMemStatsTrailer(text.replace('# Alloc = 8431416', `# Alloc = ${value}`), READ_AT)).toThrow(MemStatsParseError);
  });

  it('refuses a negative PauseEnd, and still reads GCCPUFraction in exponent form as Go prints small fractions', () => {
    expect(() => parseMemStatsTrailer(text.replace('# PauseEnd = [1795559541874722360', '# PauseEnd = [-10'), READ_AT)).toThrow(
      /"-10" is not an unsigned integer/,
    );
    expect(parseMemStatsTrailer(text.replace('0.0705194608380041', '7.05194608380041e-05'), READ_AT).values.GCCPUFraction).toBe(7.05194608380041e-5);
  });
});
