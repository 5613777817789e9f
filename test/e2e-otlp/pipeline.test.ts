/**
 * pipelines/otlp.yaml as a user runs it: `profcol run` scrapes a real Go program
 * (test/go/pprof-target), derives the Go metrics and exports them to a real Collector given
 * by OTLP_ENDPOINT.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFiles } from '@profcol/core';
import { OtlpExporterSchema } from '@profcol/exporter-otlp';
import { describe, expect, it } from 'vitest';
import { startOtelCollector } from '../backends/index.js';
import { freePort, profcol, repoRoot, startProfcol } from '../lib/profcol.js';
import { buildGoProgram, startGoProgram, type PprofTargetReady } from '../setup/go-build.js';
import { useBackend } from './helpers.js';

const pipeline = path.join(repoRoot, 'pipelines', 'otlp.yaml');
const backend = useBackend('otelcol');
const { cleanup } = backend;

describe('pipelines/otlp.yaml', () => {
  it('configures the otlp exporter for ${OTLP_ENDPOINT}, defaulting to http://localhost:4318, with a persistent queue', () => {
    const exporterConfig = (env: Record<string, string>) => {
      const loaded = loadConfigFiles([pipeline], env);
      expect(loaded.issues).toEqual([]);
      const parsed = OtlpExporterSchema.parse((loaded.tree['exporters'] as Record<string, unknown>)['otlp']);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
      return parsed.value;
    };
    expect(exporterConfig({}).endpoint).toBe('http://localhost:4318');
    const config = exporterConfig({ OTLP_ENDPOINT: 'https://otlp.example:4318' });
    expect(config).toMatchObject({ endpoint: 'https://otlp.example:4318', protocol: 'http/protobuf', sending_queue: { storage: './data/otlp-queue' } });
    const pipelines = (
      loadConfigFiles([pipeline], {}).tree['service'] as { pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> }
    ).pipelines;
    expect(pipelines['go']).toEqual({ receivers: ['ddtrace', 'pprof'], processors: ['pprof_decode', 'goruntime', 'tags'], exporters: ['otlp'] });
  });

  it('passes `profcol validate`', () => {
    const result = profcol(['validate', '--config', pipeline], { env: { OTLP_ENDPOINT: 'http://127.0.0.1:4318' } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('`profcol run` exports a real Go program’s prof_go_* metrics to the Collector at OTLP_ENDPOINT', async (ctx) => {
    backend.need(ctx);
    const col = await startOtelCollector();
    cleanup.push(() => col.stop());
    const target = await startGoProgram<PprofTargetReady>(await buildGoProgram('pprof-target'), ['-addr', '127.0.0.1:0']);
    cleanup.push(() => target.stop());
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'profcol-e2e-otlp-pipeline-'));
    cleanup.push(() => fs.rm(dir, { recursive: true, force: true }));
    // Site overrides in a second file (merged after pipelines/otlp.yaml): free ports, the target's address.
    const override = path.join(dir, 'override.yaml');
    await fs.writeFile(
      override,
      [
        'receivers:',
        '  ddtrace:',
        `    endpoint: 127.0.0.1:${await freePort()}`,
        '  pprof:',
        '    interval: 10s',
        '    targets:',
        `      - url: http://${target.ready.addr}`,
        '        service: go-demo',
        '        env: e2e',
        '        version: 0.0.0',
        '        enabled_types: [cpu, goroutine, heap, mutex, block]',
        'exporters:',
        '  otlp:',
        `    sending_queue: { storage: ${JSON.stringify(path.join(dir, 'queue'))} }`,
        '',
      ].join('\n'),
    );
    const run = await startProfcol([pipeline, override], { cwd: dir, env: { OTLP_ENDPOINT: col.otlpHttpEndpoint } });
    cleanup.push(() => run.stop());
    const startedNanos = BigInt(Date.now()) * 1_000_000n;
    const points = await col.waitForPoints((p) => p.some((x) => x.name.startsWith('prof_go_') && x.resource['service.name'] === 'go-demo'), 60_000);
    const ours = points.filter((p) => p.resource['service.name'] === 'go-demo');
    expect(ours.length).toBeGreaterThan(0);
    for (const p of ours) {
      expect(p.name).toMatch(/^prof_go_/);
      expect(p.unit).not.toBe('');
      expect(['gauge', 'sum']).toContain(p.type);
      expect(p.scope.name).toBe('profcol');
      expect(p.resource).toMatchObject({ 'service.name': 'go-demo', 'deployment.environment.name': 'e2e', 'service.version': '0.0.0' });
      expect(p.attributes).toMatchObject({ pipeline: 'otlp' }); // the tags processor of the pipeline
      // The window end of the scrape, not some export-time snapshot far from it.
      expect(BigInt(p.timeUnixNano!)).toBeGreaterThan(startedNanos - 60_000_000_000n);
    }
    const kinds = [...new Set(ours.map((p) => `${p.name} ${p.unit} ${p.type}`))].sort();
    console.log(
      `[e2e-otlp] profcol run → collector: ${ours.length} points, ${kinds.length} metrics:\n  ${kinds.join('\n  ')}\n  resource: ${JSON.stringify(ours[0]!.resource)}`,
    );
    expect(await run.stop()).toBe(0);
  });
});
