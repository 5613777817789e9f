// A third-party plugin that lives outside packages/, packed with `pnpm pack` and installed
// with npm into a user's folder beside a config that names it, as a user would do.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddtraceJsUpload, fixtures, freePort, profcol, repoRoot, startProfcol } from '../lib/profcol.js';

let appDir: string;

beforeAll(() => {
  appDir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-user-app-'));
  const packs = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-packs-'));
  execFileSync('pnpm', ['pack', '--pack-destination', packs], { cwd: path.join(fixtures, 'plugin-hello'), stdio: 'ignore' });
  // @profcol/core and what it depends on from this repository.
  for (const pkg of ['core', 'malloc-trim'])
    execFileSync('pnpm', ['pack', '--pack-destination', packs], { cwd: path.join(repoRoot, 'packages', pkg), stdio: 'ignore' });
  fs.writeFileSync(path.join(appDir, 'package.json'), JSON.stringify({ name: 'user-app', private: true }));
  const tarballs = fs.readdirSync(packs).map((f) => path.join(packs, f));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], { cwd: appDir, stdio: 'ignore' });
}, 300_000);

afterAll(() => fs.rmSync(appDir, { recursive: true, force: true }));

async function writeConfig(): Promise<{ port: number; greetings: string }> {
  const port = await freePort();
  fs.writeFileSync(
    path.join(appDir, 'profcol.yaml'),
    `plugins: ["@acme/profcol-exporter-hello"]
receivers:
  ddtrace:
    endpoint: 127.0.0.1:${port}
exporters:
  hello:
    path: ./greetings.txt
service:
  pipelines:
    main:
      receivers: [ddtrace]
      exporters: [hello]
`,
  );
  return { port, greetings: path.join(appDir, 'greetings.txt') };
}

describe('a third-party plugin installed from a tarball', () => {
  it('is listed by `profcol components` beside the built-in components', async () => {
    await writeConfig();
    const { code, stdout } = profcol(['components', '--config', 'profcol.yaml'], { cwd: appDir });
    expect(code).toBe(0);
    expect(stdout).toMatch(/exporter\s+hello\s+@acme\/profcol-exporter-hello\s+1\.2\.3\s+alpha\s+plugin/);
    expect(stdout).toMatch(/receiver\s+ddtrace\s+@profcol\/receiver-ddtrace\s+\S+\s+\S+\s+built-in/);
  });

  it('receives the data of a pipeline run by `profcol run`', async () => {
    const { port, greetings } = await writeConfig();
    const running = await startProfcol(['profcol.yaml'], { cwd: appDir });
    try {
      const upload = ddtraceJsUpload();
      const response = await fetch(`http://127.0.0.1:${port}/profiling/v1/input`, {
        method: 'POST',
        headers: { 'content-type': upload.contentType },
        body: upload.body,
      });
      expect(response.status).toBe(200);
      await running.waitForLog((l) => l.msg === 'greeted');
      expect(fs.readFileSync(greetings, 'utf8')).toMatch(/^hello \S+ from ddtrace: .*wall/m);
    } finally {
      expect(await running.stop('SIGTERM')).toBe(0);
    }
  });
});
