/**
 * The `health_check` extension: `/healthz` answers 200 while the process serves HTTP at all
 * (liveness), `/readyz` answers 200 only while every component is started, the collector is
 * not stopping and no exporter is stuck (readiness). `/` answers as `/readyz`, the path the
 * OpenTelemetry Collector's healthcheckextension serves, so its probes carry over.
 */
import type http from 'node:http';
import { listenHttp, type HttpListener, type Counter, type CreateSettings, type Extension, type Host } from '@profcol/core';
import type { HealthCheckConfig } from './config.js';
import { assessReadiness, type Readiness } from './readiness.js';
import { readQueue, StuckExporterDetector, type ExporterProgress } from './stuck-exporters.js';

export interface HealthCheckOptions {
  /** The clock stuck exporters are timed by (ms); injected by tests so no test waits for real time. */
  now?: () => number;
}

type Probe = 'healthz' | 'readyz';
const PATHS: Record<string, Probe> = { '/healthz': 'healthz', '/readyz': 'readyz', '/': 'readyz' };

export class HealthCheckExtension implements Extension {
  private listener: HttpListener | undefined;
  private host: Host | undefined;
  private boundAddress: string | undefined;
  private stopped = false;
  private lastReady: boolean | undefined;
  private readonly detector: StuckExporterDetector;
  private readonly now: () => number;
  private readonly requests: Counter;
  private readonly changes: Counter;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: HealthCheckConfig,
    options: HealthCheckOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.detector = new StuckExporterDetector(config.stuck_after);
    this.requests = settings.telemetry.counter(
      'profcol_extension_health_check_requests_total',
      'Probe requests, by probe (healthz, readyz, other) and HTTP status answered.',
    );
    this.changes = settings.telemetry.counter(
      'profcol_extension_health_check_readiness_changes_total',
      'Times readiness changed, by the state it changed to (ready, not_ready); each change is logged with its reasons.',
    );
  }

  /** `http://host:port/` once started. */
  get url(): string | undefined {
    return this.boundAddress;
  }

  async start(host: Host): Promise<void> {
    this.host = host;
    if (!host.describePipelines) this.settings.logger.warn('this host does not describe its pipelines: /readyz cannot check for stuck exporters');
    this.listener = await listenHttp(this.config.endpoint, (request, response) => this.serve(request, response));
    this.boundAddress = this.listener.url;
    this.settings.logger.info(
      { extension: this.settings.id, url: this.boundAddress },
      `health probes at ${this.boundAddress}healthz and ${this.boundAddress}readyz`,
    );
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.close();
  }

  /** What `/readyz` answers now; each call is one look at the exporters' queues. */
  readiness(): Readiness {
    const host = this.host;
    const exporters: Record<string, ExporterProgress> = {};
    const nowMs = this.now();
    if (host) {
      for (const id of new Set((host.describePipelines?.() ?? []).flatMap((p) => p.exporters))) {
        exporters[id] = this.detector.observe(id, readQueue(host.telemetry, id), nowMs);
      }
    }
    // Without a state from the host, this extension's own life is all there is to go by.
    const state = host?.state ?? (this.stopped ? 'stopping' : host ? 'running' : 'created');
    const readiness = assessReadiness(state, exporters, this.config.stuck_after);
    this.noteChange(readiness);
    return readiness;
  }

  private noteChange(readiness: Readiness): void {
    if (readiness.ready === this.lastReady) return;
    const first = this.lastReady === undefined;
    this.lastReady = readiness.ready;
    this.changes.add(1, { to: readiness.ready ? 'ready' : 'not_ready' });
    if (readiness.ready) this.settings.logger.info({ state: readiness.state }, first ? 'ready: /readyz answers 200' : 'ready again: /readyz answers 200');
    // Not being ready while starting or stopping is expected; a stuck exporter is worth a warning.
    else if (readiness.state === 'running')
      this.settings.logger.warn({ state: readiness.state, reasons: readiness.reasons }, `not ready: /readyz answers 503: ${readiness.reasons.join('; ')}`);
    else this.settings.logger.info({ state: readiness.state, reasons: readiness.reasons }, `not ready: /readyz answers 503: ${readiness.reasons.join('; ')}`);
  }

  private serve(request: http.IncomingMessage, response: http.ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0]!;
    const probe = PATHS[path];
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.add(1, { probe: probe ?? 'other', status: String(status) });
      // Probes must see the state of now, never a cached answer.
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
      response.end(request.method === 'HEAD' ? undefined : JSON.stringify(body));
    };
    if (!probe) return answer(404, { error: `no probe at ${path}; the probes are /healthz (alive) and /readyz (ready for traffic)` });
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return answer(405, { error: `${request.method} is not supported; probe with GET or HEAD` }, { allow: 'GET, HEAD' });
    if (probe === 'healthz') return answer(200, { status: 'alive' });
    const readiness = this.readiness();
    answer(readiness.ready ? 200 : 503, {
      status: readiness.ready ? 'ready' : 'not_ready',
      state: readiness.state,
      reasons: readiness.reasons,
      exporters: readiness.exporters,
    });
  }
}
