#!/usr/bin/env node
// End-to-end push throughput on this machine: a real profcol pipeline (ddtrace receiver →
// pprof_decode → goruntime → file exporter writing metrics.jsonl) started in-process, and
// a loopback client POSTing the real dd-trace-go v2 upload kept in test/fixtures (zstd
// attachments, 7 parts) as fast as it is answered, with a fixed number of connections.
// Reports uploads/s, latency percentiles and metric points derived per upload.
// Usage: pnpm exec tsc -b && node bench/push-throughput.mjs [seconds=10] [connections=4]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Collector, loadConfigFiles, planOrThrow } from '@profcol/core';
import { buildRegistry } from '@profcol/cli';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 4);
const fixtures = fileURLToPath(new URL('../test/fixtures/ddtrace-go-v2/', import.meta.url));
const headers = fs.readFileSync(path.join(fixtures, 'upload.headers.txt'), 'utf8');
const contentType = /^content-type:\s*(.+)$/im.exec(headers)[1].trim();
const body = fs.readFileSync(path.join(fixtures, 'upload.body.bin'));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-bench-'));
const port = 19000 + Math.floor(Math.random() * 1000);
fs.writeFileSync(
  path.join(dir, 'bench.yaml'),
  `receivers:
  ddtrace:
    endpoint: 127.0.0.1:${port}
    dedup_window: 0s
    max_concurrent_uploads: 64
processors:
  pprof_decode: {}
  goruntime: {}
exporters:
  file:
    directory: ${dir}/data
    write_profiles: false
    write_bundles: false
service:
  pipelines:
    go: { receivers: [ddtrace], processors: [pprof_decode, goruntime], exporters: [file] }
`,
);
const loaded = loadConfigFiles([path.join(dir, 'bench.yaml')]);
const { registry } = await buildRegistry(loaded);
const collector = new Collector(planOrThrow(loaded, registry));
await collector.start();

const latencies = [];
let failures = 0;
const deadline = performance.now() + seconds * 1000;
async function client() {
  while (performance.now() < deadline) {
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${port}/profiling/v1/input`, { method: 'POST', headers: { 'content-type': contentType }, body });
    await response.arrayBuffer();
    if (response.status === 200) latencies.push(performance.now() - started);
    else failures++;
  }
}
const began = performance.now();
await Promise.all(Array.from({ length: connections }, client));
const elapsedS = (performance.now() - began) / 1000;
await collector.shutdown();

const points = fs.readFileSync(path.join(dir, 'data', 'metrics.jsonl'), 'utf8').trim().split('\n').length;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
console.log(`upload: real dd-trace-go v2 (${(body.length / 1024).toFixed(1)} KiB multipart, zstd attachments); ${connections} connections for ${seconds}s on ${os.cpus().length} cores, Node ${process.version}`);
console.log(`accepted ${latencies.length} uploads (${(latencies.length / elapsedS).toFixed(1)}/s), refused ${failures}; latency ms p50 ${pct(50)} p90 ${pct(90)} p99 ${pct(99)}`);
console.log(`metric points written: ${points} (${(points / latencies.length).toFixed(1)} per upload)`);
fs.rmSync(dir, { recursive: true, force: true });
