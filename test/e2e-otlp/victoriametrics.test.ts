/**
 * The `otlp` exporter against real VictoriaMetrics: profcol exports, the test reads the values
 * back through VictoriaMetrics' HTTP API (/api/v1/export and PromQL /api/v1/query).
 */
import { mapResource } from '@profcol/exporter-otlp';
import { describe, expect, it } from 'vitest';
import { startVictoriaMetrics, type VictoriaMetrics } from '../backends/index.js';
import { startOtlp, until, type InProcess, useBackend } from './helpers.js';
import { baseNanos, batchFor, METRICS, RESOURCES, windowEnd } from './points.mjs';

const backend = useBackend('victoriametrics');
const { cleanup } = backend;

async function vmBackend(): Promise<VictoriaMetrics> {
  const vm = await startVictoriaMetrics();
  cleanup.push(() => vm.stop());
  return vm;
}

async function otlp(config: Record<string, unknown>): Promise<InProcess> {
  const h = await startOtlp(config);
  cleanup.push(() => h.exporter.shutdown());
  return h;
}

describe('otlp exporter → real VictoriaMetrics', () => {
  it('stores every point with its value at its own timestamp, labelled with the mapped resource', async (ctx) => {
    backend.need(ctx);
    const vm = await vmBackend();
    const h = await otlp({ endpoint: vm.otlpEndpoint });
    const base = baseNanos(60);
    const windows = 30;
    const batches = Array.from({ length: windows }, (_, w) => batchFor(base, w));
    const total = batches.reduce((n, b) => n + b.metrics.length, 0);
    for (const batch of batches) await h.exporter.consume(batch);
    await until(() => h.counter('profcol_exporter_sent_metric_points_total') === total, 30_000, `${total} points accepted`);

    const series = await vm.waitForSeries('{__name__=~"prof_go_.*"}', (s) => s.reduce((n, x) => n + x.values.length, 0) >= total, 20_000);
    // One series per metric and service; its samples are the windows, in order.
    expect(series).toHaveLength(METRICS.length * RESOURCES.length);
    let checked = 0;
    for (const s of series) {
      const resource = RESOURCES.find((r) => r['service'] === s.metric['service.name'])!;
      const { profile_seq: _seq, ...identity } = resource;
      expect(s.metric).toMatchObject({ ...mapResource(identity), 'scope.name': 'profcol' });
      expect(s.metric).not.toHaveProperty('profile_seq');
      const sent = batches.flatMap((b) => b.metrics).filter((p) => p.name === s.metric['__name__'] && p.resource['service'] === resource['service']);
      expect(s.timestamps).toEqual(sent.map((p) => Number(p.timeNanos / 1_000_000n)));
      expect(s.values).toEqual(sent.map((p) => p.value));
      checked += sent.length;
    }
    expect(checked).toBe(total);

    // And through PromQL, as a dashboard would ask.
    const lastWindow = windowEnd(base, windows - 1);
    const at = Number(lastWindow / 1_000_000n) / 1000;
    const result = await vm.query('prof_go_goroutines{service.name="checkout"}', { time: at });
    expect(result.map((r) => Number(r.value[1]))).toEqual([(windows - 1) * 1000 + 2 + 0.25]);
    const cores = await vm.query('sum by (service.name) (prof_go_cpu_cores)', { time: at });
    expect(Object.fromEntries(cores.map((r) => [r.metric['service.name'], Number(r.value[1])]))).toEqual({
      checkout: (windows - 1) * 1000 + 0.25,
      payments: (windows - 1) * 1000 + 100 + 0.25,
    });
  });

  it('gets a real 400 for OTLP JSON (this VictoriaMetrics takes protobuf only): a counted drop with the backend’s message, never retried', async (ctx) => {
    backend.need(ctx);
    const vm = await vmBackend();
    const h = await otlp({ endpoint: vm.otlpEndpoint, protocol: 'http/json', retry_on_failure: { initial_interval: '10ms' } });
    await h.exporter.consume(batchFor(baseNanos(), 0));
    await until(() => h.counter('profcol_exporter_send_failed_metric_points_total') === 12, 10_000, 'the drop');
    expect(h.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'http_400' })).toBe(12);
    expect(h.counter('profcol_exporter_retries_total')).toBe(0);
    const logged = h.logs.filter((l) => String(l['msg']).startsWith('dropped a request')).map((l) => String(l['msg']));
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatch(/answered 400 Bad Request: .*json encoding isn't supported/);
  });
});
