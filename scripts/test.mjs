#!/usr/bin/env node
// Runs the whole suite through turbo (build, then every package's tests, with caching) and
// prints one closing line, `N passed, N failed, N skipped` (the Biome format and lint check counting as one test), summed from each package's
// vitest JSON report — CI reads that line, not vitest's own summary. The packages' unit tests
// run twice: under the machine's node (`test`) and under Node 24 LTS from the npm registry
// (`test:node24`, unless the machine's node is already 24); both reports are summed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { profcolCacheDir } from '../test/setup/cache-dir.mjs';
import { installNode } from '../test/setup/node-install.mjs';
import { countVitestReport } from './vitest-report.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const projects = [...fs.readdirSync(path.join(root, 'packages')).map((d) => path.join(root, 'packages', d)), path.join(root, 'test')];
const reportOf = (dir) => path.join(dir, '.vitest', 'report.json');
const node24ReportOf = (dir) => path.join(dir, '.vitest-node24', 'report.json');
for (const dir of projects) {
  fs.rmSync(reportOf(dir), { force: true });
  fs.rmSync(node24ReportOf(dir), { force: true });
}
const onNode24 = process.versions.node.startsWith('24.');
// turbo.json passes PROFCOL_CACHE_DIR and XDG_CACHE_HOME through to every task (test/setup/cache-dir.test.ts
// checks it), so this is the folder every test builds into.
console.log(`what the tests build and install is cached in ${profcolCacheDir()} (PROFCOL_CACHE_DIR overrides)`);

const tools = spawnSync('bash', [path.join(root, 'scripts', 'ensure-tools.sh')], { stdio: 'inherit' });
if (tools.status !== 0) {
  console.log('0 passed, 1 failed, 0 skipped');
  process.exit(1);
}

// Formatting and lint (Biome, biome.json): one check that counts as a test, first, because it is quick.
const lint = spawnSync('pnpm', ['exec', 'biome', 'ci', '--colors=off', '.'], { cwd: root, stdio: 'inherit' });
const lintPassed = lint.status === 0;
console.log(
  lintPassed
    ? 'format and lint (biome ci): clean'
    : 'format and lint (biome ci): FAILED — run `pnpm format` to fix the formatting, then see the lint findings above',
);

// Node 24 is installed once here rather than by the packages' test:node24 tasks at once. When it
// cannot be had, those tasks fail and their missing reports count as failures below.
if (!onNode24) {
  try {
    console.log(`unit tests also run under Node 24: ${await installNode(24)}`);
  } catch (error) {
    console.error(error.message);
  }
}

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', FORCE_COLOR: process.env.FORCE_COLOR ?? '0' };
const tasks = onNode24 ? ['build', 'test'] : ['build', 'test', 'test:node24'];
const turbo = spawnSync('pnpm', ['exec', 'turbo', 'run', ...tasks, '--continue', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit', env });

let passed = lintPassed ? 1 : 0;
let failed = lintPassed ? 0 : 1;
let skipped = 0;
const missing = [];
const runs = [];
for (const dir of projects) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  if (manifest.scripts?.test) runs.push({ name: manifest.name, file: reportOf(dir) });
  if (manifest.scripts?.['test:node24'] && !onNode24) runs.push({ name: `${manifest.name} (Node 24)`, file: node24ReportOf(dir) });
}
for (const { name, file } of runs) {
  if (!fs.existsSync(file)) {
    missing.push(name);
    continue;
  }
  const counts = countVitestReport(JSON.parse(fs.readFileSync(file, 'utf8')));
  passed += counts.passed;
  failed += counts.failed;
  skipped += counts.skipped;
  console.log(`${name.padEnd(42)} ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  for (const broken of counts.brokenFiles) console.log(`  ${path.relative(root, broken.name)} failed outside its tests: ${broken.message.split('\n')[0]}`);
}
for (const name of missing) console.log(`${name.padEnd(42)} did not run (build or test setup failed; see above)`);
failed += missing.length;
if (turbo.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
