export interface VitestJsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { name: string; status: string; message?: string; assertionResults: { status: string }[] }[];
}
/** What one vitest JSON report counts towards `pnpm test`'s closing line (see vitest-report.mjs). */
export function countVitestReport(report: VitestJsonReport): {
  passed: number;
  failed: number;
  skipped: number;
  brokenFiles: { name: string; message: string }[];
};
