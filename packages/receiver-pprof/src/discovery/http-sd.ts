/**
 * `http_sd`: targets from a Prometheus HTTP service discovery endpoint — GET `url`, which
 * answers 200 with `Content-Type: application/json` and a list of target groups, as
 * Prometheus' discovery/http requires. A failed GET, a non-200, another content type or a
 * body that is no target-group list keeps the last good list (counted, logged).
 */
import { httpGet, ScrapeError } from '../http.js';
import { RefreshingDiscovery, type DiscoveryContext } from './refresh.js';
import { DiscoveryError, targetGroupsOf, type DiscoveryFailureReason, type TargetGroup } from './target-groups.js';

export interface HttpSdConfig {
  url: string;
  refresh_interval: number;
  scheme: 'http' | 'https';
}

export class HttpDiscovery extends RefreshingDiscovery {
  private readonly url: URL;
  private readonly controller = new AbortController();

  constructor(context: DiscoveryContext, name: string, config: HttpSdConfig) {
    super(context, 'http_sd', name, config.scheme, config.refresh_interval);
    this.url = new URL(config.url);
  }

  override stop(): void {
    super.stop();
    this.controller.abort();
  }

  protected async read(): Promise<TargetGroup[]> {
    const where = `GET ${this.url.href}`;
    let response;
    try {
      response = await httpGet(this.url, {
        timeoutMs: this.context.timeoutMs,
        maxBytes: this.context.maxBodyBytes,
        headers: { accept: 'application/json', 'user-agent': 'profcol-pprof-receiver http_sd' },
        signal: this.controller.signal,
        clock: this.context.clock,
      });
    } catch (error) {
      const reason: DiscoveryFailureReason =
        error instanceof ScrapeError && ['connect', 'reset', 'timeout', 'too_large'].includes(error.reason)
          ? (error.reason as DiscoveryFailureReason)
          : 'network';
      throw new DiscoveryError(reason, `${where}: ${(error as Error).message}`, { cause: error });
    }
    if (response.status !== 200) {
      const text = new TextDecoder().decode(response.body.subarray(0, 200)).replace(/\s+/g, ' ').trim();
      throw new DiscoveryError('http_status', `${where} returned HTTP ${response.status}${text ? `: ${text}` : ''} (expected 200)`);
    }
    const contentType = String(response.headers['content-type'] ?? '');
    if (!/^application\/json\b/i.test(contentType))
      throw new DiscoveryError('content_type', `${where} answered Content-Type ${JSON.stringify(contentType)}; HTTP SD requires application/json`);
    let document: unknown;
    try {
      document = JSON.parse(new TextDecoder().decode(response.body));
    } catch (error) {
      throw new DiscoveryError('parse', `${where} answered JSON that does not parse: ${(error as Error).message}`, { cause: error });
    }
    return targetGroupsOf(document, this.url.href, { __meta_url: this.url.href });
  }
}
