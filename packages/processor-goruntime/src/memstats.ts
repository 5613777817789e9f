import type { MemStats } from '@profcol/core';

/** Go keeps the last 256 GC pauses in `PauseNs`/`PauseEnd`; GC number n lives at `(n - 1) % 256`. */
const PAUSE_RING = 256;

/** Counters that only grow while a process lives; one going backwards means the target restarted. */
const MONOTONIC_COUNTERS = ['TotalAlloc', 'Mallocs', 'Frees', 'NumGC'] as const;

/** What two consecutive `# runtime.MemStats` trailers of one target say about the time between them. */
export interface MemStatsDelta {
  seconds: number;
  /** ΔTotalAlloc, bytes. */
  allocBytes?: number;
  /** ΔMallocs, objects. */
  mallocs?: number;
  /** ΔFrees, objects. */
  frees?: number;
  /** ΔHeapAlloc, bytes; negative when the heap shrank. */
  heapAllocChange?: number;
  /** ΔNumGC. */
  gcs?: number;
  /** Σ of the pauses of the GCs that completed between the two trailers, ns. */
  pauseTotalNs?: number;
  /** The longest of those pauses, ns (0 when no GC completed). */
  maxPauseNs?: number;
  /** GCs that completed in between but had already left the 256-entry ring (their pauses are missing from the sums). */
  pausesMissed: number;
}

export type MemStatsOutcome =
  | { kind: 'delta'; delta: MemStatsDelta }
  /** The first trailer of a target (or the first after a restart or a long silence): kept, nothing derived. */
  | { kind: 'baseline' }
  | { kind: 'restart'; counter: string }
  /** Older than the trailer already held for this target; ignored. */
  | { kind: 'out_of_order' };

function finite(values: Record<string, number>, key: string): number | undefined {
  const value = values[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function difference(prev: MemStats, cur: MemStats, key: string): number | undefined {
  const before = finite(prev.values, key);
  const after = finite(cur.values, key);
  return before === undefined || after === undefined ? undefined : after - before;
}

/**
 * The pauses of the GCs numbered prev.NumGC+1 … cur.NumGC, read from the newest trailer's ring.
 * Selecting by GC number is what "PauseEnd inside the window" means, without depending on the
 * collector's clock agreeing with the target's; without NumGC the PauseEnd test is the fallback.
 */
function selectPauses(prev: MemStats, cur: MemStats): { pauses: number[]; missed: number } | undefined {
  if (cur.pauseNs.length === 0) return undefined;
  const prevGcs = finite(prev.values, 'NumGC');
  const curGcs = finite(cur.values, 'NumGC');
  if (prevGcs !== undefined && curGcs !== undefined) {
    const completed = curGcs - prevGcs;
    const inRing = Math.min(completed, PAUSE_RING, cur.pauseNs.length);
    const pauses: number[] = [];
    for (let n = curGcs; n > curGcs - inRing; n--) {
      const pause = cur.pauseNs[(n - 1) % PAUSE_RING];
      if (pause !== undefined) pauses.push(pause);
    }
    return { pauses, missed: Math.max(0, completed - PAUSE_RING) };
  }
  const pauses: number[] = [];
  cur.pauseNs.forEach((pause, i) => {
    const end = cur.pauseEnd[i];
    if (end !== undefined && end > prev.readAtNanos && end <= cur.readAtNanos) pauses.push(pause);
  });
  return { pauses, missed: 0 };
}

/** Derives the D6 figures from two trailers of the same target, `prev` read before `cur`. */
export function memStatsDelta(prev: MemStats, cur: MemStats): MemStatsOutcome {
  for (const counter of MONOTONIC_COUNTERS) {
    const change = difference(prev, cur, counter);
    if (change !== undefined && change < 0) return { kind: 'restart', counter };
  }
  const seconds = Number(cur.readAtNanos - prev.readAtNanos) / 1e9;
  const selected = selectPauses(prev, cur);
  const delta: MemStatsDelta = { seconds, pausesMissed: selected?.missed ?? 0 };
  const allocBytes = difference(prev, cur, 'TotalAlloc');
  const mallocs = difference(prev, cur, 'Mallocs');
  const frees = difference(prev, cur, 'Frees');
  const heapAllocChange = difference(prev, cur, 'HeapAlloc');
  const gcs = difference(prev, cur, 'NumGC');
  if (allocBytes !== undefined) delta.allocBytes = allocBytes;
  if (mallocs !== undefined) delta.mallocs = mallocs;
  if (frees !== undefined) delta.frees = frees;
  if (heapAllocChange !== undefined) delta.heapAllocChange = heapAllocChange;
  if (gcs !== undefined) delta.gcs = gcs;
  if (selected) {
    delta.pauseTotalNs = selected.pauses.reduce((sum, pause) => sum + pause, 0);
    delta.maxPauseNs = selected.pauses.reduce((max, pause) => Math.max(max, pause), 0);
  }
  return { kind: 'delta', delta };
}

interface TargetState {
  /** The trailer before `latest`, kept so that a retried batch derives the same values again. */
  previous: MemStats | undefined;
  latest: MemStats;
  seenAtMs: number;
}

/**
 * The newest MemStats trailer of each pulled target. Bounded by time: a target not seen for
 * `ttlMs` is forgotten (it was removed from the configuration, or it is down), so the map does
 * not grow with every target that ever existed.
 */
export class MemStatsBaselines {
  private readonly targets = new Map<string, TargetState>();

  constructor(private readonly ttlMs: number) {}

  get size(): number {
    return this.targets.size;
  }

  next(key: string, memStats: MemStats, nowMs: number): MemStatsOutcome | { kind: 'retry'; outcome: MemStatsOutcome } {
    this.evict(nowMs);
    const state = this.targets.get(key);
    if (!state) {
      this.targets.set(key, { previous: undefined, latest: memStats, seenAtMs: nowMs });
      return { kind: 'baseline' };
    }
    state.seenAtMs = nowMs;
    if (memStats.readAtNanos === state.latest.readAtNanos) {
      // The same round again: a receiver retrying a batch the pipeline refused.
      return { kind: 'retry', outcome: state.previous ? memStatsDelta(state.previous, memStats) : { kind: 'baseline' } };
    }
    if (memStats.readAtNanos < state.latest.readAtNanos) return { kind: 'out_of_order' };
    const outcome = memStatsDelta(state.latest, memStats);
    state.previous = outcome.kind === 'restart' ? undefined : state.latest;
    state.latest = memStats;
    return outcome;
  }

  private evict(nowMs: number): void {
    for (const [key, state] of this.targets) {
      if (nowMs - state.seenAtMs > this.ttlMs) this.targets.delete(key);
    }
  }
}
