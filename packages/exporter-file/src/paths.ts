/**
 * Where each profile goes: `<service>/<YYYY-MM-DD>/<HHMMSS.fff>-<source>-<type>[-<n>].pprof`.
 * Service names, sources and types come from the network, so every segment is reduced to a
 * safe alphabet before it touches the file system.
 */
import path from 'node:path';

const MAX_SEGMENT_LENGTH = 100;

/**
 * One path segment that cannot climb out of its folder, hide itself or carry a separator
 * or a control character: anything outside `[A-Za-z0-9._-]` becomes `_`, and leading dots
 * (`.`, `..`, `.hidden`) become `_` too.
 */
export function sanitizeSegment(text: string, fallback: string): string {
  const safe = text
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, (dots) => '_'.repeat(dots.length))
    .slice(0, MAX_SEGMENT_LENGTH);
  return safe === '' ? fallback : safe;
}

/**
 * The folder name of a service. A service named like one of the exporter's own JSON Lines
 * files (`metrics.jsonl`) would otherwise become a folder where that file must go.
 */
export function serviceFolder(service: string | undefined): string {
  const safe = sanitizeSegment(service ?? '', 'unknown_service');
  return /\.jsonl$/i.test(safe) ? `${safe}_` : safe;
}

/** `2026-11-24` and `224000.000` in UTC, for a time in Unix nanoseconds. */
export function dateAndTime(nanos: bigint): { date: string; time: string } {
  const iso = new Date(Number(nanos / 1_000_000n)).toISOString();
  return { date: iso.slice(0, 10), time: `${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}` };
}

/**
 * The file name of a profile: `<time>-<source>-<type>.pprof`, or with `unique` (when that name is
 * taken) `<time>-<source>-<type>-<unique>.pprof`.
 */
export function profileFileName(time: string, source: string, type: string, unique?: string): string {
  const stem = `${time}-${sanitizeSegment(source, 'unknown_source')}-${sanitizeSegment(type, 'unknown')}`;
  return `${stem}${unique ? `-${unique}` : ''}.pprof`;
}

/**
 * Suffixes for names that are taken, unique without looking at the folder: this exporter's
 * start time and a counter (`mi4f0x9k-1`, `mi4f0x9k-2`, ...). Probing `-1`, `-2`, ... with
 * exclusive opens cost one open per file of the same name (quadratic over a run of
 * same-named profiles) and ran out after 10,000.
 */
export class UniqueSuffixes {
  private count = 0;
  private readonly run: string;
  constructor(startedAtMs: number = Date.now()) {
    this.run = startedAtMs.toString(36);
  }
  next(): string {
    return `${this.run}-${++this.count}`;
  }
}

/** True when `file` lies inside `root` (a last guard behind `sanitizeSegment`). */
export function isInside(root: string, file: string): boolean {
  const relative = path.relative(root, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}
