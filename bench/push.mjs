#!/usr/bin/env node
// Push ingest: `profcol run` (ddtrace → pprof_decode → goruntime → file, default receiver limits)
// in a child process, loaded by a generator in its own process with the real dd-trace-go v2
// upload (test/fixtures/ddtrace-go-v2: 69 KiB, zstd attachments and metrics.json), beside two
// baselines measured in the same run under the same generator:
//  - bare: a node:http server that reads each body and answers 200 (the ceiling),
//  - go-datakit: a Go server doing DataKit's per-upload work on both cores (bench/load/datakit-server).
// Modes: closed loop (N connections back to back → uploads/s, latency) and open loop (a fixed
// offered rate → achieved rate, p99, refusals). Each upload carries the runtime-id of one process of
// a fleet of 64 and that process's next profile_seq, so de-duplication stays on and sees distinct uploads.
// The generator is the Go one (bench/load/loadgen) or the Node one (bench/load/loadgen.mjs),
// whichever costs less CPU per request against the bare server in this run.
// Usage: pnpm exec tsc -b && node bench/push.mjs [--smoke] [--json=<file>]
//          [--seconds=10] [--connections=8] [--rate=500]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGo, goVersion } from './lib/cache.mjs';
import { run, start, stop, waitForLine } from './lib/children.mjs';
import { measureCpu, sampleMemory } from './lib/proc.mjs';
import { scrapeOwnMetrics, startPushPipeline } from './lib/profcol.mjs';
import { MiB, parseArgs, report, row } from './lib/results.mjs';

const { smoke, json, options } = parseArgs();
const seconds = Number(options.seconds ?? (smoke ? 1 : 10));
const warmupS = smoke ? 0.2 : 1;
const connections = Number(options.connections ?? 8);
const offeredRate = Number(options.rate ?? 500);
const GOAL_UPLOADS_PER_S = 1500;
const GOAL_P99_MS = 50;

const here = fileURLToPath(new URL('.', import.meta.url));
const fixture = path.join(here, '..', 'test', 'fixtures', 'ddtrace-go-v2');
const bodyFile = path.join(fixture, 'upload.body.bin');
const contentType = /^content-type:\s*(.+)$/im.exec(fs.readFileSync(path.join(fixture, 'upload.headers.txt'), 'utf8'))[1].trim();
const bodyKiB = fs.statSync(bodyFile).size / 1024;

const hasGo = goVersion() !== undefined;
const goLoadgen = hasGo ? buildGo(path.join(here, 'load'), './loadgen', 'loadgen') : undefined;
const goDatakit = hasGo ? buildGo(path.join(here, 'load'), './datakit-server', 'datakit-server') : undefined;

/** The command line of a generator run. */
function generatorCommand(generator, url, mode) {
  const flags = { url, body: bodyFile, 'content-type': contentType, mode, connections, rate: offeredRate, duration: `${seconds}s`, warmup: `${warmupS}s` };
  if (generator === 'go') return [goLoadgen, Object.entries(flags).flatMap(([k, v]) => [`-${k}`, String(v)])];
  return [process.execPath, [path.join(here, 'load', 'loadgen.mjs'), ...Object.entries(flags).map(([k, v]) => `--${k}=${v}`)]];
}

