// The bench contract (see bench/README.md): `node bench/<name>.mjs [--smoke] [--json=<file>]`
// prints a Markdown table and, with --json, writes
// { name, rows: [{ figure, value, unit, baseline: { name, value, unit } | null, goal, pass, note }] }.
import fs from 'node:fs';
import path from 'node:path';

/** `--smoke` and `--json=<file>` from argv; any other `--key=value` lands in `options`. */
export function parseArgs(argv = process.argv.slice(2)) {
  const options = {};
  for (const arg of argv) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unexpected argument "${arg}"; expected --smoke, --json=<file> or --<option>=<value>`);
    options[match[1]] = match[2] ?? true;
  }
  return { smoke: options.smoke === true, json: typeof options.json === 'string' ? options.json : undefined, options };
}

/** One result row; `baseline` is [name, value, unit] or null. */
export function row(figure, value, unit, baseline = null, { goal = null, pass = null, note = '' } = {}) {
  return {
    figure,
    value,
    unit,
    baseline: baseline ? { name: baseline[0], value: baseline[1], unit: baseline[2] ?? unit } : null,
    goal,
    pass,
    note,
  };
}

/** A number as people read it: 1,234 / 12.3 / 0.123. */
export function formatNumber(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

const cell = (text) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' ');

/** Markdown table of rows; with `bench`, a first column names each row's bench. */
export function markdownTable(rows, { bench } = {}) {
  const head = [...(bench ? ['bench'] : []), 'figure', 'value', 'baseline', 'goal', 'met', 'note'];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    const value = r.value === null || r.value === undefined ? '–' : `${formatNumber(r.value)} ${r.unit}`;
    const baseline = r.baseline ? `${formatNumber(r.baseline.value)} ${r.baseline.unit} (${r.baseline.name})` : '–';
    const met = r.pass === true ? 'yes' : r.pass === false ? '**NO**' : '–';
    lines.push(`| ${[...(bench ? [r.bench] : []), r.figure, value, baseline, r.goal ?? '–', met, r.note ?? ''].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Prints the table and writes the JSON file when asked. */
export function report(name, rows, { json } = {}) {
  console.log(`\n### ${name}\n\n${markdownTable(rows)}\n`);
  if (json) {
    fs.mkdirSync(path.dirname(path.resolve(json)), { recursive: true });
    fs.writeFileSync(json, `${JSON.stringify({ name, rows }, null, 2)}\n`);
  }
}

export const MiB = 1024 * 1024;
