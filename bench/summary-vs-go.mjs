#!/usr/bin/env node
// The Go baseline of @profcol/pprof's summary, on the same data: for each profile, the time of
//  - summarizePprof (@profcol/pprof: one streaming pass, totals per sample type),
//  - pprof-format's full Profile.decode (what a JS collector would otherwise use),
//  - github.com/google/pprof's profile.Parse plus summing every sample's values per sample type
//    (bench/go-summary, built once into the profcol cache dir),
// on the raw protobuf (gzip files are inflated first, on both sides), after checking that Go and
// summarizePprof agree on the sample types, the sample count and every total.
// Profiles: four fixtures and two synthetic Go-like CPU profiles (40,000 and 200,000 samples) that
// go-summary writes reproducibly (fixed seed) into the cache dir.
// Usage: pnpm exec tsc -b packages/pprof && node bench/summary-vs-go.mjs
// Env: PROFCOL_GO (go binary, default `go`), PROFCOL_CACHE_DIR (default $XDG_CACHE_HOME/profcol or ~/.cache/profcol).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { summarizePprof } from '@profcol/pprof';
import { Profile } from 'pprof-format';
import { time } from './timing.mjs';

const GO = process.env.PROFCOL_GO ?? 'go';
const goDir = fileURLToPath(new URL('./go-summary/', import.meta.url));
const fixtures = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
const cacheDir = path.join(
  process.env.PROFCOL_CACHE_DIR || (process.env.XDG_CACHE_HOME ? path.join(process.env.XDG_CACHE_HOME, 'profcol') : path.join(os.homedir(), '.cache', 'profcol')),
  'bench',
);
const SYNTHETIC_SAMPLES = [40_000, 200_000];
const MIN_MS = 300;

/** go-summary, built once per (toolchain, sources) into <cache>/bench/go-summary-<hash>/. */
function buildGoSummary() {
  const h = createHash('sha256');
  h.update(execFileSync(GO, ['version'], { encoding: 'utf8' }));
  for (const name of fs.readdirSync(goDir).filter((n) => n === 'go.mod' || n === 'go.sum' || n.endsWith('.go')).sort()) {
    h.update(`${name}\0`);
    h.update(fs.readFileSync(path.join(goDir, name)));
  }
  const dir = path.join(cacheDir, `go-summary-${h.digest('hex').slice(0, 16)}`);
  const bin = path.join(dir, 'go-summary');
  if (fs.existsSync(bin)) return bin;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    console.error(`building ${goDir} → ${bin}`);
    execFileSync(GO, ['build', '-buildvcs=false', '-o', path.join(tmp, 'go-summary'), '.'], { cwd: goDir, stdio: ['ignore', 'inherit', 'inherit'] });
    fs.renameSync(tmp, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}


const fmt = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`);

const bin = buildGoSummary();
const files = [
  ['ddtrace-go/cpu.pprof', path.join(fixtures, 'ddtrace-go/cpu.pprof')],
  ['ddtrace-go/delta-heap.pprof', path.join(fixtures, 'ddtrace-go/delta-heap.pprof')],
  ['go-pprof/profile.pprof', path.join(fixtures, 'go-pprof/profile.pprof')],
  ['go-pprof/heap.pprof', path.join(fixtures, 'go-pprof/heap.pprof')],
];
for (const n of SYNTHETIC_SAMPLES) {
  const file = path.join(cacheDir, `synthetic-cpu-${n}.pprof`);
  execFileSync(bin, ['-write-synthetic', file, '-samples', String(n)]);
  files.push([`synthetic ${n / 1000}k-sample cpu`, file]);
}

// Go first, alone, then Node: the two never compete for the CPU.
const goResults = execFileSync(bin, ['-min-ms', String(MIN_MS), ...files.map(([, f]) => f)], { encoding: 'utf8', maxBuffer: 1 << 24 })
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line));

const rows = [];
for (const [i, [name, file]] of files.entries()) {
  const bytes = fs.readFileSync(file);
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const go = goResults[i];
  const summary = summarizePprof(raw);
  const types = summary.sampleTypes.map((t) => `${t.type}/${t.unit}`);
  const problems = [];
  if (go.file !== file) problems.push(`Go answered for ${go.file}`);
  if (go.bytes !== raw.length) problems.push(`${go.bytes} raw bytes in Go, ${raw.length} in Node`);
  if (go.samples !== summary.sampleCount) problems.push(`${go.samples} samples in Go, ${summary.sampleCount} in summarizePprof`);
  if (types.join() !== go.sample_types.join()) problems.push(`sample types ${go.sample_types.join()} in Go, ${types.join()} in summarizePprof`);
  types.forEach((t, k) => {
    if (go.totals[k] !== summary.totals[k]) problems.push(`${t} total ${go.totals[k]} in Go, ${summary.totals[k]} in summarizePprof`);
  });
  const decoded = Profile.decode(raw);
  if (decoded.sample.length !== summary.sampleCount) problems.push(`${decoded.sample.length} samples in pprof-format, ${summary.sampleCount} in summarizePprof`);
  if (problems.length) throw new Error(`${name}: Go and profcol disagree:\n  ${problems.join('\n  ')}`);
  const fast = time(() => summarizePprof(raw));
  const full = time(() => Profile.decode(raw));
  rows.push([name, raw.length, summary.sampleCount, types, fast, full, go.ms_per_parse_and_sum]);
}

const goVersion = execFileSync(GO, ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
console.log(`${new Date().toISOString()}: Node ${process.version}, ${goVersion}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${os.platform()}/${os.arch()}`);
console.log('Totals per sample type agree between Go profile.Parse and summarizePprof on every profile.\n');
console.log('| profile (raw protobuf) | bytes | samples | profcol summarizePprof | pprof-format decode | Go profile.Parse + sum | Go ÷ summarizePprof |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [name, bytes, samples, , fast, full, goMs] of rows) {
  console.log(`| ${name} | ${bytes.toLocaleString('en')} | ${samples.toLocaleString('en')} | ${fmt(fast)} | ${fmt(full)} | ${fmt(goMs)} | ${(goMs / fast).toFixed(1)}x |`);
}
