import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Collector,
  ComponentRegistry,
  defineExtension,
  defineReceiver,
  definePlugin,
  loadConfigFiles,
  planOrThrow,
  s,
  silentLogger,
  Telemetry,
  type Batch,
  type Consumer,
} from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import otlpExporter from '@profcol/exporter-otlp';
import { healthCheckConfigSchema, HealthCheckExtension } from '../src/index.js';

/** A clock the test moves by hand: "stuck for a minute" without waiting a minute. */
class ManualClock {
  ms = 1_000_000;
  readonly now = () => this.ms;
}

/**
 * Test-only parts around the real extension: a receiver the test pushes batches through (and
 * whose stop waits on a gate, as a receiver still answering a request does), and the
 * `health_check` factory with the manual clock injected.
 */
function testPlugin(clock: ManualClock, state: { next?: Consumer; extension?: HealthCheckExtension; stopGate?: Promise<void> }) {
  const source = defineReceiver({
    type: 'source',
    stability: 'development',
    config: s.object({}),
    create: (_settings, _config, next) => {
      state.next = next;
      return { shutdown: () => state.stopGate };
    },
  });
  const health = defineExtension({
    type: 'health_check',
    stability: 'development',
    config: healthCheckConfigSchema,
    create: (settings, config) => (state.extension = new HealthCheckExtension(settings, config, { now: clock.now })),
  });
  return definePlugin({ name: '@test/health', version: '1.0.0', profcol: '^1.0.0', components: [source, health] });
}

function collectorFor(yaml: string, clock: ManualClock, state: Parameters<typeof testPlugin>[1]): Collector {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-health-'));
  fs.writeFileSync(path.join(dir, 'pipeline.yaml'), yaml);
  const registry = new ComponentRegistry();
  registry.register(testPlugin(clock, state));
  registry.register(otlpExporter);
  return new Collector(planOrThrow(loadConfigFiles([path.join(dir, 'pipeline.yaml')], {}), registry));
}

function pointBatch(): Batch {
  return {
    bundles: [],
    metrics: [
      {
        name: 'prof_go_goroutines',
        unit: '{goroutine}',
        kind: 'gauge',
        value: 12,
        timeNanos: 1_700_000_000_000_000_000n,
        attributes: {},
        resource: { service: 'demo' },
      },
    ],
  };
}

