/**
 * The `status` extension: one read-only page (and the JSON it refreshes from) showing the
 * pipeline graph with live counters, the pull targets, every service with its Go runtime
 * metrics, and a flame graph of each service's latest CPU and heap profile.
 */
import type http from 'node:http';
import { gzipSync } from 'node:zlib';
import {
  listenHttp,
  type HttpListener,
  reportsScrapeTargets,
  type Counter,
  type CreateSettings,
  type Extension,
  type Host,
  type ScrapeTargetStatus,
} from '@profcol/core';
import { decodePprof, decompress } from '@profcol/pprof';
import { loadAssets, type Asset } from './assets.js';
import type { StatusConfig } from './config.js';
import { countersByOwner, type CounterRow } from './counters.js';
import { flameTree, type FlameTree } from './flame-tree.js';
import { FLAME_PROFILE_TYPES, ServiceStore, type KeptProfile } from './services.js';

/** The JSON the page refreshes from (`GET /api/status`). */
export interface StatusSnapshot {
  nowMs: number;
  startedAtMs: number;
  refreshMs: number;
  /** How far back the sparklines reach. */
  historyMs: number;
  pipelines: { name: string; receivers: string[]; processors: string[]; exporters: string[] }[];
  /** Counter rows by `kind:id` (`receiver:ddtrace`), `pipeline:<name>` and `service`. */
  counters: Record<string, CounterRow[]>;
  targets: (ScrapeTargetStatus & { receiver: string })[];
  services: ServiceView[];
}

export interface ServiceView {
  service: string;
  env?: string;
  version?: string;
  language?: string;
  sources: string[];
  lastSeenMs: number;
  bundles: number;
  profiles: Record<string, { name: string; source: string; windowEndMs: number; generation: number }>;
  metrics: { name: string; unit: string; attributes: Record<string, string>; latest: number; points: [number, number][] }[];
}

