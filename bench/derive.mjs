#!/usr/bin/env node
// Derivation vs Go vs decompression (issue 9, goals 1 and 5), every figure beside its baseline
// measured in the same run:
//  1. derive = @profcol/pprof's summarizePprof (sample types, totals, counts, time, period) plus,
//     for CPU profiles, the GC-frame attribution (stackFilters: [GC_STACK_FILTER]), on the raw
//     protobuf, against Go's github.com/google/pprof profile.Parse + a sum over every sample
//     (bench/go-summary) on the same bytes: every fixture in test/fixtures/{ddtrace-go,go-pprof}
//     and synthetic Go-like CPU profiles of 40,000 and 200,000 samples (go-summary
//     -write-synthetic). Goal: >= 8x faster than Go. Go and profcol must agree on every total,
//     and stackTotals.gc must equal sumSamplesWhere's, or the bench fails.
//  2. derive from the compressed bytes as received (decompressAndSummarize: gzip, and zstd frames
//     without a content size as dd-trace-go streams them) against decompression alone.
//     Goal: <= 1.5x decompression alone.
//  3. decompression: gzip by node:zlib, zstd by every backend this runtime has (runtime
//     zlib.zstdDecompressSync, the @toondepauw/node-zstd native binding, the libzstd WebAssembly
//     driver, fzstd), and registry candidates that are not dependencies (fflate, @mongodb-js/zstd) when
//     $PROFCOL_BENCH_CANDIDATES names a node_modules folder that has them. With
//     $PROFCOL_ALT_NODE (e.g. a Node 24 binary), the zstd rows are measured under it too.
// Timing of 1: Node warms up on every file for a third of --min-ms (so that the JIT's optimized
// code is what is timed; Go takes 3 warm-up calls), then Go and Node alternate in 5 rounds, each
// file for --min-ms / 5 (default 300 in all) in batches, the mean per call; the figures are the
// medians of the rounds, the ratio the median of the rounds' ratios (see ROUNDS).
// Usage: pnpm exec tsc -b && node bench/derive.mjs [--smoke] [--json=<file>] [--min-ms=300] [--zstd-only]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as zlib from 'node:zlib';
import {
  GC_STACK_FILTER,
  GO_GC_FRAMES,
  decompressAndSummarize,
  decompress,
  decompressZstdWith,
  summarizePprof,
  sumSamplesWhere,
  zstdBackends,
} from '@profcol/pprof';
import { benchCacheDir, buildGo, goVersion } from './lib/cache.mjs';
import { formatNumber, parseArgs, report, row } from './lib/results.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const fixtures = path.join(here, '..', 'test', 'fixtures');
const { smoke, json, options } = parseArgs();
const minMs = Number(options['min-ms'] ?? (smoke ? 20 : 300));
const zstdOnly = options['zstd-only'] === true;
const SYNTHETIC_SAMPLES = smoke ? [40_000] : [40_000, 200_000];
const MAX = 1 << 30;

/**
 * Mean ms per call of `fn`: warm-up calls for a third of `ms` (at least 3), then batches (no
 * clock read per call) until `ms`. The warm-up is by time, not by count: V8 optimizes a hot
 * function on a background thread after some hundreds of calls, and on this 2-core machine
 * 3 warm-up calls left the first ~50 ms of the timed window to unoptimized code (a 40k-byte
 * CPU profile measured 82-87 µs with them, 55 µs once optimized, same process). Go's
 * side is compiled ahead of time and needs no such warm-up.
 */
function time(fn, ms = minMs) {
  const warm = performance.now();
  for (let i = 0; i < 3 || performance.now() - warm < ms / 3; i++) fn();
  let calls = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) fn();
    calls += batch;
    elapsed = performance.now() - start;
    if (elapsed < ms / 20) batch *= 2;
  }
  return elapsed / calls;
}

/**
 * Two functions timed in alternating rounds (A, B, A, B…, 7 rounds of about `ms` / 7 each
 * after a warm-up of both): the medians of A and of B, and the median of the rounds' B ÷ A. A
 * ratio of two figures measured one after the other moved by a third when other work on this
 * shared machine came and went between them (seen: 1.43x, then 1.66x, for the same code);
 * rounds that alternate see the same machine.
 */
