import { afterEach, beforeAll, type TestContext } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger, type Batch, type MetricPoint } from '@profcol/core';
import { createTestSettings, type TestSettings } from '@profcol/core/testing';
import { otlpExporterFactory, type OtlpExporter } from '@profcol/exporter-otlp';
import { ensureBackend, type BackendName } from '../backends/index.js';
import { pointKey } from './points.mjs';

/** Generous: a cold build of the collector takes minutes. */
export const BACKEND_SETUP_TIMEOUT_MS = 15 * 60_000;

/** Whether the tests run in CI: `CI` set to anything but `false` or `0`, as CI services set it. */
export function inCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env['CI'];
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/** A real backend that could not be built: in CI every test that needs it fails with this. */
export class BackendBuildError extends Error {
  constructor(name: BackendName, cause: Error) {
    super(`${name} could not be built, and in CI a test that needs a real backend fails rather than skips; the build said:\n${cause.message}`, { cause });
    this.name = 'BackendBuildError';
  }
}

export interface RealBackend {
  /**
   * Call first in each test that needs the backend. When it could not be built: outside CI the
   * test skips with the reason (a developer without network still runs the rest); in CI it fails
   * with the build's error, because CI reads only the failed count and a skip would pass a run
   * that tested nothing against a real backend.
   */
  need(ctx: TestContext): void;
  /** Run after each test, last first. */
  cleanup: (() => Promise<unknown>)[];
}

/** The hooks every real-backend test file needs: the build (or cache lookup) of `name` once, and cleanups. */
export function useBackend(name: BackendName): RealBackend {
  let buildError: Error | undefined;
  const suite: RealBackend = {
    cleanup: [],
    need(ctx) {
      if (!buildError) return;
      if (inCI()) throw new BackendBuildError(name, buildError);
      ctx.skip(`${name} could not be built, so this real-backend test is skipped (in CI it fails): ${buildError.message.split('\n').slice(0, 3).join(' ')}`);
    },
  };
  beforeAll(async () => {
    try {
      await ensureBackend(name);
    } catch (error) {
      buildError = error as Error;
      console.warn(`${name} could not be built; the tests that need it ${inCI() ? 'fail (CI)' : 'are skipped (outside CI)'}:\n${buildError.message}`);
    }
  }, BACKEND_SETUP_TIMEOUT_MS);
  afterEach(async () => {
    for (const fn of suite.cleanup.splice(0).reverse()) await fn();
  });
  return suite;
}

export interface InProcess {
  exporter: OtlpExporter;
  settings: TestSettings;
  logs: Record<string, unknown>[];
  counter(name: string, labels?: Record<string, string>): number;
}

/** The `otlp` exporter built through its factory and config schema, as the host builds it. */
export async function startOtlp(config: Record<string, unknown>, baseDir?: string): Promise<InProcess> {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _e, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const settings = createTestSettings({
    id: 'otlp',
    kind: 'exporter',
    logger: createLogger({ level: 'debug', format: 'json', destination }),
    ...(baseDir ? { baseDir } : {}),
  });
  const parsed = otlpExporterFactory.config.parse(config);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const exporter = otlpExporterFactory.create(settings, parsed.value) as OtlpExporter;
  await exporter.start(settings.host);
  return { exporter, settings, logs, counter: (name, labels = {}) => settings.registry.value(name, labels) };
}

/** Sent points by (name, service, window end). */
export function expectedPoints(batches: Batch[]): Map<string, MetricPoint> {
  const out = new Map<string, MetricPoint>();
  for (const point of batches.flatMap((b) => b.metrics)) out.set(pointKey(point.name, point.resource['service']!, point.timeNanos), point);
  return out;
}

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type ProxyMode =
  | { kind: 'down' }
  | { kind: 'forward'; holdResponseMs?: number }
  | { kind: 'fault'; status: number; headers?: Record<string, string>; body?: string };

/**
 * An HTTP proxy in front of a real backend that injects faults: `down` drops connections,
 * `fault` answers itself (500, 429 + Retry-After, ...), `forward` passes requests to the
 * backend, optionally holding its answer back (the backend has stored the data, the sender
 * does not know yet: the at-least-once window).
 */
export interface FaultProxy {
  url: string;
  port: number;
  mode: ProxyMode;
  /** Decides per request; overrides `mode` when it returns one. */
  decide?: (index: number) => ProxyMode | undefined;
  /** Every request: what the proxy did with it. */
  log: { at: number; did: 'down' | 'fault' | 'forward'; status: number }[];
  /** Requests the backend answered 2xx whose answer has not reached the sender yet. */
  acceptedUnanswered: number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, mode: ProxyMode = { kind: 'forward' }): Promise<FaultProxy> {
  const sockets = new Set<import('node:net').Socket>();
  const proxy: FaultProxy = {
    url: '',
    port: 0,
    mode,
    log: [],
    acceptedUnanswered: 0,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const index = proxy.log.length;
      const m = proxy.decide?.(index) ?? proxy.mode;
      if (m.kind === 'down') {
        proxy.log.push({ at: Date.now(), did: 'down', status: 0 });
        req.socket.destroy();
        return;
      }
      if (m.kind === 'fault') {
        proxy.log.push({ at: Date.now(), did: 'fault', status: m.status });
        res.writeHead(m.status, { 'Content-Type': 'text/plain', ...m.headers });
        res.end(m.body ?? `injected ${m.status}`);
        return;
      }
      const upstream = http.request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (up) => {
        const body: Buffer[] = [];
        up.on('data', (c: Buffer) => body.push(c));
        up.on('end', () => {
          const status = up.statusCode ?? 502;
          proxy.log.push({ at: Date.now(), did: 'forward', status });
          const ok = status >= 200 && status < 300;
          if (ok) proxy.acceptedUnanswered++;
          const relay = () => {
            if (ok) proxy.acceptedUnanswered--;
            if (res.destroyed) return;
            res.writeHead(status, up.headers);
            res.end(Buffer.concat(body));
          };
          if (m.holdResponseMs) setTimeout(relay, m.holdResponseMs);
          else relay();
        });
      });
      upstream.on('error', () => {
        proxy.log.push({ at: Date.now(), did: 'forward', status: 502 });
        res.writeHead(502).end('backend unreachable');
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as AddressInfo).port;
  proxy.url = `http://127.0.0.1:${proxy.port}`;
  return proxy;
}
