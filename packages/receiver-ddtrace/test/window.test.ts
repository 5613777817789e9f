import { describe, expect, it } from 'vitest';
import { parseRfc3339Nanos } from '../src/time.js';
import { describeNanos, windowProblem, type WindowField } from '../src/window.js';
import { goUpload, request, startReceiver } from './helpers.js';

const field = (name: string, text: string): WindowField => {
  const parsed = parseRfc3339Nanos(text);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return { field: name, text, nanos: parsed.nanos };
};
const NOW = Date.parse('2026-12-01T12:00:00Z');
const bounds = { nowMs: NOW, maxFutureMs: 3_600_000, maxAgeMs: 86_400_000 };

describe('upload windows the receiver can export as they are', () => {
  it('takes a window within the clock bounds', () => {
    expect(windowProblem(field('event.start', '2026-12-01T11:59:00Z'), field('event.end', '2026-12-01T12:00:00Z'), bounds)).toBeUndefined();
    expect(windowProblem(field('event.start', '2026-12-01T12:30:00Z'), field('event.end', '2026-12-01T12:59:59Z'), bounds)).toBeUndefined();
    expect(windowProblem(field('event.start', '2026-11-30T12:00:01Z'), field('event.end', '2026-11-30T12:01:00Z'), bounds)).toBeUndefined();
  });

  it('refuses what 64-bit Unix nanoseconds cannot hold, whatever the bounds (2600 wrapped to 2015, 1960 to 2421)', () => {
    expect(windowProblem(field('event.start', '2600-01-01T00:00:00Z'), field('event.end', '2600-01-01T00:01:00Z'))).toBe(
      "event.start (2600-01-01T00:00:00Z) is after 2262-04-11T23:47:16Z, the last instant a 64-bit count of Unix nanoseconds (as OTLP carries it) can represent; check the client's clock",
    );
    expect(windowProblem(field('event.start', '1960-01-01T00:00:00Z'), field('event.end', '1960-01-01T00:01:00Z'))).toBe(
      "event.start (1960-01-01T00:00:00Z) is before 1970-01-01T00:00:00Z, which Unix time in nanoseconds (as OTLP carries it) cannot represent; check the client's clock",
    );
    expect(windowProblem(field('event.start', '2262-04-11T23:47:16.854775807Z'), field('event.end', '2262-04-11T23:47:16.854775807Z'))).toBeUndefined();
    expect(windowProblem(field('event.start', '2262-04-11T23:47:16Z'), field('event.end', '2262-04-11T23:47:16.854775808Z'))).toMatch(
      /^event\.end .* is after 2262/,
    );
  });

  it('refuses an end further ahead of the clock than max_clock_skew, and a start older than max_window_age', () => {
    expect(windowProblem(field('event.start', '2026-12-01T13:00:00Z'), field('event.end', '2026-12-01T13:00:01Z'), bounds)).toBe(
      "event.end (2026-12-01T13:00:01Z) is 1h1s after the receiver's clock (2026-12-01T12:00:00.000Z), more than max_clock_skew (1h): fix the client's clock, or raise max_clock_skew",
    );
    expect(windowProblem(field('field "recording-start"', '2026-11-30T11:59:59Z'), field('field "recording-end"', '2026-11-30T12:00:00Z'), bounds)).toBe(
      'field "recording-start" (2026-11-30T11:59:59Z) is 1d1s before the receiver\'s clock (2026-12-01T12:00:00.000Z), more than max_window_age (1d): fix the client\'s clock, or raise max_window_age',
    );
  });

  it('sets no bound where the bound is 0', () => {
    const off = { nowMs: NOW, maxFutureMs: 0, maxAgeMs: 0 };
    expect(windowProblem(field('event.start', '2001-01-01T00:00:00Z'), field('event.end', '2200-01-01T00:00:00Z'), off)).toBeUndefined();
  });

  it('describes spans in their two largest units', () => {
    expect(describeNanos(3_600_000_000_000n)).toBe('1h');
    expect(describeNanos(3_661_000_000_000n)).toBe('1h1m');
    expect(describeNanos(1_500_000_000n)).toBe('1s500ms');
    expect(describeNanos(574n * 86_400_000_000_000n + 7_200_000_000_000n)).toBe('574d2h');
  });
});

describe('ddtrace receiver: refusing windows out of range with 400 window_out_of_range', () => {
  it('refuses the 2600 and 1960 windows of the issue, and a clock an hour and a bit ahead, each counted; takes a window on time', async () => {
    let now = Date.parse('2026-08-21T15:41:00Z'); // the end of goUpload's window
    const r = await startReceiver({ dedup_window: '0' }, undefined, { now: () => now });
    try {
      const refused = async (event: Record<string, unknown>, message: RegExp) => {
        const response = await request(r.port, goUpload({ event }));
        expect([response.status, response.json.reason], response.text).toEqual([400, 'window_out_of_range']);
        expect(response.json.error).toMatch(message);
      };
      await refused({ start: '2600-01-01T00:00:00Z', end: '2600-01-01T00:01:00Z' }, /^event\.start \(2600-01-01T00:00:00Z\) is after 2262-04-11T23:47:16Z/);
      await refused({ start: '1960-01-01T00:00:00Z', end: '1960-01-01T00:01:00Z' }, /^event\.start \(1960-01-01T00:00:00Z\) is before 1970-01-01T00:00:00Z/);
      await refused(
        { start: '2026-08-21T16:41:00Z', end: '2026-08-21T16:42:00Z' },
        /^event\.end \(2026-08-21T16:42:00Z\) is 1h1m after the receiver's clock \(2026-08-21T15:41:00\.000Z\), more than max_clock_skew \(1h\)/,
      );
      expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'window_out_of_range' })).toBe(3);
      expect(r.consumer.bundles).toHaveLength(0);
      expect((await request(r.port, goUpload())).status).toBe(200);
      // The same upload a year later: no past bound by default (max_window_age: 0).
      now += 365 * 86_400_000;
      expect((await request(r.port, goUpload())).status).toBe(200);
      expect(r.consumer.bundles).toHaveLength(2);
    } finally {
      await r.stop();
    }
  });

  it('refuses a window older than max_window_age when it is set', async () => {
    const now = Date.parse('2026-08-23T15:41:00Z');
    const r = await startReceiver({ max_window_age: '24h' }, undefined, { now: () => now });
    try {
      const response = await request(r.port, goUpload());
      expect([response.status, response.json.reason]).toEqual([400, 'window_out_of_range']);
      expect(response.json.error).toMatch(
        /^event\.start \(2026-08-21T15:40:00\.000123456Z\) is 2d59s before the receiver's clock .* more than max_window_age \(1d\)/,
      );
    } finally {
      await r.stop();
    }
  });
});
