/**
 * A minimum rate for request bodies, after Apache's mod_reqtimeout (`body=10,MinRate=500`): a
 * body may take `body_timeout`, plus one second for every `min_body_rate` bytes it has sent.
 * `request_timeout` alone (like Go's `ReadTimeout`) lets a client sending one byte a second hold
 * its connection, its memory reservation and whatever it waits for for the whole timeout; nginx's
 * `client_body_timeout` only bounds the pause between two reads, which a trickle never exceeds.
 */

export interface BodyRate {
  /** Bytes per second a body must keep up on average once `graceMs` has passed; 0 disables. */
  minBytesPerSecond: number;
  /** Time a body may take at any rate. */
  graceMs: number;
}

export interface BodyRateReport {
  received: number;
  elapsedMs: number;
  /** Average bytes per second so far. */
  bytesPerSecond: number;
}

/** One timer per body, moved forward as bytes arrive; calls `onTooSlow` once when the body falls behind. */
export class BodyRateGuard {
  private received = 0;
  private readonly started: number;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly rate: BodyRate,
    private readonly onTooSlow: (report: BodyRateReport) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.started = now();
    if (rate.minBytesPerSecond > 0) this.arm();
  }

  /** Counts body bytes as they arrive. */
  add(bytes: number): void {
    this.received += bytes;
  }

  /** The body is complete, or the request is over: no more checks. */
  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  /** When the body falls behind if no further byte arrives. */
  private deadline(): number {
    return this.started + this.rate.graceMs + (this.received * 1000) / this.rate.minBytesPerSecond;
  }

  private arm(): void {
    // At least 50 ms apart, so a fast body costs a timer callback now and then, not one per chunk.
    this.timer = setTimeout(() => this.check(), Math.max(50, this.deadline() - this.now()));
    this.timer.unref();
  }

  private check(): void {
    if (this.done) return;
    const now = this.now();
    if (now < this.deadline()) {
      this.arm();
      return;
    }
    this.done = true;
    const elapsedMs = now - this.started;
    this.onTooSlow({ received: this.received, elapsedMs, bytesPerSecond: Math.floor((this.received * 1000) / Math.max(1, elapsedMs)) });
  }
}
