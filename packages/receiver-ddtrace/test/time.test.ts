import { describe, expect, it } from 'vitest';
import { parseRfc3339Nanos } from '../src/time.js';

const nanos = (text: string) => {
  const parsed = parseRfc3339Nanos(text);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed.nanos;
};

describe('RFC 3339 timestamps at nanosecond precision', () => {
  it('keeps every digit of dd-trace-go nanoseconds', () => {
    expect(nanos('2026-08-21T15:40:00.000123456Z')).toBe(1787326800000123456n);
    expect(nanos('2026-08-21T15:41:00.01234567Z')).toBe(1787326860012345670n);
  });

  it('applies any zone offset (dd-trace-go writes `end` in the local zone)', () => {
    expect(nanos('2026-08-21T17:41:00.000000001+02:00')).toBe(nanos('2026-08-21T15:41:00.000000001Z'));
    expect(nanos('2026-08-21T10:11:00-05:30')).toBe(nanos('2026-08-21T15:41:00Z'));
    expect(nanos('2026-08-21T15:41:00+0000')).toBe(nanos('2026-08-21T15:41:00Z'));
  });

  it('reads dd-trace-js millisecond ISO strings and second-precision RFC 3339', () => {
    expect(nanos('2026-11-24T21:47:27.132Z')).toBe(BigInt(Date.parse('2026-11-24T21:47:27.132Z')) * 1_000_000n);
    expect(nanos('2020-01-02T03:04:05Z')).toBe(BigInt(Date.parse('2020-01-02T03:04:05Z')) * 1_000_000n);
  });

  it('cuts fractions beyond nanoseconds and reads lowercase separators', () => {
    expect(nanos('2026-08-21t15:40:00.1234567891z')).toBe(nanos('2026-08-21T15:40:00.123456789Z'));
  });

  it('says what is wrong with a bad timestamp', () => {
    expect(parseRfc3339Nanos('yesterday')).toEqual({ problem: expect.stringContaining('"yesterday" is not an RFC 3339 timestamp') });
    expect(parseRfc3339Nanos('2026-02-30T00:00:00Z')).toEqual({ problem: expect.stringContaining('day out of range') });
    expect(parseRfc3339Nanos('2024-02-29T00:00:00Z')).toHaveProperty('nanos');
    expect(parseRfc3339Nanos('2026-01-01T24:00:00Z')).toEqual({ problem: expect.stringContaining('hour out of range') });
    expect(parseRfc3339Nanos('2026-01-01T00:00:00')).toHaveProperty('problem'); // no zone
  });
});
