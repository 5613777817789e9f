/**
 * profcol run with the default pipeline: the health_check extension's probes, and the
 * memory_limiter's refusal as a dd-trace client sees it (503 with Retry-After, so it retries).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ddtraceJsUpload, defaultPipelineOnFreePorts, startProfcol } from '../lib/profcol.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-health-e2e-'));
}

describe('profcol run: health and memory', () => {
  it('answers /healthz and /readyz 200 once the default pipeline runs', async () => {
    const dir = tempDir();
    const pipeline = await defaultPipelineOnFreePorts(dir);
    const running = await startProfcol(pipeline.configs, { cwd: dir });
    try {
      expect((await fetch(`${pipeline.healthUrl}healthz`)).status).toBe(200);
      const ready = await fetch(`${pipeline.healthUrl}readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', state: 'running', exporters: { console: { stuck: false }, file: { stuck: false } } });
    } finally {
      expect(await running.stop('SIGTERM')).toBe(0);
    }
  });

  it('refuses dd-trace uploads with 503 memory_limit and Retry-After while memory is above the memory_limiter soft limit', async () => {
    const dir = tempDir();
    const pipeline = await defaultPipelineOnFreePorts(dir);
    // 1 MiB: any Node process is above it, so every check finds the soft limit passed.
    const limited = path.join(dir, 'memory-limit.yaml');
    fs.writeFileSync(
      limited,
      JSON.stringify({
        processors: { memory_limiter: { limit_mib: 1, check_interval: '10ms' } },
        service: { pipelines: { go: { processors: ['memory_limiter', 'pprof_decode', 'goruntime'] } } },
      }),
    );
    const running = await startProfcol([...pipeline.configs, limited], { cwd: dir });
    try {
      const upload = ddtraceJsUpload();
      const response = await fetch(`http://${pipeline.ddtrace}/profiling/v1/input`, {
        method: 'POST',
        headers: { 'content-type': upload.contentType },
        body: upload.body,
      });
      expect([response.status, response.headers.get('retry-after')]).toEqual([503, '1']);
      expect(await response.json()).toMatchObject({ reason: 'memory_limit' });
      const own = await (await fetch(pipeline.metricsUrl)).text();
      expect(own).toMatch(/profcol_receiver_refused_uploads_total\{receiver="ddtrace",reason="memory_limit"\} 1/);
      expect(own).toMatch(/profcol_processor_memory_limiter_refused_batches_total\{processor="memory_limiter",reason="(soft|hard)_limit"\} 1/);
      expect(fs.existsSync(path.join(dir, 'data', 'bundles.jsonl'))).toBe(false);
      expect(running.logs.some((l) => String(l['msg']).startsWith('memory_limiter: memory above the hard limit'))).toBe(true);
    } finally {
      expect(await running.stop('SIGTERM')).toBe(0);
    }
  });
});
