/**
 * A real backend that cannot be built (here: the go it needs does not exist) fails the tests that
 * need it in CI, with the build's error, and skips them elsewhere, saying why. Runs the
 * real-backend helpers in a vitest of their own, on unbuildable/needs-otelcol.check.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { countVitestReport } from '../../scripts/vitest-report.mjs';
import { runVitest } from '../lib/vitest-run.js';

const fixtureDir = fileURLToPath(new URL('./unbuildable/', import.meta.url));
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-unbuildable-'));
afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
// build.sh runs `$GO version` before anything else; an empty cache folder so nothing cached is found instead.
const noGo = { GO: path.join(cacheDir, 'no-such-go'), PROFCOL_CACHE_DIR: cacheDir, PROFCOL_BACKENDS_QUIET: '1' };

describe('a real backend that cannot be built', () => {
  it('in CI (CI=true), fails every test that needs it, with the build error, and pnpm test counts them as failed', () => {
    const { report, output } = runVitest(fixtureDir, { ...noGo, CI: 'true' });
    const tests = report.testResults.flatMap((file) => file.assertionResults) as { title: string; status: string; failureMessages: string[] }[];
    expect(
      tests.map((t) => [t.title, t.status]),
      output,
    ).toEqual([
      ['exports to the Collector', 'failed'],
      ['exports to the Collector again', 'failed'],
    ]);
    for (const test of tests) {
      expect(test.failureMessages.join('\n')).toContain('otelcol could not be built, and in CI a test that needs a real backend fails rather than skips');
      expect(test.failureMessages.join('\n')).toContain(`go not found (GO=${noGo.GO})`);
    }
    expect(countVitestReport(report)).toMatchObject({ passed: 0, failed: 2, skipped: 0 });
  });

  it('outside CI, skips every test that needs it and prints why', () => {
    const { report, output } = runVitest(fixtureDir, { ...noGo, CI: undefined });
    const tests = report.testResults.flatMap((file) => file.assertionResults);
    expect(
      tests.map((t) => t.status),
      output,
    ).toEqual(['skipped', 'skipped']);
    expect(output).toContain('otelcol could not be built; the tests that need it are skipped (outside CI)');
    expect(output).toContain(`go not found (GO=${noGo.GO})`);
    expect(countVitestReport(report)).toMatchObject({ passed: 0, failed: 0, skipped: 2 });
  });
});
