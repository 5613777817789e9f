/**
 * Remembers which uploads (runtime-id, profile_seq) were accepted recently, so that a client's
 * retry of an upload profcol already took is answered 200 without being forwarded again.
 * Both dd-trace-go (10 s timeout after the body was read) and dd-trace-js (1.9 s idle abort)
 * can send the same upload twice.
 */
export class RecentUploads {
  /** key → when it expires (ms); insertion order is acceptance order. */
  private readonly accepted = new Map<string, number>();
  /** key → the outcome of an upload with that key still being processed. */
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.windowMs > 0 && this.maxEntries > 0;
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.accepted.size;
  }

  /**
   * Claims `key` for an upload about to be forwarded. Returns `duplicate` when an upload with
   * that key was accepted within the window; when one is still in flight, waits for its
   * outcome first. Otherwise returns `settle`, to call with whether the upload was accepted.
   */
  async claim(key: string): Promise<{ duplicate: true } | { duplicate: false; settle: (accepted: boolean) => void }> {
    if (!this.enabled) return { duplicate: false, settle: () => {} };
    for (let pending = this.inFlight.get(key); pending; pending = this.inFlight.get(key)) {
      if (await pending) return { duplicate: true };
    }
    const expires = this.accepted.get(key);
    if (expires !== undefined) {
      if (expires > this.now()) return { duplicate: true };
      this.accepted.delete(key);
    }
    // Nothing awaited since the checks above, so no other upload can claim the key in between.
    let resolve!: (accepted: boolean) => void;
    const outcome = new Promise<boolean>((r) => (resolve = r));
    this.inFlight.set(key, outcome);
    return {
      duplicate: false,
      settle: (accepted) => {
        if (this.inFlight.get(key) === outcome) this.inFlight.delete(key);
        if (accepted) this.remember(key);
        resolve(accepted);
      },
    };
  }

  private remember(key: string): void {
    const now = this.now();
    this.accepted.delete(key);
    this.accepted.set(key, now + this.windowMs);
    // Drop expired keys from the old end, then the oldest while over the bound.
    for (const [oldest, expires] of this.accepted) {
      if (expires > now && this.accepted.size <= this.maxEntries) break;
      this.accepted.delete(oldest);
    }
  }

  clear(): void {
    this.accepted.clear();
  }
}
