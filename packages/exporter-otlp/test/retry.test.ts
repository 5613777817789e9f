import { BackpressureError, PermanentError } from '@profcol/core';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRetryAfter } from '@profcol/core';
import { startOtlpStub, type OtlpStub } from '../src/testing.js';
import { FAST_RETRY, point, points, startExporter, until, type Harness } from './helpers.js';

let stub: OtlpStub | undefined;
let harness: Harness | undefined;

afterEach(async () => {
  await harness?.exporter.shutdown();
  harness = undefined;
  await stub?.close();
  stub = undefined;
});

/** Request arrival times relative to the first one. */
function gaps(_stub: OtlpStub, arrivals: number[]): number[] {
  return arrivals.slice(1).map((t, i) => t - arrivals[i]!);
}

describe('retry_on_failure', () => {
  it.each([429, 503])('retries a %i after the backend’s Retry-After, then delivers', async (status) => {
    const arrivals: number[] = [];
    stub = await startOtlpStub({
      reply: (i) => {
        arrivals.push(Date.now());
        return i < 2 ? { status, headers: { 'Retry-After': '1' } } : undefined;
      },
    });
    harness = await startExporter({ endpoint: stub.url, retry_on_failure: FAST_RETRY });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await until(() => harness!.counter('profcol_exporter_sent_metric_points_total') === 1);
    expect(stub.requests.map((r) => r.status)).toEqual([status, status, 200]);
    // The backoff alone would wait 20 ms; Retry-After: 1 says a second.
    for (const gap of gaps(stub, arrivals)) expect(gap).toBeGreaterThanOrEqual(990);
    expect(harness.counter('profcol_exporter_retries_total', { reason: `http_${status}` })).toBe(2);
    expect(harness.counter('profcol_exporter_send_failed_attempts_total', { reason: `http_${status}` })).toBe(2);
    expect(harness.counter('profcol_exporter_sent_metric_points_total')).toBe(1);
    expect(harness.counter('profcol_exporter_send_failed_metric_points_total')).toBe(0);
  });

  it.each([502, 504])('retries a %i with exponential backoff', async (status) => {
    stub = await startOtlpStub({ reply: (i) => (i < 3 ? { status } : undefined) });
    harness = await startExporter({ endpoint: stub.url, retry_on_failure: FAST_RETRY });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitForAccepted(1);
    expect(stub.requests.map((r) => r.status)).toEqual([status, status, status, 200]);
  });

  it('never retries a 400: the points are a counted drop, logged with the backend’s message', async () => {
    stub = await startOtlpStub({ reply: () => ({ status: 400, headers: { 'Content-Type': 'text/plain' }, body: 'metric name "bad name" is invalid' }) });
    harness = await startExporter({ endpoint: stub.url, retry_on_failure: FAST_RETRY });
    await harness.exporter.consume({ bundles: [], metrics: [point(), point({ value: 2 })] });
    await harness.exporter.shutdown();
    expect(stub.requests).toHaveLength(1);
    expect(harness.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'http_400' })).toBe(2);
    expect(harness.counter('profcol_exporter_retries_total')).toBe(0);
    const line = harness.logs().find((l) => l['msg'] && String(l['msg']).startsWith('dropped a request'));
    expect(line?.['msg']).toContain('metric name "bad name" is invalid');
    expect(line?.['reason']).toBe('http_400');
  });

  it('reads the message of a protobuf google.rpc.Status error body', async () => {
    // Status { code: 3, message: "bad unit" }
    const status = Buffer.from([0x08, 0x03, 0x12, 0x08, ...Buffer.from('bad unit')]);
    stub = await startOtlpStub({ reply: () => ({ status: 400, headers: { 'Content-Type': 'application/x-protobuf' }, body: status }) });
    harness = await startExporter({ endpoint: stub.url });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await harness.exporter.shutdown();
    expect(harness.logs().some((l) => String(l['msg']).endsWith('answered 400 Bad Request: bad unit'))).toBe(true);
  });

  it('does not retry a 500 by default (OTLP says only 429/502/503/504), but does when it is listed in retryable_status_codes', async () => {
    stub = await startOtlpStub({ reply: (i) => (i < 2 ? { status: 500 } : undefined) });
    harness = await startExporter({ endpoint: stub.url, retry_on_failure: FAST_RETRY });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await harness.exporter.shutdown();
    expect(harness.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'http_500' })).toBe(1);

    stub.reply = (i) => (i < 4 ? { status: 500 } : undefined);
    harness = await startExporter({ endpoint: stub.url, retry_on_failure: { ...FAST_RETRY, retryable_status_codes: [429, 500, 502, 503, 504] } });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitForAccepted(1);
    expect(stub.requests.map((r) => r.status)).toEqual([500, 500, 500, 500, 200]);
  });

  it('delivers once a backend that was down at start comes up (connection refused is retried)', async () => {
    const probe = await startOtlpStub();
    const port = probe.port;
    await probe.close();
    harness = await startExporter({ endpoint: `http://127.0.0.1:${port}`, retry_on_failure: FAST_RETRY });
    await harness.exporter.consume({ bundles: [], metrics: points(5) });
    await new Promise((r) => setTimeout(r, 300));
    expect(harness.counter('profcol_exporter_send_failed_attempts_total', { reason: 'ECONNREFUSED' })).toBeGreaterThan(1);
    stub = await startOtlpStub({ port });
    await stub.waitForAccepted(5);
    expect(stub.accepted.map((p) => p.value)).toEqual([0, 1, 2, 3, 4]);
  });

  it('retries a request that times out', async () => {
    stub = await startOtlpStub({ reply: (i) => (i === 0 ? { delayMs: 500 } : undefined) });
    harness = await startExporter({ endpoint: stub.url, timeout: '100ms', retry_on_failure: FAST_RETRY });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitFor(() => stub!.requests.filter((r) => r.status === 200).length >= 2, 5000, 'the retry');
    expect(harness.counter('profcol_exporter_send_failed_attempts_total', { reason: 'timeout' })).toBe(1);
  });

  it('gives up after max_elapsed_time: a counted drop with reason retries_exhausted', async () => {
    stub = await startOtlpStub({ reply: () => ({ status: 503 }) });
    harness = await startExporter({ endpoint: stub.url, retry_on_failure: { ...FAST_RETRY, max_elapsed_time: '200ms' } });
    await harness.exporter.consume({ bundles: [], metrics: points(3) });
    await stub.waitFor(() => harness!.counter('profcol_exporter_send_failed_metric_points_total') > 0, 5000, 'the drop');
    expect(harness.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'retries_exhausted' })).toBe(3);
    expect(stub.requests.length).toBeGreaterThan(2);
  });

  it('with retries disabled, a retryable failure is dropped after one attempt', async () => {
    stub = await startOtlpStub({ reply: () => ({ status: 503 }) });
    harness = await startExporter({ endpoint: stub.url, retry_on_failure: { enabled: false } });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await harness.exporter.shutdown();
    expect(stub.requests).toHaveLength(1);
    expect(harness.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'http_503' })).toBe(1);
  });

  it('without a queue, consume() rejects: PermanentError for a 400, BackpressureError when retries run out', async () => {
    stub = await startOtlpStub({ reply: () => ({ status: 400, body: 'nope' }) });
    harness = await startExporter({ endpoint: stub.url, sending_queue: { enabled: false } });
    await expect(harness.exporter.consume({ bundles: [], metrics: [point()] })).rejects.toThrow(PermanentError);
    await harness.exporter.shutdown();

    stub.reply = () => ({ status: 503 });
    harness = await startExporter({ endpoint: stub.url, sending_queue: { enabled: false }, retry_on_failure: { ...FAST_RETRY, max_elapsed_time: '100ms' } });
    const refusal = harness.exporter.consume({ bundles: [], metrics: [point()] });
    await expect(refusal).rejects.toThrow(BackpressureError);
    await expect(refusal).rejects.toThrow(/answered 503/);
  });
});

describe('Retry-After', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
