/**
 * The real `profcol run` with pipelines/pull.yaml (pprof → pprof_decode → console, file),
 * pointed at the real Go program test/go/pprof-target by a second --config file. The only
 * test here that waits for the real scheduler: two rounds, 10 s apart (the minimum interval).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decompressAndSummarize, sumSamplesWhere } from '@profcol/pprof';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startProfcol, type RunningProfcol } from '../lib/profcol.js';
import { buildGoProgram, startGoProgram, type GoProcess, type PprofTargetReady } from '../setup/go-build.js';
import { NODE_RUNTIMES, nodeBinary } from '../setup/node-runtime.js';
import { MiB } from './helpers.js';

interface BundleLine {
  source: string;
  resource: Record<string, string>;
  window: { startNanos: string; endNanos: string };
  profiles: { type: string; name: string; delta?: boolean; path: string; encoding: string }[];
}

async function waitForLines(file: string, count: number, timeoutMs: number): Promise<BundleLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= count) return lines.map((l) => JSON.parse(l) as BundleLine);
    if (Date.now() > deadline) throw new Error(`${file} has ${lines.length} lines after ${timeoutMs} ms, expected ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** `node --version` of a binary. */
function version(node: string): Promise<string> {
  return new Promise((resolve, reject) => execFile(node, ['--version'], (err, out) => (err ? reject(err) : resolve(out.trim()))));
}

describe.each(NODE_RUNTIMES.map((r) => [r.label, r] as const))(
  'profcol run --config pipelines/pull.yaml against a real Go program, profcol on %s',
  (_label, runtime) => {
    let target: GoProcess<PprofTargetReady>;
    let profcol: RunningProfcol | undefined;
    let dir: string;
    let node: string;

    beforeAll(async () => {
      node = await nodeBinary(runtime);
      expect(await version(node), 'the node that runs profcol').toMatch(runtime.major === undefined ? process.version : new RegExp(`^v${runtime.major}\\.`));
      const bin = await buildGoProgram('pprof-target');
      target = await startGoProgram<PprofTargetReady>(bin, ['-addr', '127.0.0.1:0', '-spin', '1', '-parked', '20', '-retain-mib', '32']);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-pull-'));
    });

    afterAll(async () => {
      await profcol?.stop();
      await target?.stop();
    });

    it("writes one bundle per round: CPU and goroutines first, then heap/mutex/block deltas, with the target's resource", async () => {
      const url = `http://${target.ready.addr}`;
      fs.writeFileSync(
        path.join(dir, 'override.yaml'),
        `receivers:
  pprof:
    cpu_seconds: 1
    jitter: 0s
    targets:
      - url: ${url}
        service: go-demo
        env: dev
        version: 0.0.0
        enabled_types: [cpu, goroutine, heap, mutex, block]
        tags: { suite: e2e-pull }
exporters:
  console:
    verbosity: basic
  file:
    directory: ${path.join(dir, 'data')}
`,
      );
      profcol = await startProfcol([path.join(repoRoot, 'pipelines', 'pull.yaml'), 'override.yaml'], { cwd: dir, node });
      const [first, second] = await waitForLines(path.join(dir, 'data', 'bundles.jsonl'), 2, 25_000);

      for (const bundle of [first!, second!]) {
        expect(bundle.source).toBe('pprof');
        expect(bundle.resource).toEqual({ service: 'go-demo', env: 'dev', version: '0.0.0', language: 'golang', instance: url, host: target.ready.addr });
      }
      expect(first!.profiles.map((p) => [p.type, p.delta ?? false])).toEqual([
        ['cpu', false],
        ['goroutine', false],
      ]);
      expect(second!.profiles.map((p) => [p.type, p.delta ?? false])).toEqual([
        ['cpu', false],
        ['goroutine', false],
        ['heap', true],
        ['mutex', true],
        ['block', true],
      ]);
      // Rounds 10 s apart; the second bundle's window starts where the first ended.
      expect(second!.window.startNanos).toBe(first!.window.endNanos);
      const gapSeconds = Number(BigInt(second!.window.endNanos) - BigInt(first!.window.endNanos)) / 1e9;
      expect(gapSeconds).toBeGreaterThan(9);
      expect(gapSeconds).toBeLessThan(12);

      // The files open as pprof: CPU as received (gzip), the heap delta as raw protobuf.
      const file = (p: { path: string }) => new Uint8Array(fs.readFileSync(path.join(dir, 'data', p.path)));
      const cpu = decompressAndSummarize(file(second!.profiles[0]!));
      const cores = sumSamplesWhere(cpu.pprof, 1, (name) => name === 'main.spinWorker').matched / Number(cpu.durationNanos);
      expect(cores).toBeGreaterThan(0.35); // one spinning goroutine, on a shared machine
      expect(cores).toBeLessThan(1.05);
      expect(second!.profiles[0]!.encoding).toBe('gzip');
      expect(second!.profiles[2]!.encoding).toBe('none');
      const heap = decompressAndSummarize(file(second!.profiles[2]!));
      expect(Number(heap.durationNanos) / 1e9).toBeGreaterThan(9);
      expect(heap.totals[3]).toBeGreaterThanOrEqual(32 * MiB);
      const goroutines = decompressAndSummarize(file(second!.profiles[1]!)).totals[0]!;
      expect(goroutines).toBeGreaterThanOrEqual(target.ready.expected_goroutines);
      expect(goroutines).toBeLessThanOrEqual(target.ready.expected_goroutines + 14);

      expect(await profcol.stop()).toBe(0);
      profcol = undefined;
    });
  },
);
