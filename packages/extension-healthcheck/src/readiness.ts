/** Whether profcol should be sent traffic: started, not stopping, no exporter stuck. */
import { formatDurationMs, type HostState } from '@profcol/core';
import type { ExporterProgress } from './stuck-exporters.js';

export interface Readiness {
  ready: boolean;
  /** The host's state, or `unknown` for a host that does not report one. */
  state: HostState | 'unknown';
  /** Why not ready, one sentence each; empty when ready. */
  reasons: string[];
  exporters: Record<string, ExporterProgress>;
}

const STATE_REASONS: Partial<Record<HostState, string>> = {
  created: 'profcol has not started its components yet',
  starting: 'profcol is starting its components',
  stopping: 'profcol is shutting down',
  stopped: 'profcol has stopped',
};

export function assessReadiness(state: HostState | undefined, exporters: Record<string, ExporterProgress>, stuckAfterMs: number): Readiness {
  const reasons: string[] = [];
  const stateReason = state === undefined ? undefined : STATE_REASONS[state];
  if (stateReason) reasons.push(stateReason);
  for (const [id, progress] of Object.entries(exporters)) {
    if (!progress.stuck) continue;
    reasons.push(
      `exporter "${id}" is stuck: ${progress.pending} ${progress.pending === 1 ? 'request has' : 'requests have'} waited ${formatDurationMs(progress.waitingMs)} with none delivered or dropped (stuck_after ${formatDurationMs(stuckAfterMs)}); check its destination`,
    );
  }
  return { ready: reasons.length === 0, state: state ?? 'unknown', reasons, exporters };
}
