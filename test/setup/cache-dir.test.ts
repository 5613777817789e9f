/**
 * `PROFCOL_CACHE_DIR` (and `XDG_CACHE_HOME`) decide where the tests build and install what they
 * need. `pnpm test` runs the tests through turbo, whose strict environment mode hands a task only
 * the variables turbo.json names: these tests run turbo for real, with the repository's own
 * turbo.json, and check that every task it defines receives both variables as given.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../lib/profcol.js';
import { profcolCacheDir } from './cache-dir.mjs';

describe('the cache folder of the tests', () => {
  it('is PROFCOL_CACHE_DIR when set, else $XDG_CACHE_HOME/profcol, else ~/.cache/profcol', () => {
    expect(profcolCacheDir({ PROFCOL_CACHE_DIR: '/srv/cache', XDG_CACHE_HOME: '/xdg' })).toBe('/srv/cache');
    expect(profcolCacheDir({ XDG_CACHE_HOME: '/xdg' })).toBe(path.join('/xdg', 'profcol'));
    expect(profcolCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'profcol'));
  });
});

interface Probe {
  pkg: string;
  task: string;
  cacheDir: string | null;
  xdg: string | null;
}

describe('turbo.json', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-turbo-env-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('hands PROFCOL_CACHE_DIR and XDG_CACHE_HOME to every task it defines, in every package', () => {
    const turboJson = fs.readFileSync(path.join(repoRoot, 'turbo.json'), 'utf8');
    const taskKeys = Object.keys((JSON.parse(turboJson) as { tasks: Record<string, unknown> }).tasks);
    const taskNames = [...new Set(taskKeys.map((key) => key.split('#').at(-1)!))];
    // Tasks keyed by package (`@profcol/e2e#test`) need a package of that name; a second package
    // stands for every other one.
    const packageNames = [...new Set(['@profcol/core', ...taskKeys.filter((k) => k.includes('#')).map((k) => k.split('#')[0]!)])];

    // A workspace of stand-in packages whose every task reports what it received. The
    // repository's turbo.json is copied as it is, so the test checks the real configuration.
    fs.writeFileSync(path.join(scratch, 'turbo.json'), turboJson);
    fs.writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'turbo-env-probe', private: true, packageManager: 'pnpm@12.4.2' }));
    fs.writeFileSync(path.join(scratch, 'pnpm-workspace.yaml'), 'packages:\n  - "p/*"\n');
    fs.writeFileSync(
      path.join(scratch, 'probe.mjs'),
      `import fs from 'node:fs';
fs.appendFileSync(${JSON.stringify(path.join(scratch, 'probes.jsonl'))}, JSON.stringify({
  pkg: process.env.npm_package_name, task: process.env.npm_lifecycle_event,
  cacheDir: process.env.PROFCOL_CACHE_DIR ?? null, xdg: process.env.XDG_CACHE_HOME ?? null,
}) + '\\n');
`,
    );
    const lock = ["lockfileVersion: '9.0'", 'importers:', '  .: {}'];
    packageNames.forEach((name, i) => {
      const dir = path.join(scratch, 'p', String(i));
      fs.mkdirSync(dir, { recursive: true });
      const scripts = Object.fromEntries(taskNames.map((task) => [task, 'node ../../probe.mjs']));
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, scripts }));
      lock.push(`  p/${i}: {}`);
    });
    fs.writeFileSync(path.join(scratch, 'pnpm-lock.yaml'), lock.join('\n') + '\n');

    const given = { PROFCOL_CACHE_DIR: path.join(scratch, 'given cache'), XDG_CACHE_HOME: path.join(scratch, 'given xdg') };
    const turbo = spawnSync(
      path.join(repoRoot, 'node_modules', '.bin', 'turbo'),
      ['run', ...taskNames, '--force', '--concurrency=1', '--output-logs=errors-only'],
      {
        cwd: scratch,
        env: { ...process.env, ...given, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(turbo.status, `turbo run ${taskNames.join(' ')} in ${scratch}:\n${turbo.stdout}\n${turbo.stderr}`).toBe(0);

    const probes = fs
      .readFileSync(path.join(scratch, 'probes.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Probe);
    const ran = probes.map((p) => `${p.pkg}#${p.task}`).sort();
    expect(ran).toEqual(packageNames.flatMap((pkg) => taskNames.map((task) => `${pkg}#${task}`)).sort());
    for (const probe of probes) {
      expect({ task: `${probe.pkg}#${probe.task}`, cacheDir: probe.cacheDir, xdg: probe.xdg }).toEqual({
        task: `${probe.pkg}#${probe.task}`,
        cacheDir: given.PROFCOL_CACHE_DIR,
        xdg: given.XDG_CACHE_HOME,
      });
    }
  });
});