async function probe(url: string, method = 'GET'): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { method });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** An OTLP backend that takes requests and answers only when told to: a destination that hangs. */
async function hangingBackend() {
  const held: http.ServerResponse[] = [];
  let received = 0;
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received++;
      held.push(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get received() {
      return received;
    },
    answerOldest() {
      held.shift()?.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    },
    answerAll() {
      for (const response of held.splice(0)) response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function config(backendUrl: string, extra = ''): string {
  return `
receivers:
  source: {}
exporters:
  otlp:
    endpoint: ${backendUrl}
    timeout: 1h
    drain_timeout: 1ms
    retry_on_failure: { enabled: false }
extensions:
  health_check:
    endpoint: 127.0.0.1:0
    stuck_after: 1m
${extra}
service:
  extensions: [health_check]
  shutdown_timeout: 1s
  pipelines:
    go:
      receivers: [source]
      exporters: [otlp]
`;
}

describe('health_check extension', () => {
  it('binds to localhost:13133 unless configured, as the Collector does', () => {
    const parsed = healthCheckConfigSchema.parse({});
    expect(parsed.ok && parsed.value).toEqual({ endpoint: 'localhost:13133', stuck_after: 60_000 });
  });

  it('refuses an endpoint that is not host:port, saying what is accepted', () => {
    const parsed = healthCheckConfigSchema.parse({ endpoint: 'http://0.0.0.0' });
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.issues[0]!.message).toMatch(/is not host:port \(e\.g\. localhost:13133/);
  });

  it('answers /healthz and /readyz 200 once every component started, / as /readyz, HEAD too', async () => {
    const backend = await hangingBackend();
    cleanups.push(backend.close);
    const clock = new ManualClock();
    const state: Parameters<typeof testPlugin>[1] = {};
    const collector = collectorFor(config(backend.url), clock, state);
    cleanups.push(() => collector.shutdown());
    await collector.start();
    const base = state.extension!.url!;
    expect(await probe(`${base}healthz`)).toEqual({ status: 200, body: { status: 'alive' } });
    const ready = await probe(`${base}readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', state: 'running', reasons: [], exporters: { otlp: { pending: 0, stuck: false } } });
    expect((await probe(base)).status).toBe(200);
    expect((await probe(`${base}readyz`, 'HEAD')).status).toBe(200);
    expect((await probe(`${base}metrics`)).status).toBe(404);
    expect((await probe(`${base}readyz`, 'POST')).status).toBe(405);
    expect(collector.telemetry.value('profcol_extension_health_check_requests_total', { probe: 'readyz', status: '200' })).toBe(3);
    expect(collector.telemetry.value('profcol_extension_health_check_requests_total', { probe: 'other', status: '404' })).toBe(1);
  });

  it('answers /readyz 503 naming the exporter whose queue made no progress for stuck_after, and 200 once it moves again', async () => {
    const backend = await hangingBackend();
    cleanups.push(backend.close);
    const clock = new ManualClock();
    const state: Parameters<typeof testPlugin>[1] = {};
    const collector = collectorFor(config(backend.url), clock, state);
    cleanups.push(() => collector.shutdown());
    await collector.start();
    const readyz = `${state.extension!.url!}readyz`;

    await state.next!.consume(pointBatch());
    await until(() => backend.received === 1);
    expect((await probe(readyz)).body.exporters.otlp).toEqual({ pending: 1, waitingMs: 0, stuck: false });
    clock.ms += 59_000;
    expect((await probe(readyz)).status).toBe(200);
    clock.ms += 1_000;
    const stuck = await probe(readyz);
    expect(stuck.status).toBe(503);
    expect(stuck.body.state).toBe('running');
    expect(stuck.body.reasons).toEqual([
      'exporter "otlp" is stuck: 1 request has waited 1m with none delivered or dropped (stuck_after 1m); check its destination',
    ]);
    expect((await probe(`${state.extension!.url!}healthz`)).status).toBe(200);

    backend.answerAll();
    await until(() => collector.telemetry.value('profcol_exporter_sent_requests_total', { exporter: 'otlp' }) === 1);
    clock.ms += 120_000;
    expect((await probe(readyz)).status).toBe(200);
    expect(collector.telemetry.value('profcol_extension_health_check_readiness_changes_total', { to: 'not_ready' })).toBe(1);
    expect(collector.telemetry.value('profcol_extension_health_check_readiness_changes_total', { to: 'ready' })).toBe(2);
  });

  it('does not call a queue stuck that always holds requests but keeps delivering them', async () => {
    const backend = await hangingBackend();
    cleanups.push(backend.close);
    const clock = new ManualClock();
    const state: Parameters<typeof testPlugin>[1] = {};
    const collector = collectorFor(config(backend.url), clock, state);
    cleanups.push(() => collector.shutdown());
    await collector.start();
    const readyz = `${state.extension!.url!}readyz`;
    await state.next!.consume(pointBatch());
    await until(() => backend.received === 1);
    for (let round = 1; round <= 3; round++) {
      await state.next!.consume(pointBatch());
      await until(() => backend.received === round + 1);
      expect((await probe(readyz)).status).toBe(200);
      clock.ms += 50_000;
      backend.answerOldest();
      await until(() => collector.telemetry.value('profcol_exporter_sent_requests_total', { exporter: 'otlp' }) === round);
    }
    // 150 s with a request always waiting, but one delivered between every two looks.
    const last = await probe(readyz);
    expect(last.status).toBe(200);
    expect(last.body.exporters.otlp).toEqual({ pending: 1, waitingMs: 0, stuck: false });
  });

  it('answers /readyz 503 while shutting down, /healthz still 200', async () => {
    const backend = await hangingBackend();
    cleanups.push(backend.close);
    const clock = new ManualClock();
    let openGate!: () => void;
    const state: Parameters<typeof testPlugin>[1] = { stopGate: new Promise<void>((resolve) => (openGate = resolve)) };
    const collector = collectorFor(config(backend.url), clock, state);
    await collector.start();
    const base = state.extension!.url!;
    expect((await probe(`${base}readyz`)).status).toBe(200);
    const stopping = collector.shutdown();
    const during = await probe(`${base}readyz`);
    expect(during).toMatchObject({ status: 503, body: { status: 'not_ready', state: 'stopping', reasons: ['profcol is shutting down'] } });
    expect((await probe(`${base}healthz`)).status).toBe(200);
    openGate();
    await stopping;
    await expect(fetch(`${base}healthz`)).rejects.toThrow();
  });

  it('reports not ready while the other components are still starting', async () => {
    const clock = new ManualClock();
    // A host caught in the middle of its start: the extension is started first, the rest after.
    const startingHost = { telemetry: new Telemetry(), logger: silentLogger(), getExtension: () => undefined, state: 'starting' as const };
    const parsed = healthCheckConfigSchema.parse({ endpoint: '127.0.0.1:0' });
    if (!parsed.ok) throw new Error('config');
    const extension = new HealthCheckExtension(createTestSettings({ id: 'health_check', kind: 'extension' }), parsed.value, { now: clock.now });
    await extension.start(startingHost);
    cleanups.push(() => extension.shutdown());
    expect(await probe(`${extension.url!}readyz`)).toMatchObject({ status: 503, body: { state: 'starting', reasons: ['profcol is starting its components'] } });
  });
});
