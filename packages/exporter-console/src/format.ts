/**
 * Pure text rendering of bundles and metric points. Everything that came from the network
 * (service names, tags, profile names) goes through `printable` first, so an upload cannot
 * move the cursor or recolour the operator's terminal.
 */
import type { MetricPoint, Profile, ProfileBundle, TimeWindow } from '@profcol/core';

export type Verbosity = 'basic' | 'detailed';

// C0 controls, DEL and C1 controls: the bytes terminals interpret as commands.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Escapes control characters (`\n` → `\x0a`) so a value is always shown on one line, inert. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `key=value`, quoting values with spaces, quotes or `=` so the pairs stay unambiguous. */
function pair(key: string, value: string): string {
  const shown = /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  return `${printable(key)}=${printable(shown)}`;
}

export function formatPairs(record: Record<string, string>): string {
  return Object.entries(record)
    .map(([k, v]) => pair(k, v))
    .join(' ');
}

/** Binary sizes as people read them: `733B`, `39.9KiB`, `1.2MiB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)}${units[unit]}`;
}

const SIGNIFICANT_DIGITS = 6;

/**
 * A number for a human, in one format whatever its size, so a column of them lines up:
 * thousands separators from 1,000 on; whole numbers in full (a total of nanoseconds must not
 * lose digits); fractions with six significant digits, but never fewer than the digits of their
 * whole part (75,572,312.5 shows as 75,572,313, not 75572300); exponents only below 0.0001.
 */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (!Number.isInteger(value) && abs < 1e-4) return value.toExponential(SIGNIFICANT_DIGITS - 1).replace(/\.?0+e/, 'e');
  if (abs < 1) return String(Number(value.toPrecision(SIGNIFICANT_DIGITS)));
  const wholeDigits = Math.floor(Math.log10(abs)) + 1;
  return value.toLocaleString('en-US', { maximumFractionDigits: Math.max(0, SIGNIFICANT_DIGITS - wholeDigits) });
}

/** `2026-11-24T22:40:00Z`, with milliseconds only when there are some. */
export function formatTime(nanos: bigint): string {
  const iso = new Date(Number(nanos / 1_000_000n)).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso;
}

/** `+60s`, `+60.1s`, `+250ms`. */
export function formatDuration(nanos: bigint): string {
  const seconds = Number(nanos) / 1e9;
  if (seconds < 0) return `${formatNumber(seconds)}s`;
  if (seconds < 1) return `+${Math.round(seconds * 1000)}ms`;
  if (Number.isInteger(seconds)) return `+${seconds}s`;
  return `+${seconds.toFixed(1).replace(/\.0$/, '')}s`;
}

function formatWindow(window: TimeWindow): string {
  return `${formatTime(window.startNanos)} ${formatDuration(window.endNanos - window.startNanos)}`;
}

function who(resource: Record<string, string>): string {
  const service = resource['service'] ?? '-';
  return printable(resource['env'] ? `${service}/${resource['env']}` : service);
}

/**
 * A profile's size as received; when `pprof_decode` dropped those bytes (`keep_raw: false`), the
 * size of its decompressed protobuf, marked `decompressed`; `no data` when there is neither.
 */
export function profileSize(profile: Profile): string {
  if (profile.data.byteLength > 0) return formatSize(profile.data.byteLength);
  if (profile.decoded && profile.decoded.pprof.byteLength > 0) return `${formatSize(profile.decoded.pprof.byteLength)} decompressed`;
  return 'no data';
}

function profileSummary(profile: Profile): string {
  return `${printable(profile.type)} ${profileSize(profile)}${profile.delta ? ' (delta)' : ''}`;
}

/** One line per bundle: `ddtrace  go-demo/dev  2026-11-24T22:40:00Z +60s  cpu 39.9KiB, heap 15.3KiB (delta), metrics.json 8 values`. */
export function formatBundleLine(bundle: ProfileBundle): string {
  const parts = bundle.profiles.map(profileSummary);
  if (bundle.runtimeMetrics) parts.push(`metrics.json ${Object.keys(bundle.runtimeMetrics).length} values`);
  if (bundle.memStats) parts.push(`memstats ${Object.keys(bundle.memStats.values).length} values`);
  for (const attachment of bundle.attachments ?? []) parts.push(`${printable(attachment.name)} ${formatSize(attachment.data.byteLength)}`);
  return [printable(bundle.source), who(bundle.resource), formatWindow(bundle.window), parts.length > 0 ? parts.join(', ') : 'no profiles'].join('  ');
}

