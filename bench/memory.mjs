#!/usr/bin/env node
// Memory under two bursts of uploads, against `profcol run` (ddtrace → pprof_decode → goruntime →
// file) in a child process with the default limits, a fresh process per burst:
//  a) 8 uploads at once, each a small gzip body whose cpu.pprof decompresses to 250 MiB (a real
//     dd-trace-go CPU profile plus one 250 MiB string-table entry: a valid pprof);
//  b) 64 uploads at once (16 with --smoke) of 31 MiB bodies (a raw, uncompressed cpu.pprof padded the same way), with
//     `max_concurrent_uploads: 64` on the receiver.
// The bursts come from bench/load/burst.mjs in its own process. VmRSS of profcol is sampled every
// 50 ms from before the burst until `settle` seconds after its last answer (20 s; smoke: 3 s),
// VmHWM catches peaks between samples. Reported: peak RSS, RSS after, answers by status, and
// whether the process stayed up.
// Goals: peak RSS <= BUDGET + OVERHEAD (the default process-wide memory budget of 512 MiB plus
// 256 MiB for the runtime, code and buffers outside the budget); RSS after settling <= before + 128 MiB;
// no crash, and every upload answered (no connection reset).
// Usage: pnpm exec tsc -b && node bench/memory.mjs [--smoke] [--json=<file>]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { benchCacheDir } from './lib/cache.mjs';
import { run } from './lib/children.mjs';
import { isAlive, memory, sampleMemory } from './lib/proc.mjs';
import { scrapeOwnMetrics, startPushPipeline } from './lib/profcol.mjs';
import { MiB, parseArgs, report, row } from './lib/results.mjs';

const { smoke, json } = parseArgs();
const settleS = smoke ? 3 : 20;
const BUDGET_MIB = 512;
const OVERHEAD_MIB = 256;
const GIVE_BACK_MIB = 128;

const here = fileURLToPath(new URL('.', import.meta.url));
const cpuFixture = path.join(here, '..', 'test', 'fixtures', 'ddtrace-go', 'cpu.pprof');

