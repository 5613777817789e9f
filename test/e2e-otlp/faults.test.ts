/**
 * Faults injected by a proxy in front of the real OpenTelemetry Collector: 429 with
 * Retry-After, 503s, 500s. What finally counts is what the collector wrote out.
 */
import type { Batch } from '@profcol/core';
import { describe, expect, it } from 'vitest';
import { startOtelCollector, type OtelCollector } from '../backends/index.js';
import { expectedPoints, startFaultProxy, startOtlp, until, type FaultProxy, type InProcess, useBackend } from './helpers.js';
import { baseNanos, batchFor, pointKey } from './points.mjs';

const backend = useBackend('otelcol');
const { cleanup } = backend;

async function setup(config: Record<string, unknown>): Promise<{ col: OtelCollector; proxy: FaultProxy; h: InProcess }> {
  const col = await startOtelCollector();
  cleanup.push(() => col.stop());
  const proxy = await startFaultProxy(col.otlpHttpEndpoint);
  cleanup.push(() => proxy.close());
  const h = await startOtlp({ endpoint: proxy.url, ...config });
  cleanup.push(() => h.exporter.shutdown());
  return { col, proxy, h };
}

/** Keys of the points in the collector's output, with how often each arrived. */
async function arrived(col: OtelCollector): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const p of await col.readPoints()) {
    const key = pointKey(p.name, String(p.resource['service.name']), p.timeUnixNano!);
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

const batchesOf = (n: number): Batch[] => {
  const base = baseNanos();
  return Array.from({ length: n }, (_, w) => batchFor(base, w));
};

describe('otlp exporter under injected faults (real collector behind a fault proxy)', () => {
  it('waits as long as a 429’s Retry-After says, then delivers everything exactly once', async (ctx) => {
    backend.need(ctx);
    const { col, proxy, h } = await setup({ retry_on_failure: { initial_interval: '50ms', max_interval: '200ms' }, sending_queue: { num_consumers: 1 } });
    proxy.decide = (i) => (i < 3 ? { kind: 'fault', status: 429, headers: { 'Retry-After': '2' }, body: 'rate limited' } : undefined);
    const batches = batchesOf(5);
    for (const b of batches) await h.exporter.consume(b);
    await until(() => h.counter('profcol_exporter_sent_metric_points_total') === 60, 30_000, 'all points accepted');
    const times = proxy.log.map((e) => e.at);
    const gaps = times.slice(1, 4).map((t, i) => t - times[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1990);
    expect(h.counter('profcol_exporter_retries_total', { reason: 'http_429' })).toBe(3);
    await col.waitForPoints((p) => p.length >= 60, 10_000);
    const got = await arrived(col);
    expect([...expectedPoints(batches).keys()].every((k) => got.get(k) === 1)).toBe(true);
    console.log(`[e2e-otlp] 429 Retry-After 2: retry gaps ${gaps.join(', ')} ms; 60/60 points delivered once`);
  });

  it('rides out a burst of 503s without losing anything', async (ctx) => {
    backend.need(ctx);
    const { col, proxy, h } = await setup({ retry_on_failure: { initial_interval: '50ms', max_interval: '200ms' } });
    proxy.decide = (i) => (i < 25 ? { kind: 'fault', status: 503 } : undefined);
    const batches = batchesOf(10);
    for (const b of batches) await h.exporter.consume(b);
    await col.waitForPoints((p) => p.length >= 120, 30_000);
    const got = await arrived(col);
    expect([...expectedPoints(batches).keys()].filter((k) => !got.has(k))).toEqual([]);
    expect(h.counter('profcol_exporter_retries_total', { reason: 'http_503' })).toBe(25);
  });

  it('treats 500 as permanent by default (OTLP spec): those points are counted, logged drops and the rest arrive', async (ctx) => {
    backend.need(ctx);
    const { col, proxy, h } = await setup({ sending_queue: { num_consumers: 1 } });
    proxy.decide = (i) => (i % 4 === 1 ? { kind: 'fault', status: 500, body: 'internal error: disk full' } : undefined);
    const batches = batchesOf(10);
    for (const b of batches) await h.exporter.consume(b);
    await until(
      () => h.counter('profcol_exporter_sent_metric_points_total') + h.counter('profcol_exporter_send_failed_metric_points_total') === 120,
      15_000,
      'every point accounted for',
    );
    const failed = proxy.log.filter((e) => e.status === 500).length;
    expect(h.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'http_500' })).toBe(failed * 6);
    expect(h.logs.filter((l) => String(l['msg']).includes('answered 500 Internal Server Error: internal error: disk full'))).toHaveLength(failed);
    await col.waitForPoints((p) => p.length >= 120 - failed * 6, 10_000);
    expect((await col.readPoints()).length).toBe(120 - failed * 6);
  });

  it('retries 500s when they are listed in retryable_status_codes, and then nothing is lost', async (ctx) => {
    backend.need(ctx);
    const { col, proxy, h } = await setup({
      retry_on_failure: { initial_interval: '50ms', max_interval: '200ms', retryable_status_codes: [429, 500, 502, 503, 504] },
    });
    proxy.decide = (i) => (i < 15 ? { kind: 'fault', status: 500 } : undefined);
    const batches = batchesOf(10);
    for (const b of batches) await h.exporter.consume(b);
    await col.waitForPoints((p) => p.length >= 120, 30_000);
    const got = await arrived(col);
    expect([...expectedPoints(batches).keys()].filter((k) => got.get(k) !== 1)).toEqual([]);
    expect(h.counter('profcol_exporter_send_failed_metric_points_total')).toBe(0);
  });
});
