/**
 * The `otlp` exporter against the real OpenTelemetry Collector (otlpreceiver → fileexporter):
 * every point sent must come out with its name, unit, kind, value, timestamps and resource.
 */
import { promises as fs } from 'node:fs';
import type { Batch } from '@profcol/core';
import { mapResource, SCOPE_NAME, SCOPE_VERSION } from '@profcol/exporter-otlp';
import { describe, expect, it } from 'vitest';
import { flattenOtlpMetrics, freePort, startOtelCollector, type FlatPoint, type OtelCollector } from '../backends/index.js';
import { expectedPoints, startOtlp, until, type InProcess, useBackend } from './helpers.js';
import { baseNanos, batchFor, pointKey } from './points.mjs';

const backend = useBackend('otelcol');
const { cleanup } = backend;

const FAST_RETRY = { initial_interval: '100ms', max_interval: '1s', max_elapsed_time: '0' };

async function collector(options: Parameters<typeof startOtelCollector>[0] = {}): Promise<OtelCollector> {
  const c = await startOtelCollector(options);
  cleanup.push(() => c.stop());
  return c;
}

async function otlp(config: Record<string, unknown>): Promise<InProcess> {
  const h = await startOtlp(config);
  cleanup.push(() => h.exporter.shutdown());
  return h;
}

/** Checks that every sent point is in `received` exactly as sent; returns how many duplicates there were. */
function expectEveryPoint(batches: Batch[], received: FlatPoint[]): { duplicates: number } {
  const expected = expectedPoints(batches);
  const seen = new Map<string, number>();
  for (const got of received) {
    const key = pointKey(got.name, String(got.resource['service.name']), got.timeUnixNano!);
    const sent = expected.get(key);
    expect(sent, `received a point that was never sent: ${key}`).toBeDefined();
    seen.set(key, (seen.get(key) ?? 0) + 1);
    expect({
      name: got.name,
      unit: got.unit,
      type: got.type,
      monotonic: got.isMonotonic,
      temporality: got.aggregationTemporality,
      value: got.value,
      time: got.timeUnixNano,
      start: got.startTimeUnixNano,
      attributes: got.attributes,
      resource: got.resource,
      scope: got.scope,
    }).toEqual({
      name: sent!.name,
      unit: sent!.unit,
      type: sent!.kind,
      monotonic: sent!.kind === 'sum' ? true : undefined,
      temporality: sent!.kind === 'sum' ? 2 : undefined,
      value: sent!.value,
      time: sent!.timeNanos.toString(),
      start: sent!.startTimeNanos!.toString(),
      attributes: sent!.attributes,
      resource: mapResource(sent!.resource, ['profile_seq']),
      scope: { name: SCOPE_NAME, version: SCOPE_VERSION },
    });
  }
  const missing = [...expected.keys()].filter((k) => !seen.has(k));
  expect(missing, `points sent but not found in the collector's output`).toEqual([]);
  return { duplicates: [...seen.values()].reduce((n, c) => n + c - 1, 0) };
}

describe('otlp exporter → real OpenTelemetry Collector', () => {
  it.for(['http/protobuf', 'http/json'] as const)(
    'every point sent over %s is in the collector’s output with its name, unit, value, timestamps and resource',
    async (protocol, ctx) => {
      backend.need(ctx);
      const col = await collector();
      const h = await otlp({ endpoint: col.otlpHttpEndpoint, protocol });
      const base = baseNanos();
      const batches = Array.from({ length: 50 }, (_, w) => batchFor(base, w));
      const total = batches.reduce((n, b) => n + b.metrics.length, 0);
      const started = performance.now();
      for (const batch of batches) await h.exporter.consume(batch);
      await until(() => h.counter('profcol_exporter_sent_metric_points_total') === total, 30_000, `${total} points accepted`);
      const ms = performance.now() - started;
      const received = await col.waitForPoints((p) => p.length >= total, 15_000);
      const { duplicates } = expectEveryPoint(batches, received);
      expect(duplicates).toBe(0);
      expect(h.counter('profcol_exporter_send_failed_metric_points_total')).toBe(0);
      console.log(
        `[e2e-otlp] collector ${protocol}: ${total} points in ${batches.length} batches (${h.counter('profcol_exporter_sent_requests_total')} requests) accepted in ${ms.toFixed(0)} ms`,
      );
    },
  );

  it('delivers everything once a collector that was down at start comes up', async (ctx) => {
    backend.need(ctx);
    const port = await freePort();
    const h = await otlp({ endpoint: `http://127.0.0.1:${port}`, retry_on_failure: FAST_RETRY });
    const base = baseNanos();
    const batches = Array.from({ length: 10 }, (_, w) => batchFor(base, w));
    for (const batch of batches) await h.exporter.consume(batch);
    await until(() => h.counter('profcol_exporter_send_failed_attempts_total', { reason: 'ECONNREFUSED' }) >= 20, 10_000, 'refused attempts');
    expect(h.counter('profcol_exporter_sent_metric_points_total')).toBe(0);
    const col = await collector({ port });
    const received = await col.waitForPoints((p) => p.length >= 120, 20_000);
    expect(expectEveryPoint(batches, received).duplicates).toBe(0);
  });

  it('loses nothing when the collector goes down for a while mid-run (with a persistent queue)', async (ctx) => {
    backend.need(ctx);
    const storage = await fs.mkdtemp('/tmp/profcol-e2e-otlp-');
    cleanup.push(() => fs.rm(storage, { recursive: true, force: true }));
    const first = await startOtelCollector({ keepWorkDir: true });
    const port = first.port;
    const h = await otlp({ endpoint: first.otlpHttpEndpoint, retry_on_failure: FAST_RETRY, sending_queue: { storage } });
    const base = baseNanos();
    const batches = Array.from({ length: 30 }, (_, w) => batchFor(base, w));
    const send = async (from: number, to: number) => {
      for (let w = from; w < to; w++) {
        await h.exporter.consume(batches[w]!);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await send(0, 10);
    await first.waitForPoints((p) => p.length >= 120, 15_000);
    await first.stop(); // the collector flushes what it accepted, then exits
    const before = flattenOtlpMetrics(
      (await fs.readFile(first.outputFile, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    );
    await fs.rm(first.workDir, { recursive: true, force: true });

    const downAt = Date.now();
    await send(10, 20); // acknowledged into the queue while the backend is down
    await until(() => h.counter('profcol_exporter_retries_total') >= 10, 10_000, 'retries while down');
    await new Promise((r) => setTimeout(r, 2000));
    const second = await collector({ port });
    const downMs = Date.now() - downAt;
    await send(20, 30);
    const after = await second.waitForPoints((p) => before.length + p.length >= 360, 30_000);
    const { duplicates } = expectEveryPoint(batches, [...before, ...after]);
    expect(h.counter('profcol_exporter_send_failed_metric_points_total')).toBe(0);
    console.log(
      `[e2e-otlp] collector down ${downMs} ms mid-run: 360/360 points delivered, ${duplicates} duplicates, ${h.counter('profcol_exporter_retries_total')} retries`,
    );
  });
});