/** One generator run against a server: the generator's report plus the server's CPU and memory meanwhile. */
async function load(generator, server, mode) {
  const cpu = measureCpu(server.pid);
  const memory = sampleMemory(server.pid, 50);
  const [command, args] = generatorCommand(generator, server.url, mode);
  const result = await run(command, args);
  const serverCpu = cpu.stop();
  const serverMemory = memory.stop();
  if (result.code !== 0) throw new Error(`${generator} load generator failed (${result.code ?? result.signal}) against ${server.name}: ${result.stderr}`);
  const figures = JSON.parse(result.stdout.trim().split('\n').at(-1));
  const count = (...codes) => codes.reduce((sum, c) => sum + (figures.statuses[c] ?? 0), 0);
  const refused = count('429', '503');
  const other = figures.counted - count('200') - refused;
  const line = `${server.name} ${mode} (${generator} generator): ${figures.okPerS.toFixed(0)} ok/s, p50 ${figures.latencyMs.p50.toFixed(1)} p99 ${figures.latencyMs.p99.toFixed(1)} ms, statuses ${JSON.stringify(figures.statuses)}, transport errors ${figures.transportErrors}, server ${serverCpu.cores.toFixed(2)} cores, generator ${(figures.cpuSeconds / figures.elapsedS).toFixed(2)} cores`;
  console.error(line);
  return {
    ...figures,
    refused,
    other,
    generatorCores: figures.cpuSeconds / figures.elapsedS,
    generatorMsPerRequest: (figures.cpuSeconds * 1000) / Math.max(1, figures.answeredPerS * figures.elapsedS),
    serverCores: serverCpu.cores,
    serverPeakRssBytes: Math.max(serverMemory.peakRssBytes, serverMemory.hwmBytes || 0),
  };
}

async function startListening(name, command, args) {
  const child = start(command, args);
  const [, url] = await waitForLine(child, /listening (http:\/\/\S+)/);
  child.stdout.resume();
  child.stderr.resume();
  return { name, pid: child.pid, url: `${url}/profiling/v1/input`, stop: () => stop(child) };
}

async function startPushProfcol() {
  return Object.assign(await startPushPipeline(), { name: 'profcol' });
}

console.error(
  `push: ${bodyKiB.toFixed(1)} KiB dd-trace-go v2 upload; ${seconds}s per phase after ${warmupS}s warm-up; ${os.cpus().length} cores; Node ${process.version}; ${goVersion() ?? 'no Go'}`,
);

// 1. The ceiling, and which generator costs less CPU per request.
const bare = await startListening('bare', process.execPath, [path.join(here, 'load', 'bare-server.mjs')]);
const bareByGenerator = {};
for (const generator of hasGo ? ['go', 'node'] : ['node']) bareByGenerator[generator] = await load(generator, bare, 'closed');
const generator = Object.entries(bareByGenerator).sort((a, b) => a[1].generatorMsPerRequest - b[1].generatorMsPerRequest)[0][0];
const other = generator === 'go' ? 'node' : 'go';
const bareClosed = bareByGenerator[generator];
const bareOpen = await load(generator, bare, 'open');
await bare.stop();

// 2. profcol.
const profcol = await startPushProfcol();
let profcolClosed;
let profcolOpen;
let own;
try {
  profcolClosed = await load(generator, profcol, 'closed');
  profcolOpen = await load(generator, profcol, 'open');
  own = await scrapeOwnMetrics(profcol.metricsAddress);
} finally {
  await profcol.stop({ keep: true });
}
const problems = profcol.logLines().filter((l) => l.level >= 50).length;
fs.rmSync(profcol.dir, { recursive: true, force: true });
const sum = (name) => own.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0);
const accepted = sum('profcol_receiver_accepted_uploads_total');
// From profcol's own counter: metrics.jsonl is rotated at 64 MiB, so its line count falls short.
const points = sum('profcol_pipeline_metric_points_total');
const refusedByReason = own
  .filter((s) => s.name === 'profcol_receiver_refused_uploads_total' && s.value > 0)
  .map((s) => `${s.labels.reason} ${s.value}`)
  .join(', ');

// 3. The Go DataKit-like server.
let goClosed;
let goOpen;
if (hasGo) {
  const datakit = await startListening('go-datakit', goDatakit, []);
  try {
    goClosed = await load(generator, datakit, 'closed');
    goOpen = await load(generator, datakit, 'open');
  } finally {
    await datakit.stop();
  }
}

