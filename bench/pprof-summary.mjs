#!/usr/bin/env node
// Measures @profcol/pprof's hot paths on this machine:
//  - summarizePprof (one streaming pass) vs pprof-format's full Profile.decode, on every
//    fixture in test/fixtures and on a synthetic 40,000-sample Go-like CPU profile;
//  - decompression of that synthetic profile: gzip (node:zlib), zstd through the wasm
//    libzstd driver and through fzstd (a frame without content size, made by `zstd -c` from
//    stdin when the zstd CLI is installed), LZ4 frame (when the lz4 CLI is installed).
// Usage: pnpm exec tsc -b packages/pprof && node bench/pprof-summary.mjs
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { decompress, decompressZstdWith, summarizePprof } from '@profcol/pprof';
import { Function as PFunction, Label, Line, Location, Mapping, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import { time } from './timing.mjs';

const fixtures = fileURLToPath(new URL('../test/fixtures/', import.meta.url));

function synthetic() {
  let a = 42;
  const rnd = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const st = new StringTable();
  const fns = [];
  const locs = [];
  for (let i = 1; i <= 1500; i++)
    fns.push(
      new PFunction({
        id: i,
        name: st.dedup(`github.com/acme/svc/pkg${i % 40}.(*T${i}).Method${i}`),
        filename: st.dedup(`/src/pkg${i % 40}/file${i % 200}.go`),
      }),
    );
  for (let i = 1; i <= 3000; i++)
    locs.push(new Location({ id: i, mappingId: 1, address: 0x400000 + i * 16, line: [new Line({ functionId: 1 + (i % 1500), line: 10 + (i % 300) })] }));
  const k1 = st.dedup('span id');
  const k2 = st.dedup('trace endpoint');
  const samples = [];
  for (let i = 0; i < 40000; i++) {
    const depth = 8 + Math.floor(rnd() * 24);
    const ids = [];
    for (let d = 0; d < depth; d++) ids.push(1 + Math.floor(rnd() * 3000));
    const n = 1 + Math.floor(rnd() * 3);
    samples.push(
      new Sample({
        locationId: ids,
        value: [n, n * 10_000_000],
        label: [new Label({ key: k1, str: st.dedup(String(Math.floor(rnd() * 1e12))) }), new Label({ key: k2, str: st.dedup(`GET /api/v${i % 50}`) })],
      }),
    );
  }
  return new Profile({
    sampleType: [
      new ValueType({ type: st.dedup('samples'), unit: st.dedup('count') }),
      new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
    ],
    sample: samples,
    mapping: [new Mapping({ id: 1, memoryStart: 0x400000, memoryLimit: 0x900000, filename: st.dedup('/bin/svc') })],
    location: locs,
    function: fns,
    stringTable: st,
    timeNanos: 1_700_000_000_000_000_000n,
    durationNanos: 60_000_000_000,
    periodType: new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
    period: 10_000_000,
  }).encode();
}

const inputs = [];
for (const dir of ['ddtrace-go', 'go-pprof']) {
  for (const name of readdirSync(fixtures + dir).filter((f) => f.endsWith('.pprof'))) {
    const bytes = readFileSync(fixtures + dir + '/' + name);
    inputs.push([`${dir}/${name}`, bytes[0] === 0x1f ? gunzipSync(bytes) : bytes]);
  }
}
const big = synthetic();
inputs.push(['synthetic 40k-sample cpu', big]);

console.log(`Node ${process.version}, ${new Date().toISOString()}`);
console.log('\n| profile (raw protobuf) | bytes | samples | summarizePprof | pprof-format decode | ratio |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [name, raw] of inputs) {
  const summary = summarizePprof(raw);
  const fast = time(() => summarizePprof(raw));
  const full = time(() => Profile.decode(raw));
  console.log(
    `| ${name} | ${raw.length.toLocaleString('en')} | ${summary.sampleCount.toLocaleString('en')} | ${fmt(fast)} | ${fmt(full)} | ${(full / fast).toFixed(0)}x |`,
  );
}

function fmt(ms) {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`;
}

function cli(cmd, args, input) {
  try {
    return new Uint8Array(execFileSync(cmd, args, { input, maxBuffer: 1 << 28 }));
  } catch {
    return undefined;
  }
}

console.log(`\nDecompressing the synthetic profile (${(big.length / 1e6).toFixed(2)} MB raw):`);
console.log('\n| codec / decoder | compressed | time per profile | output rate |');
console.log('| --- | --- | --- | --- |');
const gz = gzipSync(big);
const zst = cli('zstd', ['-3', '-q', '-c'], big); // from stdin: no content size in the frame
const lz4 = cli('lz4', ['-q', '-c'], big);
const cases = [['gzip, node:zlib', gz, () => decompress(gz)]];
if (zst) {
  cases.push(['zstd (no content size), wasm libzstd driver', zst, () => decompressZstdWith('wasm', zst, 1 << 28)]);
  cases.push(['zstd (no content size), fzstd (pure JS)', zst, () => decompressZstdWith('js', zst, 1 << 28)]);
}
if (lz4) cases.push(['LZ4 frame, built-in decoder', lz4, () => decompress(lz4)]);
for (const [name, compressed, fn] of cases) {
  const out = fn();
  if (Buffer.compare(Buffer.from(out.buffer, out.byteOffset, out.byteLength), Buffer.from(big)) !== 0) throw new Error(`${name}: wrong output`);
  const ms = time(fn, 1000);
  console.log(`| ${name} | ${(compressed.length / 1e6).toFixed(2)} MB | ${fmt(ms)} | ${(big.length / 1e6 / (ms / 1000)).toFixed(0)} MB/s |`);
}
if (!zst) console.log('(zstd CLI not installed: apt-get install -y zstd)');
if (!lz4) console.log('(lz4 CLI not installed: apt-get install -y lz4)');
