/**
 * `profcol` as a user gets it: `pnpm exec profcol` in the repository, and the CLI packed
 * (`pnpm pack`) and installed with npm into an empty folder, from where `profcol components`
 * and `profcol run` work. The workspace packages are not on the registry, so every one is
 * packed and installed from its tarball; their third-party dependencies come from the
 * registry, as they would for a user.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../lib/profcol.js';

const packagesDir = path.join(repoRoot, 'packages');
let work: string;
let installed: string;

function run(command: string, args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-install-'));
  const tarballs = path.join(work, 'tarballs');
  fs.mkdirSync(tarballs);
  for (const name of fs.readdirSync(packagesDir)) {
    const dir = path.join(packagesDir, name);
    const manifest = path.join(dir, 'package.json');
    if (!fs.existsSync(manifest) || JSON.parse(fs.readFileSync(manifest, 'utf8')).private) continue;
    const packed = run('pnpm', ['pack', '--pack-destination', tarballs], dir);
    if (packed.code !== 0) throw new Error(`pnpm pack in packages/${name} failed:\n${packed.stderr}${packed.stdout}`);
  }
  installed = path.join(work, 'app');
  fs.mkdirSync(installed);
  fs.writeFileSync(path.join(installed, 'package.json'), JSON.stringify({ name: 'uses-profcol', private: true }));
  const files = fs.readdirSync(tarballs).map((f) => path.join(tarballs, f));
  const install = run('npm', ['install', '--no-package-lock', ...files], installed);
  if (install.code !== 0) throw new Error(`npm install of the packed tarballs failed:\n${install.stderr}`);
}, 10 * 60_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the profcol command', () => {
  it('runs with `pnpm exec profcol` in the repository', () => {
    const { code, stdout } = run('pnpm', ['exec', 'profcol', '--version'], repoRoot);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^profcol \d+\.\d+\.\d+ \(host API \d+\.\d+\.\d+\)\n$/);
  });

  it('installs from its packed tarball with npm and lists every built-in component', () => {
    const bin = path.join(installed, 'node_modules', '.bin', 'profcol');
    const { code, stdout, stderr } = run(bin, ['components', '--json'], installed);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const types = (JSON.parse(stdout) as { kind: string; type: string; origin: string }[]).map((c) => `${c.kind}/${c.type}`);
    for (const expected of [
      'receiver/ddtrace',
      'receiver/pprof',
      'processor/pprof_decode',
      'processor/goruntime',
      'processor/tags',
      'exporter/otlp',
      'exporter/file',
      'exporter/console',
    ]) {
      expect(types).toContain(expected);
    }
  });

  it('runs a pipeline from the installed package and stops cleanly on SIGTERM', async () => {
    const bin = path.join(installed, 'node_modules', '.bin', 'profcol');
    const config = path.join(installed, 'pipeline.yaml');
    fs.writeFileSync(
      config,
      `receivers:\n  ddtrace:\n    endpoint: 127.0.0.1:0\nprocessors:\n  pprof_decode: {}\n  goruntime: {}\nexporters:\n  file:\n    directory: ./data\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:0\n  pipelines:\n    go:\n      receivers: [ddtrace]\n      processors: [pprof_decode, goruntime]\n      exporters: [file]\n`,
    );
    const child = spawn(bin, ['run', '--config', config, '--log-format', 'json'], { cwd: installed, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Started: the receiver logs the address it listens on.
    for (let waited = 0; !/listening/i.test(output) && child.exitCode === null && waited < 30_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    expect(output).toMatch(/listening/i);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