const BARE = 'bare node:http, same run';
const GO = 'Go DataKit-like server, 2 cores, same run';
const closed = `closed loop, ${connections} connections`;
const open = `open loop, ${offeredRate}/s offered`;
const latencyNote = `${generator} generator; latency of 200 answers`;
const rows = [
  row(`${closed}: profcol uploads/s`, profcolClosed.okPerS, 'uploads/s', [BARE, bareClosed.okPerS], {
    goal: `>= ${GOAL_UPLOADS_PER_S}/s`,
    pass: profcolClosed.okPerS >= GOAL_UPLOADS_PER_S,
    note: `${profcolClosed.refused} refused (429/503), ${profcolClosed.other + profcolClosed.transportErrors} other failures; ${accepted ? (points / accepted).toFixed(1) : 0} metric points per accepted upload`,
  }),
  ...(goClosed
    ? [
        row(`${closed}: profcol uploads/s vs Go`, profcolClosed.okPerS, 'uploads/s', [GO, goClosed.okPerS], {
          note: `profcol ÷ Go = ${(profcolClosed.okPerS / goClosed.okPerS).toFixed(2)}x; the issue measured Go at 718–857/s`,
        }),
      ]
    : []),
  row(`${closed}: profcol p50`, profcolClosed.latencyMs.p50, 'ms', [BARE, bareClosed.latencyMs.p50], { note: latencyNote }),
  row(`${closed}: profcol p99`, profcolClosed.latencyMs.p99, 'ms', [BARE, bareClosed.latencyMs.p99], {
    note: `p90 ${profcolClosed.latencyMs.p90.toFixed(1)} ms`,
  }),
  row(`${closed}: profcol CPU`, profcolClosed.serverCores, 'cores', [BARE, bareClosed.serverCores], {
    note: `of ${os.cpus().length}; ${goClosed ? `Go server ${goClosed.serverCores.toFixed(2)} cores; ` : ''}generator took ${profcolClosed.generatorCores.toFixed(2)} cores`,
  }),
  row(`${closed}: profcol peak RSS`, profcolClosed.serverPeakRssBytes / MiB, 'MiB', [BARE, bareClosed.serverPeakRssBytes / MiB]),
  row(`${open}: profcol achieved rate`, profcolOpen.okPerS, 'uploads/s', [BARE, bareOpen.okPerS], {
    note: `${profcolOpen.counted} due in ${seconds}s; generator skipped ${profcolOpen.skippedAtCap} at its in-flight cap`,
  }),
  row(`${open}: profcol p99`, profcolOpen.latencyMs.p99, 'ms', [BARE, bareOpen.latencyMs.p99], {
    goal: `< ${GOAL_P99_MS} ms`,
    pass: profcolOpen.okPerS > 0 && profcolOpen.latencyMs.p99 < GOAL_P99_MS,
    note: `from when each upload was due; p50 ${profcolOpen.latencyMs.p50.toFixed(1)} ms${goOpen ? `; Go server p99 ${goOpen.latencyMs.p99.toFixed(1)} ms` : ''}`,
  }),
  row(`${open}: profcol refused (429/503)`, profcolOpen.refused, 'uploads', [BARE, bareOpen.refused], {
    goal: '0',
    pass: profcolOpen.refused === 0,
    note: refusedByReason ? `refusals over the whole run by reason: ${refusedByReason}` : '',
  }),
  row(`${open}: profcol other failures`, profcolOpen.other + profcolOpen.transportErrors, 'uploads', [BARE, bareOpen.other + bareOpen.transportErrors], {
    goal: '0',
    pass: profcolOpen.other + profcolOpen.transportErrors === 0,
    note: `${JSON.stringify(profcolOpen.statuses)}${profcolOpen.errorSample ? `; ${profcolOpen.errorSample}` : ''}; ${problems} error log lines`,
  }),
  row(`${open}: profcol CPU`, profcolOpen.serverCores, 'cores', [BARE, bareOpen.serverCores]),
  ...(bareByGenerator[other]
    ? [
        row(
          `load generator CPU per request (${generator}, chosen)`,
          bareByGenerator[generator].generatorMsPerRequest,
          'ms',
          [`${other} generator, same run`, bareByGenerator[other].generatorMsPerRequest],
          {
            note: `against the bare server, closed loop; ${bareByGenerator[generator].generatorCores.toFixed(2)} vs ${bareByGenerator[other].generatorCores.toFixed(2)} cores`,
          },
        ),
      ]
    : []),
];
report('push', rows, { json });