/** Aligns the columns of `rows`; `right` lists the columns to right-align (numbers). */
function alignRows(rows: string[][], right: ReadonlySet<number> = new Set()): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 && !right.has(i) ? cell : right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * The basic bundle line, then for `detailed` one line per profile (its sample types and
 * totals once `pprof_decode` ran), the runtime metrics, and every resource attribute and tag.
 */
export function formatBundle(bundle: ProfileBundle, verbosity: Verbosity): string[] {
  const lines = [formatBundleLine(bundle)];
  if (verbosity === 'basic') return lines;
  const rows: string[][] = bundle.profiles.map((profile) => {
    const decoded = profile.decoded;
    const detail = decoded
      ? `${decoded.sampleTypes.map((t, i) => `${printable(t.type)}/${printable(t.unit)} ${formatNumber(decoded.totals[i] ?? 0)}`).join(', ')}  (${formatNumber(decoded.sampleCount)} samples)`
      : '(not decoded)';
    return [printable(profile.type), printable(profile.name), profileSize(profile), detail];
  });
  if (bundle.runtimeMetrics)
    rows.push([
      'metrics.json',
      '',
      '',
      formatPairs(Object.fromEntries(Object.entries(bundle.runtimeMetrics).map(([k, v]) => [k, formatNumber(v).replaceAll(',', '')]))),
    ]);
  rows.push(['resource', '', '', formatPairs(bundle.resource)]);
  if (Object.keys(bundle.tags).length > 0) rows.push(['tags', '', '', formatPairs(bundle.tags)]);
  lines.push(...alignRows(rows, new Set([2])).map((line) => `    ${line}`));
  return lines;
}

function formatValue(point: MetricPoint): string {
  return formatNumber(point.value);
}

function keyAttributes(point: MetricPoint, verbosity: Verbosity): string {
  if (verbosity === 'detailed') return formatPairs({ ...point.resource, ...point.attributes });
  const key: Record<string, string> = {};
  if (point.resource['service'] !== undefined) key['service'] = point.resource['service'];
  if (point.resource['env'] !== undefined) key['env'] = point.resource['env'];
  return formatPairs({ ...key, ...point.attributes });
}

/** `gauge`, or `sum` with its monotonicity and temporality: `sum/monotonic/delta`, `sum/cumulative`. */
function sumKind(point: MetricPoint): string {
  if (point.kind !== 'sum') return 'gauge';
  return ['sum', ...(point.monotonic ? ['monotonic'] : []), point.temporality ?? 'cumulative'].join('/');
}

/**
 * A header line and one aligned row per point: name, value (right-aligned), unit and the
 * attributes that tell series apart (`detailed`: every attribute and resource attribute,
 * plus kind and the start of the window).
 */
export function formatMetricTable(points: MetricPoint[], verbosity: Verbosity): string[] {
  if (points.length === 0) return [];
  const times = new Set(points.map((p) => p.timeNanos));
  const sharedTime = times.size === 1 ? ` at ${formatTime(points[0]!.timeNanos)}` : '';
  const header = `metrics  ${points.length} ${points.length === 1 ? 'point' : 'points'}${sharedTime}`;
  const rows = points.map((point) => {
    const row = [printable(point.name), formatValue(point), point.unit === '1' ? '' : printable(point.unit)];
    if (verbosity === 'detailed') {
      row.push(sumKind(point));
      const start = point.startTimeNanos !== undefined ? `from ${formatTime(point.startTimeNanos)}` : '';
      row.push(sharedTime ? start : `${start ? `${start} ` : ''}at ${formatTime(point.timeNanos)}`);
    }
    row.push(keyAttributes(point, verbosity));
    return row;
  });
  return [header, ...alignRows(rows, new Set([1])).map((line) => `    ${line}`)];
}

/** Everything printed for one batch, newline-terminated, or `''` when there is nothing. */
export function formatBatch(batch: { bundles: ProfileBundle[]; metrics: MetricPoint[] }, verbosity: Verbosity): string {
  const lines = [...batch.bundles.flatMap((bundle) => formatBundle(bundle, verbosity)), ...formatMetricTable(batch.metrics, verbosity)];
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
