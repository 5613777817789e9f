// What one vitest JSON report counts towards `pnpm test`'s closing line. Beside vitest's own
// test counts, a test file that failed without a failed test (it did not load, or a beforeAll
// hook threw) is one failure: vitest reports the tests of such a file as skipped, and CI reads
// only the failed count.

/**
 * @param {{ numPassedTests: number, numFailedTests: number, numPendingTests: number, numTodoTests: number,
 *   testResults: { name: string, status: string, message?: string, assertionResults: { status: string }[] }[] }} report
 * @returns {{ passed: number, failed: number, skipped: number, brokenFiles: { name: string, message: string }[] }}
 */
export function countVitestReport(report) {
  const brokenFiles = report.testResults
    .filter((file) => file.status === 'failed' && !file.assertionResults.some((test) => test.status === 'failed'))
    .map((file) => ({ name: file.name, message: file.message ?? '' }));
  return {
    passed: report.numPassedTests,
    failed: report.numFailedTests + brokenFiles.length,
    skipped: report.numPendingTests + report.numTodoTests,
    brokenFiles,
  };
}
