import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGoProgram, startGoProgram, type DdtraceDemoReady } from '../setup/go-build.js';
import { ddtraceJsUpload, defaultPipelineOnFreePorts, freePort, profcol, repoRoot, startProfcol } from '../lib/profcol.js';

const pipelinesDir = path.join(repoRoot, 'pipelines');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-cli-'));
}

describe('profcol validate', () => {
  const files = fs.readdirSync(pipelinesDir).filter((f) => f.endsWith('.yaml'));

  it.each(files)('accepts the ready-made pipeline %s', (file) => {
    const { code, stdout, stderr } = profcol(['validate', '--config', path.join(pipelinesDir, file)]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^configuration is valid/);
  });

  it('reports all three mistakes of a config with path and line, and exits 1', () => {
    const dir = tempDir();
    fs.writeFileSync(
      path.join(dir, 'pipeline.yaml'),
      `receivers:
  ddtrace:
    endpoint: localhost:9529
processors:
  pprof_decode: {}
exporters:
  file:
    dirctory: ./data
  console:
    verbosity: loud
service:
  pipelines:
    go:
      receivers: [ddtrace, pprof/payments]
      processors: [pprof_decode]
      exporters: [file, console]
`,
    );
    const { code, stderr } = profcol(['validate', '--config', 'pipeline.yaml'], { cwd: dir });
    expect(code).toBe(1);
    expect(stderr).toContain('the configuration has 3 errors');
    expect(stderr).toContain('exporters::file::dirctory: unknown key "dirctory" (did you mean "directory"?) (pipeline.yaml:8)');
    expect(stderr).toMatch(/exporters::console::verbosity: "loud" is not one of .* \(pipeline\.yaml:10\)/);
    expect(stderr).toContain(
      'service::pipelines::go::receivers::1: references undefined receiver "pprof/payments" (define it under receivers:) (pipeline.yaml:14)',
    );
  });

  it('merges several --config files in order', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'override.yaml'), 'receivers:\n  ddtrace:\n    endpoint: 127.0.0.1:19529\n');
    const { code } = profcol(['validate', '--config', path.join(pipelinesDir, 'default.yaml'), '--config', 'override.yaml'], { cwd: dir });
    expect(code).toBe(0);
  });
});

