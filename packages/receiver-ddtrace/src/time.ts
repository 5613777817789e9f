/**
 * RFC 3339 timestamps to Unix nanoseconds. `Date` keeps only milliseconds, and dd-trace-go
 * sends nanoseconds (`2026-08-21T15:40:00.000123456Z`) with its `end` in the local zone
 * (`…+02:00`), so the fields are read by hand.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * Parses an RFC 3339 date-time (`2006-01-02T15:04:05.999999999Z07:00`) into Unix nanoseconds.
 * Fractions longer than nine digits are cut to nanoseconds. Returns a message saying what is
 * wrong instead when the text is not such a timestamp.
 */
export function parseRfc3339Nanos(text: string): { nanos: bigint } | { problem: string } {
  const match = RFC3339.exec(text.trim());
  if (!match) return { problem: `${JSON.stringify(text.slice(0, 64))} is not an RFC 3339 timestamp such as 2006-01-02T15:04:05.999999999Z or …+02:00` };
  const [, y, mo, d, h, mi, sec, fraction, zone] = match as unknown as [string, string, string, string, string, string, string, string | undefined, string];
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  const outOf = (what: string) => ({ problem: `${JSON.stringify(text)} has its ${what} out of range` });
  if (month < 1 || month > 12) return outOf('month');
  const monthDays = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (day < 1 || day > monthDays) return outOf('day');
  if (hour > 23) return outOf('hour');
  if (minute > 59) return outOf('minute');
  if (second > 59) return outOf('second');
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const digits = zone.replace(':', '');
    const offsetHours = Number(digits.slice(1, 3));
    const offsetMins = Number(digits.slice(3, 5));
    if (offsetHours > 23 || offsetMins > 59) return outOf('zone offset');
    offsetMinutes = (offsetHours * 60 + offsetMins) * (zone.startsWith('-') ? -1 : 1);
  }
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC maps years 0..99 to 1900..1999; RFC 3339 years are literal.
  const fixedMs = year < 100 ? new Date(epochMs).setUTCFullYear(year) : epochMs;
  const fractionNanos = fraction ? BigInt(fraction.slice(0, 9).padEnd(9, '0')) : 0n;
  const nanos = BigInt(fixedMs) * 1_000_000n + fractionNanos - BigInt(offsetMinutes) * 60_000_000_000n;
  return { nanos };
}
