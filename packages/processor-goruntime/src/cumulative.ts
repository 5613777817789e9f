/**
 * Running totals of the convention counters, per process: what a cumulative OpenTelemetry sum
 * needs (a total since the series' start time). Held per source (one pulled target, one dd-trace
 * runtime id) so that two processes never add into one total; a source that restarted starts new
 * series with a new start time, which is how a backend sees the counter reset.
 */

interface Series {
  /** When accumulation began: the start of the first span added. */
  startNanos: bigint;
  total: number;
  /** The end of the latest span added: a span ending there again is a retry, one ending before it is out of order. */
  lastEndNanos: bigint;
}

interface Source {
  series: Map<string, Series>;
  seenAtMs: number;
}

export type AddOutcome =
  | { kind: 'added' | 'retry'; total: number; startNanos: bigint }
  /** A span that ends before the latest one added: neither added nor emitted. */
  | { kind: 'out_of_order' };

export class CumulativeTotals {
  private readonly sources = new Map<string, Source>();

  /** `onStart` is told of every series that starts (for the processor's own counters). */
  constructor(
    private readonly ttlMs: number,
    private readonly onStart: () => void = () => {},
  ) {}

  /** Series held, over every source. */
  get size(): number {
    let n = 0;
    for (const source of this.sources.values()) n += source.series.size;
    return n;
  }

  /**
   * Adds `amount` over `startNanos`..`endNanos` to one series of a source. The same span again (a
   * batch retried after a refusal) returns the total it gave the first time, so a retry cannot
   * count twice.
   */
  add(sourceKey: string, seriesKey: string, amount: number, startNanos: bigint, endNanos: bigint, nowMs: number): AddOutcome {
    const series = this.seriesOf(sourceKey, nowMs);
    const held = series.get(seriesKey);
    if (!held) {
      series.set(seriesKey, { startNanos, total: amount, lastEndNanos: endNanos });
      this.onStart();
      return { kind: 'added', total: amount, startNanos };
    }
    if (endNanos === held.lastEndNanos) return { kind: 'retry', total: held.total, startNanos: held.startNanos };
    if (endNanos < held.lastEndNanos) return { kind: 'out_of_order' };
    held.total += amount;
    held.lastEndNanos = endNanos;
    return { kind: 'added', total: held.total, startNanos: held.startNanos };
  }

  /** The start of an UpDownCounter series (its value is a snapshot; only its start time is kept). */
  startOf(sourceKey: string, seriesKey: string, startNanos: bigint, endNanos: bigint, nowMs: number): bigint {
    const series = this.seriesOf(sourceKey, nowMs);
    let held = series.get(seriesKey);
    if (!held) {
      series.set(seriesKey, (held = { startNanos, total: 0, lastEndNanos: endNanos }));
      this.onStart();
    }
    return held.startNanos;
  }

  /** The source restarted (a MemStats counter went backwards, a new baseline): its series start over. Returns how many ended. */
  restart(sourceKey: string): number {
    const ended = this.sources.get(sourceKey)?.series.size ?? 0;
    this.sources.delete(sourceKey);
    return ended;
  }

  private seriesOf(sourceKey: string, nowMs: number): Map<string, Series> {
    this.evict(nowMs);
    let source = this.sources.get(sourceKey);
    if (!source) this.sources.set(sourceKey, (source = { series: new Map(), seenAtMs: nowMs }));
    source.seenAtMs = nowMs;
    return source.series;
  }

  /** A source silent for the TTL (gone, or removed from the configuration) is forgotten, so the map does not grow with every process that ever ran. */
  private evict(nowMs: number): void {
    for (const [key, source] of this.sources) {
      if (nowMs - source.seenAtMs > this.ttlMs) this.sources.delete(key);
    }
  }
}