function timeInterleaved(fnA, fnB, ms = minMs) {
  time(fnA, ms / 6);
  time(fnB, ms / 6);
  const as = [];
  const bs = [];
  const ratios = [];
  for (let round = 0; round < 7; round++) {
    const a = timeCalls(fnA, ms / 14);
    const b = timeCalls(fnB, ms / 14);
    as.push(a);
    bs.push(b);
    ratios.push(b / a);
  }
  const median = (values) => values.sort((x, y) => x - y)[values.length >> 1];
  return { a: median(as), b: median(bs), ratio: median(ratios) };
}

/** Mean ms per call of `fn` over at least one call and about `ms` (no warm-up). */
function timeCalls(fn, ms) {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (calls === 0 || elapsed < ms) {
    fn();
    calls++;
    elapsed = performance.now() - start;
  }
  return elapsed / calls;
}

const fmtMs = (ms) => (ms < 1 ? `${formatNumber(ms * 1000)} µs` : `${formatNumber(ms)} ms`);
const isGzip = (b) => b[0] === 0x1f && b[1] === 0x8b;
const u8 = (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** zstd without a content size, as dd-trace-go streams it: the zstd CLI reading stdin, else the runtime's encoder with no pledged size. */
function zstdStream(raw) {
  try {
    return u8(execFileSync('zstd', ['-3', '-q', '-c'], { input: raw, maxBuffer: MAX }));
  } catch {
    return undefined;
  }
}

/** zstd with a content size in the frame header (what the native backend takes; dd-trace-go v2's attachments have one). */
function zstdSized(raw) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-zstd-'));
  try {
    fs.writeFileSync(path.join(dir, 'raw'), raw);
    execFileSync('zstd', ['-3', '-q', '-f', path.join(dir, 'raw'), '-o', path.join(dir, 'raw.zst')]);
    return u8(fs.readFileSync(path.join(dir, 'raw.zst')));
  } catch {
    return undefined;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function candidates() {
  const dir = process.env.PROFCOL_BENCH_CANDIDATES;
  if (!dir) return {};
  const require = createRequire(path.join(path.resolve(dir), 'noop.js'));
  const load = (name) => {
    try {
      return require(name);
    } catch {
      return undefined;
    }
  };
  return { fflate: load('fflate'), mongodb: load('@mongodb-js/zstd') };
}

const rows = [];
const env = `Node ${process.version}`;

function syntheticProfiles(bin) {
  return SYNTHETIC_SAMPLES.map((n) => {
    // The name changes with the generator (v2: with GC frames), so a cached file is never stale.
    const file = path.join(benchCacheDir(), `synthetic-cpu-v2-${n}.pprof`);
    if (!fs.existsSync(file)) execFileSync(bin, ['-write-synthetic', file, '-samples', String(n)]);
    return [`synthetic ${n / 1000}k-sample cpu`, file];
  });
}

/** The zstd rows: every backend of this runtime (and the candidates) on the synthetic profiles. */
function zstdRows(profiles) {
  const extra = candidates();
  for (const [name, raw] of profiles) {
    const frame = zstdStream(raw);
    const sized = zstdSized(raw);
    if (!frame || !sized) {
      rows.push(row(`zstd decode: ${name}`, null, 'ms', null, { note: 'zstd CLI not installed (apt-get install -y zstd): no zstd rows' }));
      continue;
    }
    const label = {
      node: 'runtime zlib.zstdDecompressSync',
      native: '@toondepauw/node-zstd native (its frame declares a content size)',
      wasm: 'libzstd wasm driver',
      js: 'fzstd (pure JS)',
    };
    const decoders = zstdBackends().map((b) => [`@profcol/pprof ${label[b]}`, () => decompressZstdWith(b, b === 'native' ? sized : frame, MAX)]);
    for (const [label, fn] of decoders) if (!same(fn(), raw)) throw new Error(`${label}: wrong output for ${name}`);
    const wasmMs = zstdBackends().includes('wasm') ? time(() => decompressZstdWith('wasm', frame, MAX)) : undefined;
    for (const [label, fn] of decoders) {
      const ms = label.includes('wasm') && wasmMs !== undefined ? wasmMs : time(fn);
      rows.push(
        row(`zstd decode (${env}): ${name}, ${label}`, ms, 'ms', wasmMs !== undefined ? ['libzstd wasm driver, same run', wasmMs, 'ms'] : null, {
          note: `${formatNumber(raw.length / 1e6 / (ms / 1000))} MB/s`,
        }),
      );
    }
    if (extra.mongodb) {
      // Asynchronous only (a thread-pool job per call), so it cannot serve the synchronous decoder; timed for the record.
      mongoPending.push([name, frame, raw, extra.mongodb, wasmMs]);
    }
  }
}
const mongoPending = [];

/** The zstd attachments of the real dd-trace-go v2 upload (the event and the dropped go.trace left out). */
function uploadAttachments() {
  const dir = path.join(here, '..', 'test', 'fixtures', 'ddtrace-go-v2');
  const boundary = /boundary=(\S+)/.exec(fs.readFileSync(path.join(dir, 'upload.headers.txt'), 'utf8'))[1];
  const body = fs.readFileSync(path.join(dir, 'upload.body.bin')).toString('latin1');
  return body
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((part) => {
      const at = part.indexOf('\r\n\r\n');
      return { head: part.slice(0, at), data: u8(Buffer.from(part.slice(at + 4, -2), 'latin1')) };
    })
    .filter(({ head }) => !/name="(event|go\.trace)"/.test(head))
    .map(({ data }) => data);
}

/**
 * Small frames: the six attachments of one real upload, as `decompress` chooses and with each
 * backend alone. Per call the native binding makes a decoding context and the runtime's zstd
 * a stream, which costs more than these frames take to decode.
 */
function uploadZstdRows() {
  const frames = uploadAttachments();
  const all = (fn) => () => {
    for (const frame of frames) fn(frame);
  };
  const expected = frames.map((frame) => decompressZstdWith('js', frame, MAX));
  const nativeMs = zstdBackends().includes('native') ? time(all((frame) => decompressZstdWith('native', frame, MAX))) : undefined;
  const name = `the ${frames.length} zstd attachments of a dd-trace-go v2 upload (${formatNumber(frames.reduce((n, f) => n + f.length, 0))} B)`;
  const decoders = [['decompress() (in use: wasm up to 12 KiB declared, then native/runtime)', (frame) => decompress(frame, { maxBytes: MAX })]];
  for (const b of zstdBackends().filter((b) => b !== 'js')) decoders.push([`${b} only`, (frame) => decompressZstdWith(b, frame, MAX)]);
  for (const [label, fn] of decoders) {
    if (!frames.every((frame, i) => same(fn(frame), expected[i]))) throw new Error(`${label}: wrong output for ${name}`);
    const ms = label === 'native only' && nativeMs !== undefined ? nativeMs : time(all(fn));
    rows.push(
      row(`zstd decode (${env}): ${name}, ${label}`, ms, 'ms', nativeMs !== undefined ? ['native binding for all, same run', nativeMs, 'ms'] : null, {
        note: nativeMs !== undefined ? `${formatNumber(ms / nativeMs)}x the native binding's time` : undefined,
      }),
    );
  }
}

async function mongoRows() {
  for (const [name, frame, raw, mongodb, wasmMs] of mongoPending) {
    const input = Buffer.from(frame);
    if (!same(await mongodb.decompress(input), raw)) throw new Error('@mongodb-js/zstd: wrong output');
    for (let i = 0; i < 3; i++) await mongodb.decompress(input);
    let calls = 0;
    const start = performance.now();
    while (performance.now() - start < minMs) {
      await mongodb.decompress(input);
      calls++;
    }
    const ms = (performance.now() - start) / calls;
    rows.push(
      row(
        `zstd decode (${env}): ${name}, @mongodb-js/zstd (native, async only, no output cap)`,
        ms,
        'ms',
        wasmMs !== undefined ? ['libzstd wasm driver, same run', wasmMs, 'ms'] : null,
        { note: `${formatNumber(raw.length / 1e6 / (ms / 1000))} MB/s` },
      ),
    );
  }
}

if (zstdOnly) {
  const bin = buildGo(path.join(here, 'go-summary'), '.', 'go-summary');
  zstdRows(syntheticProfiles(bin).map(([name, file]) => [name, u8(fs.readFileSync(file))]));
  uploadZstdRows();
  await mongoRows();
  report('derive (zstd only)', rows, { json });
  process.exit(0);
}

// 1. Derive vs Go on the raw protobuf.
const bin = buildGo(path.join(here, 'go-summary'), '.', 'go-summary');
const files = [];
for (const dir of ['ddtrace-go', 'go-pprof']) {
  for (const name of fs
    .readdirSync(path.join(fixtures, dir))
    .filter((f) => f.endsWith('.pprof'))
    .sort())
    files.push([`${dir}/${name}`, path.join(fixtures, dir, name)]);
}
const synthetic = syntheticProfiles(bin);
files.push(...synthetic);

/**
 * Go and profcol are timed in alternating rounds (Go on every file, then profcol on every file,
 * ROUNDS times, each file for minMs / ROUNDS a round): a file's figures are the medians of its
 * rounds, its ratio the median of the rounds' ratios. Timed once each, one after the other, a
 * burst of other work on this shared machine during either side moved a ratio by half (seen:
 * ddtrace-go/cpu.pprof at 5.8x, 119 µs, where the runs before gave 41–68 µs and 10–12x).
 */
const ROUNDS = smoke ? 1 : 5;
const goRound = () =>
  execFileSync(bin, ['-min-ms', String(minMs / ROUNDS), ...files.map(([, f]) => f)], { encoding: 'utf8', maxBuffer: 1 << 24 })
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
const goRounds = [goRound()];
const goResults = goRounds[0];

const raws = new Map();
const derives = [];
for (const [i, [name, file]] of files.entries()) {
  const bytes = u8(fs.readFileSync(file));
  const raw = isGzip(bytes) ? u8(gunzipSync(bytes)) : bytes;
  raws.set(name, raw);
  const go = goResults[i];
  const isCpu = summarizePprof(raw).sampleTypes.some((t) => t.type === 'cpu');
  const deriveOptions = isCpu ? { stackFilters: [GC_STACK_FILTER] } : {};
  const derived = summarizePprof(raw, deriveOptions);
  const problems = [];
  const types = derived.sampleTypes.map((t) => `${t.type}/${t.unit}`);
  if (go.samples !== derived.sampleCount) problems.push(`${go.samples} samples in Go, ${derived.sampleCount} in profcol`);
  if (types.join() !== go.sample_types.join()) problems.push(`sample types ${go.sample_types.join()} in Go, ${types.join()} in profcol`);
  types.forEach((t, k) => {
    if (go.totals[k] !== derived.totals[k]) problems.push(`${t} total ${go.totals[k]} in Go, ${derived.totals[k]} in profcol`);
  });
  if (isCpu) {
    const isGc = (fn) => GO_GC_FRAMES.some((p) => (p.endsWith('*') ? fn.startsWith(p.slice(0, -1)) : fn === p));
    const walked = derived.sampleTypes.map((_, k) => sumSamplesWhere(raw, k, isGc).matched);
    if (walked.join() !== derived.stackTotals.gc.join()) problems.push(`GC sums ${derived.stackTotals.gc} in the summary pass, ${walked} by sumSamplesWhere`);
  }
  if (problems.length) throw new Error(`${name}: Go and profcol disagree:\n  ${problems.join('\n  ')}`);
  derives.push({ name, derived, isCpu, raw, run: () => summarizePprof(raw, deriveOptions) });
}
// Warmed once, all files, before the rounds: the short rounds alone left the large profiles to
// code V8 had not finished optimizing (the 40k-sample profile measured 7.8 ms, 4.7 ms warmed).
for (const d of derives) time(d.run, minMs / 3);
const ownRounds = [];
for (let round = 0; round < ROUNDS; round++) {
  if (round > 0) goRounds.push(goRound());
  ownRounds.push(derives.map((d) => time(d.run, minMs / ROUNDS)));
}
const median = (values) => [...values].sort((x, y) => x - y)[values.length >> 1];
for (const [i, { name, derived, isCpu, raw }] of derives.entries()) {
  const ms = median(ownRounds.map((r) => r[i]));
  const goMs = median(goRounds.map((r) => r[i].ms_per_parse_and_sum));
  const ratio = median(ownRounds.map((r, k) => goRounds[k][i].ms_per_parse_and_sum / r[i]));
  rows.push(
    row(
      `derive: ${name} (${formatNumber(raw.length)} B raw, ${formatNumber(derived.sampleCount)} samples${isCpu ? ', + GC frames' : ''})`,
      ms,
      'ms',
      ['Go profile.Parse + sum, same bytes', goMs, 'ms'],
      {
        goal: '>= 8x faster than Go',
        pass: ratio >= 8,
        note: `${formatNumber(ratio)}x faster (${fmtMs(ms)} vs ${fmtMs(goMs)}; medians of ${ROUNDS} alternating rounds)`,
      },
    ),
  );
}

// 2. From the compressed bytes as received vs decompression alone.
const syntheticRaws = synthetic.map(([name]) => [name, raws.get(name)]);
for (const [name, raw] of syntheticRaws) {
  const encodings = [['gzip', u8(gzipSync(raw))]];
  const zst = zstdStream(raw);
  if (zst) encodings.push(['zstd, no content size', zst]);
  for (const [encoding, bytes] of encodings) {
    const options = { maxBytes: MAX, stackFilters: [GC_STACK_FILTER] };
    if (!same(decompress(bytes, options), raw)) throw new Error(`${name}: ${encoding} round trip differs`);
    const {
      a: decompressMs,
      b: deriveMs,
      ratio,
    } = timeInterleaved(
      () => decompress(bytes, options),
      () => decompressAndSummarize(bytes, options),
    );
    rows.push(
      row(`derive from ${encoding} (${formatNumber(bytes.length)} B): ${name}`, deriveMs, 'ms', ['decompression alone, same backend', decompressMs, 'ms'], {
        goal: '<= 1.5x decompression alone',
        pass: ratio <= 1.5,
        note: `${formatNumber(ratio)}x decompression alone`,
      }),
    );
  }
  // gunzip alternatives: node:zlib (in use) against fflate when available.
  const gz = encodings[0][1];
  const nodeMs = time(() => gunzipSync(gz));
  rows.push(row(`gunzip: ${name}, node:zlib gunzipSync (in use)`, nodeMs, 'ms', null, { note: `${formatNumber(raw.length / 1e6 / (nodeMs / 1000))} MB/s` }));
  const { fflate } = candidates();
  if (fflate) {
    if (!same(fflate.gunzipSync(gz), raw)) throw new Error('fflate: wrong output');
    const ms = time(() => fflate.gunzipSync(gz));
    rows.push(
      row(
        `gunzip: ${name}, fflate ${createRequire(path.join(path.resolve(process.env.PROFCOL_BENCH_CANDIDATES), 'x.js'))('fflate/package.json').version}`,
        ms,
        'ms',
        ['node:zlib gunzipSync, same run', nodeMs, 'ms'],
        { note: `${formatNumber(ms / nodeMs)}x node:zlib's time` },
      ),
    );
  }
}

// 3. zstd backends (and under another Node when asked).
zstdRows(syntheticRaws);
uploadZstdRows();
await mongoRows();
const alt = process.env.PROFCOL_ALT_NODE;
if (alt) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-derive-')), 'zstd.json');
  const child = spawnSync(alt, [fileURLToPath(import.meta.url), '--zstd-only', `--json=${out}`, `--min-ms=${minMs}`, ...(smoke ? ['--smoke'] : [])], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: process.env,
  });
  if (child.status === 0) rows.push(...JSON.parse(fs.readFileSync(out, 'utf8')).rows);
  else rows.push(row(`zstd decode under ${alt}`, null, 'ms', null, { note: `failed: exit ${child.status}` }));
}

console.log(
  `${new Date().toISOString()}: ${env}, ${goVersion() ?? 'no Go'}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${os.platform()}/${os.arch()}; zstd backends: ${zstdBackends().join(', ')}; zlib zstd: ${typeof zlib.zstdDecompressSync === 'function'}`,
);
report('derive', rows, { json });
