/**
 * Which exporters are stuck: their sending queue holds requests and none has left it (delivered
 * or dropped) for `stuck_after`. Read from the exporter helper's own metrics, so it covers every
 * exporter built on it (`otlp`, `file`, third-party ones) without a hook in each.
 */
import type { Telemetry } from '@profcol/core';

/** What the exporter helper of `exporter` reports: requests held, and requests that left the queue so far. */
export interface QueueReading {
  pending: number;
  left: number;
}

/** The exporter helper's counters that move when a request leaves its queue (see core's exporter-helper.ts). */
const LEAVING_COUNTERS = [
  'profcol_exporter_sent_requests_total',
  // A dropped request (permanent error, retries exhausted) left the queue too: the queue moves.
  'profcol_exporter_send_failed_metric_points_total',
  'profcol_exporter_send_failed_bundles_total',
  'profcol_exporter_queue_corrupt_files_total',
];

export function readQueue(telemetry: Pick<Telemetry, 'value'>, exporter: string): QueueReading {
  const match = { exporter };
  return {
    pending: telemetry.value('profcol_exporter_queue_size', match),
    left: LEAVING_COUNTERS.reduce((sum, name) => sum + telemetry.value(name, match), 0),
  };
}

export interface ExporterProgress {
  /** Requests held by its sending queue (waiting or being sent). */
  pending: number;
  /** How long requests have been held with none leaving the queue (0 when idle or moving). */
  waitingMs: number;
  stuck: boolean;
}

/**
 * Remembers, per exporter, since when its queue has held requests without one leaving. Each
 * `observe` is one look (a probe): progress between two looks resets the wait, so the wait is
 * measured from the first look that saw the queue standing still.
 */
export class StuckExporterDetector {
  private readonly seen = new Map<string, { left: number; sinceMs: number }>();

  constructor(private readonly stuckAfterMs: number) {}

  observe(exporter: string, reading: QueueReading, nowMs: number): ExporterProgress {
    const previous = this.seen.get(exporter);
    const moving = !previous || reading.pending === 0 || reading.left !== previous.left;
    const sinceMs = moving ? nowMs : previous.sinceMs;
    this.seen.set(exporter, { left: reading.left, sinceMs });
    const waitingMs = reading.pending > 0 ? nowMs - sinceMs : 0;
    return { pending: reading.pending, waitingMs, stuck: this.stuckAfterMs > 0 && reading.pending > 0 && waitingMs >= this.stuckAfterMs };
  }
}
