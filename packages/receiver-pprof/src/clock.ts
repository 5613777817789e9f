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

/** Resolves after `delayMs` on `clock`, or at once when `signal` aborts. */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, delayMs);
    signal?.addEventListener('abort', done);
  });
}
