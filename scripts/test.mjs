#!/usr/bin/env node
// Runs the whole suite through turbo (build, then every package's tests, with caching) and
// prints one closing line, `N passed, N failed, N skipped`, summed from each package's
// vitest JSON report — CI reads that line, not vitest's own summary.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const projects = [...fs.readdirSync(path.join(root, 'packages')).map((d) => path.join(root, 'packages', d)), path.join(root, 'test')];
const reportOf = (dir) => path.join(dir, '.vitest', 'report.json');
for (const dir of projects) fs.rmSync(reportOf(dir), { force: true });

const tools = spawnSync('bash', [path.join(root, 'scripts', 'ensure-tools.sh')], { stdio: 'inherit' });
if (tools.status !== 0) {
  console.log('0 passed, 1 failed, 0 skipped');
  process.exit(1);
}

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', FORCE_COLOR: process.env.FORCE_COLOR ?? '0' };
const turbo = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', 'test', '--continue', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit', env });

let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const dir of projects) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  if (!manifest.scripts?.test) continue;
  const file = reportOf(dir);
  if (!fs.existsSync(file)) {
    missing.push(manifest.name);
    continue;
  }
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
  // A test file that failed to load counts as a failure even though it ran no test.
  failed += report.testResults.filter((r) => r.status === 'failed' && r.assertionResults.length === 0).length;
  console.log(`${manifest.name.padEnd(32)} ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped`);
}
for (const name of missing) console.log(`${name.padEnd(32)} did not run (build or test setup failed; see above)`);
failed += missing.length;
if (turbo.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
