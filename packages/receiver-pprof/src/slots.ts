/**
 * The receiver's one concurrency limit: response bodies being read and decoded at once.
 * What costs in a round is the body (bytes in memory, gunzip, decode), not the wait for
 * it: a CPU profile request idles for `cpu_seconds` before its first byte. So a request
 * takes a slot only once its response headers have arrived, and gives it back once its body
 * is decoded; waiting requests cost a socket and nothing else.
 */
export class DownloadSlots {
  private active = 0;
  private readonly waiting: { grant: () => void }[] = [];
  /** The most slots ever held at once. */
  peak = 0;
  /** Times an answer had to wait for a slot. */
  waits = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.active;
  }

  /**
   * Resolves once a slot is held (call `release()` exactly once afterwards). Rejects with
   * `signal.reason` if the signal aborts first; no slot is then held.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.active < this.limit) {
      this.take();
      return Promise.resolve();
    }
    this.waits++;
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.take();
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  release(): void {
    this.active--;
    this.waiting.shift()?.grant();
  }

  private take(): void {
    this.active++;
    if (this.active > this.peak) this.peak = this.active;
  }
}
