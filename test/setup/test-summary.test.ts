/**
 * `pnpm test`'s closing line (scripts/test.mjs, summed by scripts/vitest-report.mjs) is what CI
 * reads: a test file that fails before its tests run must count as a failure there.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { countVitestReport } from '../../scripts/vitest-report.mjs';
import { runVitest } from '../lib/vitest-run.js';

describe("pnpm test's closing line", () => {
  it('counts a test file whose beforeAll threw as one failure, though vitest reports its tests as skipped', () => {
    const { report, output } = runVitest(fileURLToPath(new URL('./broken-setup/', import.meta.url)), {});
    expect(report.numFailedTests, output).toBe(0);
    expect(report.numPendingTests).toBe(1);
    const counts = countVitestReport(report);
    expect(counts).toMatchObject({ passed: 0, failed: 1, skipped: 1 });
    expect(counts.brokenFiles.map((f) => [f.name.endsWith('setup-throws.check.ts'), f.message])).toEqual([
      [true, expect.stringContaining('go build failed: cannot find module')],
    ]);
  });
});
