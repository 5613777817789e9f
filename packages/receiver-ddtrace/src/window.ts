/**
 * Whether an upload's window can be exported as it is. Unix time in nanoseconds is carried as a
 * `bigint` here, but OTLP and the backends behind it store it in 64 bits: a window before 1970
 * or after 2262 wraps around (a 2600 window arrived at a backend as 2015, a 1960 one as 2421),
 * and one far from the receiver's clock writes into the past or future of real series. Such
 * windows are refused with a message naming the field, the receiver's clock and the setting.
 */

/** The last instant a signed 64-bit count of Unix nanoseconds holds: 2262-04-11T23:47:16.854775807Z. */
export const MAX_UNIX_NANOS = 2n ** 63n - 1n;

export interface WindowBounds {
  /** The receiver's clock, Unix ms. */
  nowMs: number;
  /** How far `end` may lie after the receiver's clock (`max_clock_skew`); 0 = no bound. */
  maxFutureMs: number;
  /** How far `start` may lie before the receiver's clock (`max_window_age`); 0 = no bound. */
  maxAgeMs: number;
}

export interface WindowField {
  /** The field as the upload names it (`event.start`, `field "recording-end"`). */
  field: string;
  /** Its text as sent. */
  text: string;
  nanos: bigint;
}

/** Why the window cannot be taken, or undefined when it can. */
export function windowProblem(start: WindowField, end: WindowField, bounds?: WindowBounds): string | undefined {
  for (const { field, text, nanos } of [start, end]) {
    if (nanos < 0n)
      return `${field} (${text}) is before 1970-01-01T00:00:00Z, which Unix time in nanoseconds (as OTLP carries it) cannot represent; check the client's clock`;
    if (nanos > MAX_UNIX_NANOS)
      return `${field} (${text}) is after 2262-04-11T23:47:16Z, the last instant a 64-bit count of Unix nanoseconds (as OTLP carries it) can represent; check the client's clock`;
  }
  if (!bounds) return undefined;
  const now = BigInt(Math.floor(bounds.nowMs)) * 1_000_000n;
  const clock = new Date(bounds.nowMs).toISOString();
  if (bounds.maxFutureMs > 0 && end.nanos - now > BigInt(bounds.maxFutureMs) * 1_000_000n) {
    return `${end.field} (${end.text}) is ${describeNanos(end.nanos - now)} after the receiver's clock (${clock}), more than max_clock_skew (${describeNanos(BigInt(bounds.maxFutureMs) * 1_000_000n)}): fix the client's clock, or raise max_clock_skew`;
  }
  if (bounds.maxAgeMs > 0 && now - start.nanos > BigInt(bounds.maxAgeMs) * 1_000_000n) {
    return `${start.field} (${start.text}) is ${describeNanos(now - start.nanos)} before the receiver's clock (${clock}), more than max_window_age (${describeNanos(BigInt(bounds.maxAgeMs) * 1_000_000n)}): fix the client's clock, or raise max_window_age`;
  }
  return undefined;
}

const UNITS: [string, bigint][] = [
  ['d', 86_400_000_000_000n],
  ['h', 3_600_000_000_000n],
  ['m', 60_000_000_000n],
  ['s', 1_000_000_000n],
  ['ms', 1_000_000n],
];

/** A positive span in its two largest non-zero units: `3h5m`, `1h1s` (not `1h`), `212d4h`, `1s500ms`. */
export function describeNanos(nanos: bigint): string {
  const parts: string[] = [];
  let left = nanos;
  for (const [unit, size] of UNITS) {
    if (parts.length === 2) break;
    if (left >= size) {
      parts.push(`${left / size}${unit}`);
      left %= size;
    }
  }
  return parts.join('') || `${nanos}ns`;
}
