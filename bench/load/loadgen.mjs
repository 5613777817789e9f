#!/usr/bin/env node
// The Node twin of bench/load/loadgen (Go): same flags (as --flag=value), same JSON report on
// stdout, with node:http and a keep-alive Agent. bench/push.mjs runs both against the bare
// server to see which costs less CPU per request, and uses the cheaper one.
// Usage: node bench/load/loadgen.mjs --url=U --body=FILE [--content-type=CT] [--mode=closed|open]
//        [--connections=8] [--rate=500] [--duration=10s] [--warmup=1s] [--fleet=64] [--max-in-flight=2048]
import fs from 'node:fs';
import http from 'node:http';

const flags = Object.fromEntries(process.argv.slice(2).map((a) => /^--?([^=]+)=(.*)$/.exec(a)?.slice(1) ?? [a, 'true']));
const seconds = (text) => {
  const m = /^([\d.]+)(ms|s)?$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration (expected e.g. 10s or 500ms)`);
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
};
const url = new URL(flags.url);
const body = fs.readFileSync(flags.body);
const contentType = flags['content-type'] ?? 'application/octet-stream';
const mode = flags.mode ?? 'closed';
const connections = Number(flags.connections ?? 8);
const rate = Number(flags.rate ?? 500);
const durationS = seconds(flags.duration ?? '10s');
const warmupS = seconds(flags.warmup ?? '1s');
const fleet = Number(flags.fleet ?? 64);
const maxInFlight = Number(flags['max-in-flight'] ?? 2048);

// The runtime-id and profile_seq of the event part, so each request is a distinct upload of a
// process of the fleet (see loadgen/main.go).
function template() {
  const text = body.toString('latin1');
  const id = /runtime-id:([0-9a-fA-F-]{36})/.exec(text);
  const seq = /profile_seq:(\d+)/.exec(text);
  if (!id || !seq || fleet <= 0) return () => [body];
  const idAt = id.index + 'runtime-id:'.length;
  const seqAt = seq.index + 'profile_seq:'.length;
  const cuts = [
    [idAt, idAt + 36, 'id'],
    [seqAt, seqAt + seq[1].length, 'seq'],
  ].sort((a, b) => a[0] - b[0]);
  const pieces = [body.subarray(0, cuts[0][0]), body.subarray(cuts[0][1], cuts[1][0]), body.subarray(cuts[1][1])];
  const next = new Array(fleet).fill(0);
  let n = 0;
  return () => {
    const k = ++n % fleet;
    const values = { id: Buffer.from(`00000000-0000-4000-8000-${String(k).padStart(12, '0')}`), seq: Buffer.from(String(++next[k])) };
    return [pieces[0], values[cuts[0][2]], pieces[1], values[cuts[1][2]], pieces[2]];
  };
}
const nextBody = template();
const agent = new http.Agent({ keepAlive: true, maxSockets: mode === 'closed' ? connections : Infinity });

function send() {
  return new Promise((resolve) => {
    const parts = nextBody();
    const length = parts.reduce((sum, p) => sum + p.length, 0);
    const request = http.request(url, { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': length } }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode }));
      response.on('error', (error) => resolve({ error }));
    });
    request.on('error', (error) => resolve({ error }));
    for (const p of parts.slice(0, -1)) request.write(p);
    request.end(parts.at(-1));
  });
}

const started = performance.now();
const measureFrom = started + warmupS * 1000;
const end = measureFrom + durationS * 1000;
const results = [];
let skippedAtCap = 0;
const timed = async (due) => {
  const r = await send();
  if (due >= measureFrom && due <= end) results.push({ ...r, latencyMs: performance.now() - due });
};

if (mode === 'closed') {
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) await timed(performance.now());
    }),
  );
} else {
  const intervalMs = 1000 / rate;
  const pending = new Set();
  for (let i = 0; ; i++) {
    const due = started + i * intervalMs;
    if (due > end) break;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (pending.size >= maxInFlight) {
      if (due >= measureFrom) skippedAtCap++;
      continue;
    }
    const p = timed(due).finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
}
agent.destroy();

const statuses = {};
let transportErrors = 0;
let errorSample;
const ok = [];
for (const r of results) {
  if (r.error) {
    transportErrors++;
    errorSample ??= r.error.message;
    continue;
  }
  statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  if (r.status === 200) ok.push(r.latencyMs);
}
ok.sort((a, b) => a - b);
const at = (p) => (ok.length ? ok[Math.min(ok.length - 1, Math.floor((p / 100) * ok.length))] : 0);
const cpu = process.cpuUsage();
console.log(
  JSON.stringify({
    mode,
    connections: mode === 'closed' ? connections : 0,
    offeredRate: mode === 'open' ? rate : 0,
    durationS,
    counted: results.length,
    statuses,
    transportErrors,
    errorSample,
    skippedAtCap,
    okPerS: ok.length / durationS,
    answeredPerS: (results.length - transportErrors) / durationS,
    latencyMs: { p50: at(50), p90: at(90), p99: at(99), max: ok.at(-1) ?? 0, mean: ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : 0 },
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    elapsedS: (performance.now() - started) / 1000,
    generator: 'node',
  }),
);
