#!/usr/bin/env node
// `pnpm bench`: builds (tsc -b), runs every bench in sequence (never two at once: each needs the
// machine's cores to itself), each as `node bench/<name>.mjs [--smoke] --json=<tmp>`, then prints
// ONE table of every figure beside its baseline and writes it as JSON.
// Usage: node bench/run.mjs [--smoke] [--no-build] [--only=push,memory] [--out=<file>]
// Output: bench/results/latest.json (latest-smoke.json with --smoke), or --out.
// Exit code 0 when every bench ran and wrote its rows; goals missed are in the table and in the
// `goals: N met, N missed` line, not in the exit code.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { goVersion } from './lib/cache.mjs';
import { start } from './lib/children.mjs';
import { markdownTable, parseArgs } from './lib/results.mjs';

/** Every bench, in the order they run. */
const BENCHES = [
  { name: 'derive', what: 'derivation vs Go profile.Parse + sum vs decompression alone' },
  { name: 'push', what: 'push ingest: closed and open loop vs a bare node:http server and a Go DataKit-like server' },
  { name: 'pull', what: '1,000 fake net/http/pprof targets: rounds on time, CPU, RSS' },
  { name: 'memory', what: 'two upload bursts: peak and settled RSS, refusals' },
];

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = path.join(here, '..');
const { smoke, options } = parseArgs();
const only = typeof options.only === 'string' ? options.only.split(',') : undefined;
const unknown = only?.filter((name) => !BENCHES.some((b) => b.name === name)) ?? [];
if (unknown.length > 0) {
  console.error(`bench: --only names ${unknown.join(', ')}, which is not a bench; the benches are ${BENCHES.map((b) => b.name).join(', ')}`);
  process.exit(2);
}
const out = path.resolve(typeof options.out === 'string' ? options.out : path.join(here, 'results', smoke ? 'latest-smoke.json' : 'latest.json'));

if (options['no-build'] !== true) {
  console.error('building: pnpm exec tsc -b');
  const built = spawnSync('pnpm', ['exec', 'tsc', '-b'], { cwd: repoRoot, stdio: 'inherit' });
  if (built.error || built.status !== 0) {
    console.error(
      `bench: the build failed (${built.error?.message ?? `tsc -b exited ${built.status}`}); run \`pnpm install --frozen-lockfile\` first, then \`pnpm exec tsc -b\` to see why`,
    );
    process.exit(1);
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-bench-run-'));
const results = [];
for (const bench of BENCHES.filter((b) => !only || only.includes(b.name))) {
  const file = path.join(here, `${bench.name}.mjs`);
  // The 1-minute load average when the bench starts: above the core count, other work shared the
  // machine, and only same-run comparisons with the baselines mean anything.
  const entry = {
    name: bench.name,
    what: bench.what,
    file: path.relative(repoRoot, file),
    status: 'ok',
    exitCode: null,
    seconds: 0,
    loadAverage1m: os.loadavg()[0],
    rows: [],
  };
  results.push(entry);
  if (!fs.existsSync(file)) {
    entry.status = 'missing';
    entry.error = `${entry.file} does not exist`;
    console.error(`\n== ${bench.name}: MISSING (${entry.error})`);
    continue;
  }
  const json = path.join(tmp, `${bench.name}.json`);
  console.error(`\n== ${bench.name}: node ${entry.file}${smoke ? ' --smoke' : ''} --json=${json}`);
  const began = performance.now();
  const child = start(process.execPath, [file, ...(smoke ? ['--smoke'] : []), `--json=${json}`], {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit'],
    killSignal: 'SIGTERM', // so the bench, interrupted, kills its own servers and generators
  });
  const { code, signal } = await child.exited;
  entry.seconds = (performance.now() - began) / 1000;
  entry.exitCode = code;
  try {
    const written = JSON.parse(fs.readFileSync(json, 'utf8'));
    if (!Array.isArray(written.rows) || written.rows.length === 0) throw new Error('it has no rows');
    entry.rows = written.rows;
  } catch (error) {
    entry.status = 'failed';
    entry.error = `${fs.existsSync(json) ? `its --json file is unusable: ${error.message}` : 'it wrote no --json file'}`;
  }
  if (code !== 0) {
    entry.status = 'failed';
    entry.error = `exited with ${code ?? signal}${entry.error ? `; ${entry.error}` : entry.rows.length ? ' after writing its rows (shown); the contract is exit 0 whenever the bench ran, whatever the goals' : ''}`;
  }
  if (entry.status !== 'ok') console.error(`== ${bench.name}: FAILED (${entry.error})`);
}
fs.rmSync(tmp, { recursive: true, force: true });

const rows = results.flatMap((b) =>
  b.status === 'ok' || b.rows.length > 0
    ? b.rows.map((r) => ({ bench: b.name, ...r }))
    : [{ bench: b.name, figure: `${b.status.toUpperCase()}: ${b.error}`, value: null, unit: '', baseline: null, goal: null, pass: null, note: '' }],
);
const withGoal = rows.filter((r) => r.pass === true || r.pass === false);
const met = withGoal.filter((r) => r.pass).length;
const missed = withGoal.length - met;
const ran = results.filter((b) => b.status === 'ok').length;
const problems = results.filter((b) => b.status !== 'ok');

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
  platform: `${process.platform}/${process.arch}`,
  node: process.version,
  go: goVersion() ?? null,
};
const title = `pnpm bench${smoke ? ' --smoke' : ''}: ${new Date().toISOString()}, ${machine.cpus} cores (${machine.cpuModel}), ${machine.node}, ${machine.go ?? 'no Go'}`;
console.log(`\n## ${title}\n\nEvery baseline was measured in the same run, on the same machine.\n\n${markdownTable(rows, { bench: true })}\n`);
console.log(`load average (1 min) as each bench started: ${results.map((b) => `${b.name} ${b.loadAverage1m.toFixed(1)}`).join(', ')} (${machine.cpus} cores)`);
console.log(
  `benches: ${ran} ran, ${problems.filter((b) => b.status === 'failed').length} failed, ${problems.filter((b) => b.status === 'missing').length} missing${problems.length ? ` (${problems.map((b) => `${b.name}: ${b.status}`).join(', ')})` : ''}`,
);
console.log(`goals: ${met} met, ${missed} missed`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${JSON.stringify({ title, date: new Date().toISOString(), smoke, machine, goals: { met, missed }, benches: results }, null, 2)}\n`);
console.log(`written: ${out.startsWith(process.cwd() + path.sep) ? path.relative(process.cwd(), out) : out}`);
process.exit(problems.length === 0 ? 0 : 1);
