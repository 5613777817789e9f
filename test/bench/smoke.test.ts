// The benchmarks cannot rot: `node bench/run.mjs --smoke` runs every bench for a few seconds and
// each must produce its rows, with finite figures and baselines. Whether goals are met is for
// `pnpm bench` to report, not for this test (timings on a shared 2-core machine are noise).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../lib/profcol.js';

interface Row {
  figure: string;
  value: number;
  unit: string;
  baseline: { name: string; value: number; unit: string } | null;
  goal: string | null;
  pass: boolean | null;
}
interface BenchResult {
  name: string;
  status: 'ok' | 'failed' | 'missing';
  error?: string;
  rows: Row[];
}

const EXPECTED_BENCHES = ['derive', 'push', 'pull', 'memory'];

describe('pnpm bench --smoke', () => {
  // The first run builds the Go load generator and baselines into the cache (minutes); later runs
  // take about a minute and a half in all.
  it('runs every bench, and each gives finite figures beside finite baselines', { timeout: 10 * 60_000 }, () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-bench-smoke-')), 'smoke.json');
    const run = spawnSync(process.execPath, ['bench/run.mjs', '--smoke', '--no-build', `--out=${out}`], {
      cwd: repoRoot,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    expect(fs.existsSync(out), `run.mjs wrote no ${out}; exit ${run.status}\n${run.stderr.slice(-4000)}`).toBe(true);
    const written = JSON.parse(fs.readFileSync(out, 'utf8')) as { benches: BenchResult[]; goals: { met: number; missed: number } };

    expect(written.benches.map((b) => b.name)).toEqual(EXPECTED_BENCHES);
    for (const bench of written.benches) {
      expect(bench.status, `${bench.name}: ${bench.error ?? ''}\n${run.stderr.slice(-4000)}`).toBe('ok');
      expect(bench.rows.length, `${bench.name} has no rows`).toBeGreaterThan(0);
      expect(
        bench.rows.some((r) => r.baseline !== null),
        `${bench.name}: no figure has a baseline`,
      ).toBe(true);
      for (const row of bench.rows) {
        const where = `${bench.name}: "${row.figure}"`;
        expect(row.figure, where).toMatch(/\S/);
        expect(Number.isFinite(row.value), `${where} value ${row.value}`).toBe(true);
        expect(typeof row.unit, where).toBe('string');
        if (row.baseline) {
          expect(row.baseline.name, where).toMatch(/\S/);
          expect(Number.isFinite(row.baseline.value), `${where} baseline ${row.baseline.value}`).toBe(true);
        }
        expect([true, false, null], where).toContain(row.pass);
        if (row.goal === null) expect(row.pass, `${where} is judged without a goal`).toBeNull();
      }
    }
    expect(run.stdout).toMatch(/^goals: \d+ met, \d+ missed$/m);
    expect(run.status, run.stderr.slice(-4000)).toBe(0);
  });
});
