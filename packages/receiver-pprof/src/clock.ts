/**
 * The time source of the scheduler and of every deadline in a round. The receiver takes it
 * as an option so tests can move time by hand (`ManualClock` in the tests) instead of
 * sleeping and allowing margins; production uses the system clock.
 */
export interface Clock {
  /** Milliseconds, on the same scale as `Date.now()`. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

/** An opaque timer handle. */
export type ClockTimer = { readonly __clockTimer?: never } | NodeJS.Timeout;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/** `clock.now()` as Unix nanoseconds (the scale of bundle windows and profile times). */
export function nowNanosOn(clock: Clock): bigint {
  return BigInt(Math.floor(clock.now())) * 1_000_000n;
}

/** A promise that resolves after `delayMs` on `clock`, and a `cancel` that clears its timer (it then never resolves). */
export function delay(clock: Clock, delayMs: number): { done: Promise<void>; cancel: () => void } {
  let timer: ClockTimer | undefined;
  const done = new Promise<void>((resolve) => {
    timer = clock.setTimeout(resolve, delayMs);
  });
  return { done, cancel: () => clock.clearTimeout(timer) };
}
