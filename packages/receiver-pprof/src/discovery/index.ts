/**
 * Target discovery for the `pprof` receiver: runs the configured mechanisms (file_sd, http_sd,
 * dns_sd), and whenever one of them finds a different list, turns every discovered label set
 * into a scrape target — keep/drop rules, `labels_to`, the address checked — and hands the whole
 * list to the receiver, which starts and stops targets to match.
 */
import type { CreateSettings, Gauge } from '@profcol/core';
import type { Clock } from '../clock.js';
import { normalizeTargetUrl, type PprofReceiverConfig, type PprofTargetConfig } from '../config.js';
import { DnsDiscovery } from './dns-sd.js';
import { FileDiscovery } from './file-sd.js';
import { HttpDiscovery } from './http-sd.js';
import type { DiscoveryContext, Mechanism, RefreshingDiscovery } from './refresh.js';
import { compileRules, targetConfigOf, type Labels } from './target-groups.js';

export { DiscoveryError, targetGroupsOf, targetConfigOf, compileRules, type TargetGroup, type Labels, type DiscoveryFailureReason } from './target-groups.js';
export type { Mechanism } from './refresh.js';

const MECHANISMS: Mechanism[] = ['file_sd', 'http_sd', 'dns_sd'];

/** Why a discovered target is not scraped, besides sharding (the `reason` of the dropped-targets gauge). */
type DropReason = 'relabel' | 'invalid' | 'duplicate';

export function hasDiscovery(config: PprofReceiverConfig): boolean {
  return config.file_sd.length + config.http_sd.length + config.dns_sd.length > 0;
}

export class TargetDiscovery {
  readonly mechanisms: RefreshingDiscovery[];
  private readonly droppedBy: (labels: Labels) => number | undefined;
  private readonly targetsGauge: Gauge;
  private readonly droppedGauge: Gauge;
  private starting = true;
  /** The invalid addresses last logged, so each list is logged once, not on every refresh. */
  private invalidLogged = '';

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: PprofReceiverConfig,
    clock: Clock,
    /** URLs of the static targets: they win over a discovered target with the same URL. */
    private readonly staticUrls: ReadonlySet<string>,
    private readonly onTargets: (targets: PprofTargetConfig[]) => void,
  ) {
    const t = settings.telemetry;
    const context: DiscoveryContext = {
      clock,
      logger: settings.logger,
      receiverId: settings.id,
      baseDir: settings.baseDir,
      timeoutMs: config.timeout,
      maxBodyBytes: config.max_body_bytes,
      refreshes: t.counter(
        'profcol_receiver_discovery_refreshes_total',
        'Reads of a target discovery (file_sd, http_sd, dns_sd), by mechanism and outcome (success, failed: the last good list stays).',
      ),
      failures: t.counter(
        'profcol_receiver_discovery_failures_total',
        'Failed discovery reads or parts of them (one file, one DNS name), by mechanism and reason; the previous targets of what failed stay.',
      ),
      changed: () => this.publish(),
    };
    this.targetsGauge = t.gauge('profcol_receiver_discovery_targets', 'Targets discovered now, by mechanism, after keep/drop rules (before sharding).');
    this.droppedGauge = t.gauge(
      'profcol_receiver_discovery_dropped_targets',
      'Discovered targets not scraped now, by mechanism and reason: relabel (a keep/drop rule), invalid (no host:port), duplicate (URL already a target).',
    );
    this.droppedBy = compileRules(config.relabel);
    this.mechanisms = [
      ...config.file_sd.map((c, i) => new FileDiscovery(context, `file_sd[${i}]`, c)),
      ...config.http_sd.map((c, i) => new HttpDiscovery(context, `http_sd[${i}]`, c)),
      ...config.dns_sd.map((c, i) => new DnsDiscovery(context, `dns_sd[${i}]`, c)),
    ];
  }

  /** The first read of every mechanism (a failed one counts and logs, and finds nothing yet), then their timers. */
  async start(): Promise<void> {
    await Promise.all(this.mechanisms.map((m) => m.start()));
    this.starting = false;
    this.publish();
  }

  stop(): void {
    for (const mechanism of this.mechanisms) mechanism.stop();
  }

  /** Reads every mechanism now; resolves once the receiver has the resulting targets. */
  async refresh(): Promise<void> {
    await Promise.all(this.mechanisms.map((m) => m.refresh()));
  }

  /** The scrape targets of everything discovered now. */
  targets(): PprofTargetConfig[] {
    const out: PprofTargetConfig[] = [];
    const seen = new Set(this.staticUrls);
    const invalid: string[] = [];
    for (const mechanism of MECHANISMS) {
      const counts = { kept: 0, relabel: 0, invalid: 0, duplicate: 0 } satisfies Record<DropReason | 'kept', number>;
      for (const source of this.mechanisms.filter((m) => m.mechanism === mechanism)) {
        for (const group of source.groups) {
          for (const discovered of group.targets) {
            const labels = { __scheme__: source.scheme, ...discovered };
            if (this.droppedBy(labels) !== undefined) {
              counts.relabel++;
              continue;
            }
            let target: PprofTargetConfig;
            try {
              target = targetConfigOf(labels, this.config.labels_to);
            } catch (error) {
              counts.invalid++;
              invalid.push(`${group.source}: ${(error as Error).message}`);
              continue;
            }
            const key = normalizeTargetUrl(target.url);
            if (seen.has(key)) {
              counts.duplicate++;
              continue;
            }
            seen.add(key);
            counts.kept++;
            out.push(target);
          }
        }
      }
      if (!this.mechanisms.some((m) => m.mechanism === mechanism)) continue;
      this.targetsGauge.set(counts.kept, { mechanism });
      for (const reason of ['relabel', 'invalid', 'duplicate'] as const) this.droppedGauge.set(counts[reason], { mechanism, reason });
    }
    const invalidKey = invalid.join('\n');
    if (invalidKey !== this.invalidLogged) {
      this.invalidLogged = invalidKey;
      if (invalid.length > 0) {
        this.settings.logger.warn(
          { receiver: this.settings.id, invalid },
          `pprof receiver ${this.settings.id}: ${invalid.length} discovered ${invalid.length === 1 ? 'target is' : 'targets are'} not scraped: ${invalid.slice(0, 5).join('; ')}${invalid.length > 5 ? '; ...' : ''}`,
        );
      }
    }
    return out;
  }

  private publish(): void {
    if (this.starting) return;
    this.onTargets(this.targets());
  }
}