/** varint bytes of n (n < 2^53). */
function varint(n) {
  const bytes = [];
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/**
 * A valid pprof of exactly `totalBytes`: the fixture CPU profile followed by one more string_table
 * entry (field 6) of 'x' filling the rest. Appending a repeated field keeps every index valid.
 */
function paddedPprof(totalBytes) {
  const base = fs.readFileSync(cpuFixture);
  let padding = totalBytes - base.length - 1 - 5;
  for (;;) {
    const size = base.length + 1 + varint(padding).length + padding;
    if (size === totalBytes) break;
    padding += totalBytes - size;
  }
  return Buffer.concat([base, Buffer.from([(6 << 3) | 2]), varint(padding), Buffer.alloc(padding, 'x')]);
}

/** The attachment file of a burst, generated once into the cache. */
function attachmentFile(name, totalBytes, gzip) {
  const file = path.join(benchCacheDir(), `memory-${name}-${totalBytes}${gzip ? '.gz' : ''}`);
  if (!fs.existsSync(file)) {
    const raw = paddedPprof(totalBytes);
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, gzip ? gzipSync(raw, { level: 9 }) : raw);
    fs.renameSync(tmp, file);
  }
  return file;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function burst({ label, count, attachment, receiverExtra }) {
  const profcol = await startPushPipeline({ receiverExtra });
  const { url, metricsAddress } = profcol;
  try {
    await sleep(smoke ? 500 : 2000);
    const before = memory(profcol.pid);
    const sampler = sampleMemory(profcol.pid, 50);
    const sent = await run(process.execPath, [path.join(here, 'load', 'burst.mjs'), `--url=${url}`, `--attachment=${attachment}`, `--count=${count}`]);
    if (sent.code !== 0) throw new Error(`burst.mjs failed (${sent.code ?? sent.signal}): ${sent.stderr}`);
    const answers = JSON.parse(sent.stdout.trim().split('\n').at(-1));
    await sleep(settleS * 1000);
    const sampled = sampler.stop();
    const alive = isAlive(profcol.pid);
    const own = alive ? await scrapeOwnMetrics(metricsAddress).catch(() => []) : [];
    const after = memory(profcol.pid);
    const refusals = own
      .filter((s) => s.name === 'profcol_receiver_refused_uploads_total' && s.value > 0)
      .map((s) => `${s.labels.reason} ${s.value}`)
      .join(', ');
    const peak = Math.max(sampled.peakRssBytes, sampled.hwmBytes || 0);
    const ok = answers.statuses['200'] ?? 0;
    const counted = (code) => answers.statuses[code] ?? 0;
    const otherStatuses = Object.entries(answers.statuses).filter(([code]) => !['200', '429', '503', '413'].includes(code));
    console.error(
      `${label}: ${JSON.stringify(answers)}; before ${(before.rssBytes / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${after ? (after.rssBytes / MiB).toFixed(0) : '–'} MiB, alive ${alive}`,
    );
    const limit = BUDGET_MIB + OVERHEAD_MIB;
    return [
      row(`${label}: peak RSS`, peak / MiB, 'MiB', ['RSS before the burst', before.rssBytes / MiB], {
        goal: `<= ${limit} MiB (budget ${BUDGET_MIB} + ${OVERHEAD_MIB})`,
        pass: peak / MiB <= limit,
        note: `sampled every 50 ms (highest sample ${(sampled.peakRssBytes / MiB).toFixed(0)} MiB) and VmHWM`,
      }),
      row(`${label}: RSS ${settleS} s after the last answer`, after ? after.rssBytes / MiB : NaN, 'MiB', ['RSS before the burst', before.rssBytes / MiB], {
        goal: `<= before + ${GIVE_BACK_MIB} MiB`,
        pass: after !== undefined && after.rssBytes <= before.rssBytes + GIVE_BACK_MIB * MiB,
      }),
      row(`${label}: answered 200`, ok, 'uploads', ['uploads sent', answers.sent], {
        note: `429: ${counted('429')}, 503: ${counted('503')}, 413: ${counted('413')}, other: ${otherStatuses.map(([c, n]) => `${c}×${n}`).join(' ') || 0}; ${answers.retryAfterOnRefusals} refusals had Retry-After; slowest answer ${(answers.slowestMs / 1000).toFixed(1)} s${refusals ? `; profcol counted: ${refusals}` : ''}`,
      }),
      row(`${label}: stayed up, every upload answered`, alive && answers.transportErrors === 0 ? 1 : 0, '(1 = yes)', null, {
        goal: 'process up, 0 connection errors',
        pass: alive && answers.transportErrors === 0,
        note: `${answers.transportErrors} connection errors${answers.errorSample ? ` (${answers.errorSample})` : ''}${alive ? '' : `; profcol exited: ${profcol.child.exitCode ?? profcol.child.signalCode}`}`,
      }),
    ];
  } finally {
    await profcol.stop();
  }
}

const small = attachmentFile('cpu-250MiB', 250 * MiB, true);
const large = attachmentFile('cpu-31MiB', 31 * MiB - 1024, false);
const largeCount = smoke ? 16 : 64;
console.error(`memory: a) 8 × ${(fs.statSync(small).size / 1024).toFixed(0)} KiB gzip → 250 MiB; b) ${largeCount} × 31 MiB raw; settle ${settleS} s`);
const rows = [
  ...(await burst({ label: 'a) 8 uploads, 250 MiB decompressed each', count: 8, attachment: small, receiverExtra: '' })),
  // The smoke run sends 16 of them: enough to prove the burst works, in a quarter of the time.
  ...(await burst({ label: `b) ${largeCount} uploads of 31 MiB`, count: largeCount, attachment: large, receiverExtra: '    max_concurrent_uploads: 64\n' })),
];
report('memory', rows, { json });