/** A URL as the page may show it: user and password removed. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}

export class StatusExtension implements Extension {
  readonly store: ServiceStore;
  private listener: HttpListener | undefined;
  private host: Host | undefined;
  private stopObserving: (() => void) | undefined;
  private assets: Map<string, Asset> | undefined;
  private readonly startedAtMs = Date.now();
  private readonly flameCache = new Map<string, { generation: number; tree: FlameTree }>();
  private readonly requests: Counter;
  private readonly flameFailures: Counter;
  private boundAddress: string | undefined;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: StatusConfig,
  ) {
    const t = settings.telemetry;
    this.store = new ServiceStore(
      {
        maxServices: config.max_services,
        maxSeries: config.max_series,
        maxPointsPerSeries: config.max_points_per_series,
        historyMs: config.history,
        maxProfileBytes: config.max_profile_bytes,
      },
      {
        droppedPoints: t.counter(
          'profcol_extension_status_dropped_points_total',
          'Runtime metric points the status page did not keep, by reason (max_series).',
        ),
        evictedServices: t.counter(
          'profcol_extension_status_evicted_services_total',
          'Services the status page forgot to make room for a new one (max_services).',
        ),
        skippedProfiles: t.counter('profcol_extension_status_skipped_profiles_total', 'Profiles not kept for a flame graph, by reason (too_large).'),
      },
    );
    this.requests = t.counter(
      'profcol_extension_status_requests_total',
      'Requests to the status page, by outcome (ok, not_found, method_not_allowed, failed).',
    );
    this.flameFailures = t.counter(
      'profcol_extension_status_flame_failures_total',
      'Flame graphs that could not be computed from a kept profile (it could not be decompressed or decoded).',
    );
  }

  /** `http://host:port/` once started. */
  get url(): string | undefined {
    return this.boundAddress;
  }

  async start(host: Host): Promise<void> {
    this.host = host;
    this.assets = loadAssets();
    if (host.observeBatches) this.stopObserving = host.observeBatches((_pipeline, batch) => this.store.observe(batch));
    else this.settings.logger.warn('this host offers no batches to observe (no observeBatches): the status page will show no services');
    this.listener = await listenHttp(this.config.endpoint, (request, response) => this.serve(request, response));
    this.boundAddress = this.listener.url;
    this.settings.logger.info({ extension: this.settings.id, url: this.boundAddress }, `status page at ${this.boundAddress}`);
  }

  async shutdown(): Promise<void> {
    this.stopObserving?.();
    this.stopObserving = undefined;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.close();
  }

  snapshot(): StatusSnapshot {
    const host = this.host;
    const pipelines = host?.describePipelines?.() ?? [];
    const counters = host ? countersByOwner(host.telemetry.snapshot()) : new Map<string, CounterRow[]>();
    const targets: StatusSnapshot['targets'] = [];
    for (const receiver of new Set(pipelines.flatMap((p) => p.receivers))) {
      const component = host?.getComponent?.('receiver', receiver);
      if (!reportsScrapeTargets(component)) continue;
      for (const status of component.scrapeTargets()) targets.push({ receiver, ...status, target: withoutCredentials(status.target) });
    }
    return {
      nowMs: Date.now(),
      startedAtMs: this.startedAtMs,
      refreshMs: this.config.refresh,
      historyMs: this.config.history,
      pipelines,
      counters: Object.fromEntries(counters),
      targets,
      services: this.store.list().map(({ state, series }) => ({
        service: state.service,
        ...(state.env ? { env: state.env } : {}),
        ...(state.version ? { version: state.version } : {}),
        ...(state.language ? { language: state.language } : {}),
        sources: [...state.sources].map(withoutCredentials),
        lastSeenMs: state.lastSeenMs,
        bundles: state.bundles,
        profiles: Object.fromEntries(
          Object.values(state.profiles).map((p) => [p.type, { name: p.name, source: p.source, windowEndMs: p.windowEndMs, generation: p.generation }]),
        ),
        metrics: series.map((s) => ({ name: s.name, unit: s.unit, attributes: s.attributes, latest: s.points[s.points.length - 1]![1], points: s.points })),
      })),
    };
  }

  /** The flame tree of a service's latest profile of `type`, computed once per profile. */
  flame(service: string, type: string): FlameTree | undefined {
    const kept = this.store.profile(service, type);
    if (!kept) return undefined;
    const key = `${service}\u0000${type}`;
    const cached = this.flameCache.get(key);
    if (cached?.generation === kept.generation) return cached.tree;
    const tree = flameTree(decodePprof(this.rawPprof(kept)), type, this.config.max_flame_nodes);
    this.flameCache.set(key, { generation: kept.generation, tree });
    // The cache follows the store's bound: entries of forgotten services go.
    if (this.flameCache.size > 2 * this.config.max_services) {
      for (const cacheKey of this.flameCache.keys()) {
        const [s, t] = cacheKey.split('\u0000') as [string, string];
        if (!this.store.profile(s, t)) this.flameCache.delete(cacheKey);
      }
    }
    return tree;
  }

  private rawPprof(kept: KeptProfile): Uint8Array {
    return decompress(kept.data, { maxBytes: this.config.max_profile_bytes });
  }

  private serve(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://status');
    const answer = (status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      this.requests.add(1, { outcome: status < 300 ? 'ok' : status === 404 ? 'not_found' : status === 405 ? 'method_not_allowed' : 'failed' });
      response
        .writeHead(status, {
          'content-type': contentType,
          'cache-control': 'no-store',
          // Every script and style comes from profcol itself; d3-flame-graph adds its style
          // element and d3 sets style attributes, hence 'unsafe-inline' for styles only.
          'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
          'x-content-type-options': 'nosniff',
          ...headers,
        })
        .end(body);
    };
    const json = (status: number, value: unknown) => answer(status, 'application/json; charset=utf-8', JSON.stringify(value));
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return json(405, { error: `${request.method} ${url.pathname}: the status page is read-only, only GET is accepted` });
    try {
      const asset = this.assets?.get(url.pathname);
      if (asset) return answer(200, asset.contentType, asset.body);
      if (url.pathname === '/api/status') return json(200, this.snapshot());
      if (url.pathname === '/api/flame' || url.pathname === '/download') {
        const service = url.searchParams.get('service') ?? '';
        const type = url.searchParams.get('type') ?? '';
        if (!(FLAME_PROFILE_TYPES as readonly string[]).includes(type))
          return json(404, { error: `type "${type}" has no flame graph; accepted: ${FLAME_PROFILE_TYPES.join(', ')}` });
        const kept = this.store.profile(service, type);
        if (!kept) return json(404, { error: `no ${type} profile of service "${service}" has been seen (yet)` });
        if (url.pathname === '/api/flame') return json(200, this.flame(service, type));
        // gzip, as Go's net/http/pprof serves it: go tool pprof reads it, and it reads no zstd.
        const file = `${service.replace(/[^A-Za-z0-9._-]+/g, '_')}-${type}-${new Date(kept.windowEndMs).toISOString().replace(/[:.]/g, '-')}.pprof`;
        return answer(200, 'application/octet-stream', gzipSync(this.rawPprof(kept)), { 'content-disposition': `attachment; filename="${file}"` });
      }
      return json(404, { error: `${url.pathname}: not a page of the status extension (the page is /)` });
    } catch (error) {
      if (url.pathname === '/api/flame') this.flameFailures.add(1);
      this.settings.logger.warn({ path: url.pathname, err: error }, 'status page request failed');
      return json(500, { error: `${url.pathname}: ${(error as Error).message}` });
    }
  }
}
