/** Exponential backoff with jitter, as the Collector's `retry_on_failure`. */
export class Backoff {
  private current: number;
  constructor(
    private readonly config: { initial_interval: number; max_interval: number; multiplier: number; randomization_factor: number },
    private readonly random: () => number = Math.random,
  ) {
    this.current = config.initial_interval;
  }

  /** The next wait in ms: the current interval ± the randomization factor, then the interval grows. */
  next(): number {
    const { randomization_factor: f, multiplier, max_interval } = this.config;
    const delta = f * this.current;
    const wait = this.current - delta + this.random() * 2 * delta;
    this.current = Math.min(this.current * multiplier, max_interval);
    return Math.max(0, Math.round(wait));
  }
}

/** Resolves `true` after `ms`, or early with `false` when `signal` aborts; leaves no timer behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