describe('profcol components', () => {
  it('lists every built-in component with kind, type, package, version and stability', () => {
    const { code, stdout } = profcol(['components', '--json']);
    expect(code).toBe(0);
    const rows = JSON.parse(stdout) as { kind: string; type: string; package: string; version: string; stability: string; origin: string }[];
    expect(rows.map((r) => `${r.kind}/${r.type}`).sort()).toEqual(
      [
        'exporter/console',
        'exporter/file',
        'exporter/otlp',
        'exporter/otlp_profiles',
        'extension/health_check',
        'extension/status',
        'processor/goruntime',
        'processor/memory_limiter',
        'processor/pprof_decode',
        'processor/tags',
        'receiver/ddtrace',
        'receiver/pprof',
      ].sort(),
    );
    for (const row of rows) {
      expect(row.package).toMatch(/^@profcol\//);
      expect(row.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(row.origin).toBe('built-in');
    }
  });
});

describe('profcol --help', () => {
  it.each(['run', 'validate', 'components'])('explains %s', (command) => {
    const { code, stdout } = profcol([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: profcol ${command}`));
  });
  it('lists the commands', () => {
    const { code, stdout } = profcol(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/run\s+run the pipelines/);
  });
  it('refuses an unknown command', () => {
    const { code, stderr } = profcol(['launch']);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown command "launch"');
  });
});

describe('profcol run', () => {
  // The default pipeline's addresses (localhost:9529, :8888, :6060) move to free ports, so these
  // tests run beside a `pnpm start`.
  it('runs the default pipeline: receives dd-trace uploads and writes them to the console and ./data', async () => {
    const dir = tempDir();
    const pipeline = await defaultPipelineOnFreePorts(dir);
    const running = await startProfcol(pipeline.configs, { cwd: dir });
    let output = '';
    running.proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const upload = ddtraceJsUpload();
      const response = await fetch(`http://${pipeline.ddtrace}/profiling/v1/input`, {
        method: 'POST',
        headers: { 'content-type': upload.contentType },
        body: upload.body,
      });
      expect(response.status).toBe(200);
      await expect.poll(() => fs.existsSync(path.join(dir, 'data', 'bundles.jsonl')), { timeout: 10_000 }).toBe(true);
      const pprofFiles = fs.readdirSync(path.join(dir, 'data'), { recursive: true }).filter((f) => String(f).endsWith('.pprof'));
      expect(pprofFiles.length).toBeGreaterThanOrEqual(2);
      // A malformed upload is refused, and both outcomes show in profcol's own metrics.
      const bad = await fetch(`http://${pipeline.ddtrace}/profiling/v1/input`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(bad.status).toBe(415);
      const own = await (await fetch(pipeline.metricsUrl)).text();
      expect(own).toMatch(/profcol_receiver_accepted_uploads_total\{receiver="ddtrace"[^}]*\} 1/);
      expect(own).toMatch(/profcol_receiver_refused_uploads_total\{receiver="ddtrace"[^}]*\} 1/);
    } finally {
      expect(await running.stop('SIGINT')).toBe(0);
    }
    expect(output).toMatch(/wall/);
  });

  it("receives the seed's dd-trace-go demo with the default pipeline (only the demo's agent address points at profcol)", async () => {
    const bin = await buildGoProgram('ddtrace-demo-v2');
    const dir = tempDir();
    const pipeline = await defaultPipelineOnFreePorts(dir);
    const running = await startProfcol(pipeline.configs, { cwd: dir });
    const demo = await startGoProgram<DdtraceDemoReady>(bin, [], { PROFCOL_AGENT_ADDR: pipeline.ddtrace, PROFCOL_PERIOD: '2s', PROFCOL_EXIT_AFTER: '60s' });
    const metricsFile = path.join(dir, 'data', 'metrics.jsonl');
    const cpuPoints = () =>
      fs.existsSync(metricsFile)
        ? fs
            .readFileSync(metricsFile, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { name: string; value: number; attributes: Record<string, string> })
            .filter((p) => p.name === 'prof_go_cpu_cores')
        : [];
    try {
      await expect.poll(() => cpuPoints().length, { timeout: 30_000, interval: 500 }).toBeGreaterThanOrEqual(1);
    } finally {
      await demo.stop();
      expect(await running.stop('SIGTERM')).toBe(0);
    }
    const point = cpuPoints()[0]!;
    expect(point.attributes).toMatchObject({ service: 'ddtrace-demo-v2', env: 'e2e', version: '1.2.3', language: 'golang' });
    expect(point.value).toBeGreaterThan(0);
    const bundles = fs
      .readFileSync(path.join(dir, 'data', 'bundles.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { source: string; profiles: { type: string }[] });
    expect(bundles[0]!.source).toBe('ddtrace');
    expect(bundles[0]!.profiles.map((p) => p.type).sort()).toEqual(['block', 'cpu', 'goroutine', 'heap', 'mutex']);
  });

  it('on SIGTERM during load, loses nothing it acknowledged and exits 0', async () => {
    const dir = tempDir();
    const port = await freePort();
    fs.writeFileSync(
      path.join(dir, 'profcol.yaml'),
      `receivers:
  ddtrace:
    endpoint: 127.0.0.1:${port}
    dedup_window: 0s
exporters:
  file:
    directory: ./data
service:
  pipelines:
    go:
      receivers: [ddtrace]
      exporters: [file]
`,
    );
    const running = await startProfcol(['profcol.yaml'], { cwd: dir });
    const upload = ddtraceJsUpload();
    let acknowledged = 0;
    let refused = 0;
    let stopping = false;
    const sender = async () => {
      while (!stopping) {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/profiling/v1/input`, {
            method: 'POST',
            headers: { 'content-type': upload.contentType },
            body: upload.body,
          });
          if (response.status === 200) acknowledged++;
          else refused++;
        } catch {
          refused++; // connection refused once the receiver stopped listening
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const senders = Array.from({ length: 4 }, sender);
    await new Promise((r) => setTimeout(r, 1500));
    const code = await running.stop('SIGTERM');
    stopping = true;
    await Promise.all(senders);
    expect(code).toBe(0);
    expect(acknowledged).toBeGreaterThan(5);
    // The senders went on past the signal: those requests were refused (503 or no listener), not acknowledged.
    expect(refused).toBeGreaterThan(0);
    const written = fs
      .readFileSync(path.join(dir, 'data', 'bundles.jsonl'), 'utf8')
      .trim()
      .split('\n').length;
    expect(written).toBe(acknowledged);
  });
});
