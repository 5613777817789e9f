/** Runs vitest on a folder of fixture test files, as `pnpm test` runs a package, and reads its report. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { VitestJsonReport } from '../../scripts/vitest-report.mjs';
import { repoRoot } from './profcol.js';

/** What a vitest run of `dir` (with its own vitest.config.mjs) reported, and printed; `env` entries set to undefined are removed. */
export function runVitest(dir: string, env: Record<string, string | undefined>): { report: VitestJsonReport; output: string } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', ...env };
  for (const [key, value] of Object.entries(childEnv)) if (value === undefined) delete childEnv[key];
  const reportFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-vitest-report-')), 'report.json');
  const run = spawnSync(
    process.execPath,
    [
      path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--root',
      dir,
      '--config',
      path.join(dir, 'vitest.config.mjs'),
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${reportFile}`,
    ],
    { cwd: dir, env: childEnv, encoding: 'utf8', timeout: 120_000 },
  );
  const output = `${run.stdout}\n${run.stderr}`;
  if (!fs.existsSync(reportFile)) throw new Error(`vitest wrote no report for ${dir} (exit ${run.status}):\n${output}`);
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as VitestJsonReport;
  fs.rmSync(path.dirname(reportFile), { recursive: true, force: true });
  return { report, output };
}
