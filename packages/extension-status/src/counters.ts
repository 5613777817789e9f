/**
 * profcol's own counters, grouped by the component they belong to, as the boxes of the
 * pipeline graph show them: a short name, the reason or outcome when there is one, the value
 * summed over every other label (targets, types), so a receiver with a thousand targets still
 * draws as one small box.
 */
import type { Labels } from '@profcol/core';

export interface CounterRow {
  /** The metric name without `profcol_<kind>_` and `_total`: `accepted_uploads`, `queue_size`. */
  name: string;
  /** The reason, outcome or result it is split by, when it is. */
  by?: string;
  value: number;
}

/** Labels that split a counter into what a person reads as different numbers. */
const SPLITTING_LABELS = ['reason', 'outcome'];
/** Most rows one box shows: past it, the rest are summed into one row per name. */
export const MAX_ROWS_PER_COMPONENT = 40;

export function shortCounterName(name: string): string {
  return name
    .replace(/^profcol_(receiver|processor|exporter|extension|pipeline)_/, '')
    .replace(/^profcol_/, '')
    .replace(/_total$/, '');
}

/** `receiver:ddtrace`, `exporter:file`: the key of the component a series belongs to, or `pipeline:go`. */
export function ownerOf(labels: Labels): string | undefined {
  for (const kind of ['receiver', 'processor', 'exporter', 'extension'] as const) {
    const id = labels[kind];
    if (id !== undefined) return `${kind}:${id}`;
  }
  return labels['pipeline'] !== undefined ? `pipeline:${labels['pipeline']}` : undefined;
}

/** Every series of a telemetry snapshot, as rows by owner (see `ownerOf`); series without one go under `service`. */
export function countersByOwner(series: readonly { name: string; labels: Labels; value: number }[]): Map<string, CounterRow[]> {
  const sums = new Map<string, Map<string, CounterRow>>();
  for (const { name, labels, value } of series) {
    const owner = ownerOf(labels) ?? 'service';
    const by = SPLITTING_LABELS.map((key) => labels[key]).find((v) => v !== undefined);
    const rowKey = `${name}\u0000${by ?? ''}`;
    let rows = sums.get(owner);
    if (!rows) sums.set(owner, (rows = new Map()));
    const row = rows.get(rowKey);
    if (row) row.value += value;
    else rows.set(rowKey, { name: shortCounterName(name), ...(by !== undefined ? { by } : {}), value });
  }
  const out = new Map<string, CounterRow[]>();
  for (const [owner, rows] of sums) {
    const list = [...rows.values()].sort((a, b) => (a.name === b.name ? (a.by ?? '').localeCompare(b.by ?? '') : a.name.localeCompare(b.name)));
    out.set(owner, list.length <= MAX_ROWS_PER_COMPONENT ? list : foldSplits(list));
  }
  return out;
}

/** One row per name, the splits summed: what a box shows when its splits would not fit. */
function foldSplits(rows: CounterRow[]): CounterRow[] {
  const byName = new Map<string, number>();
  for (const row of rows) byName.set(row.name, (byName.get(row.name) ?? 0) + row.value);
  return [...byName].slice(0, MAX_ROWS_PER_COMPONENT).map(([name, value]) => ({ name, value }));
}
