/**
 * `dns_sd`: targets from DNS, as Prometheus' discovery/dns: SRV records give each target's host
 * and port; A or AAAA records give addresses, with the configured port. Queries go through
 * `node:dns` (c-ares) to the system's servers, or to `servers` when set. A name that does not
 * exist or has no such record has no targets (NXDOMAIN/NODATA are answers); any other failure
 * (timeout, SERVFAIL, refused) keeps that name's previous targets (counted, logged).
 */
import { Resolver } from 'node:dns/promises';
import { RefreshingDiscovery, type DiscoveryContext } from './refresh.js';
import { DiscoveryError, type Labels, type TargetGroup } from './target-groups.js';

export interface DnsSdConfig {
  names: string[];
  type: 'SRV' | 'A' | 'AAAA';
  port?: number | undefined;
  refresh_interval: number;
  servers: string[];
  scheme: 'http' | 'https';
}

/** Resolver answers that mean "no such records", not a failure. */
const NO_RECORDS = new Set(['ENOTFOUND', 'ENODATA']);

export class DnsDiscovery extends RefreshingDiscovery {
  private readonly resolver: Resolver;
  /** Each name's targets from its last answer. */
  private readonly byName = new Map<string, Labels[]>();

  constructor(
    context: DiscoveryContext,
    name: string,
    private readonly config: DnsSdConfig,
  ) {
    super(context, 'dns_sd', name, config.scheme, config.refresh_interval);
    // Bounded by the receiver's timeout: c-ares retries with a growing timeout of its own.
    this.resolver = new Resolver({ timeout: Math.max(1, Math.floor(context.timeoutMs / 3)), tries: 2 });
    if (config.servers.length > 0) this.resolver.setServers(config.servers);
  }

  override stop(): void {
    super.stop();
    this.resolver.cancel();
  }

  protected async read(): Promise<TargetGroup[]> {
    const answers = await Promise.all(this.config.names.map(async (name) => ({ name, targets: await this.lookup(name) })));
    let failed = 0;
    for (const { name, targets } of answers) {
      if (targets) this.byName.set(name, targets);
      else failed++;
    }
    // Every name failed: the read failed as a whole (counted once more as a failed refresh).
    if (failed === answers.length) throw new DiscoveryError('dns', `no ${this.config.type} query of ${this.config.names.join(', ')} was answered`);
    return this.config.names.map((name) => ({ source: name, targets: this.byName.get(name) ?? [] }));
  }

  /** The targets of one name, or undefined when its query failed (counted and logged; the previous answer stays). */
  private async lookup(name: string): Promise<Labels[] | undefined> {
    const meta = { __meta_dns_name: name };
    try {
      if (this.config.type === 'SRV') {
        const records = await this.resolver.resolveSrv(name);
        return records.map((record) => {
          const host = record.name.replace(/\.$/, '');
          return {
            ...meta,
            __meta_dns_srv_record_target: host,
            __meta_dns_srv_record_port: String(record.port),
            __address__: `${hostPort(host, record.port)}`,
          };
        });
      }
      const addresses = this.config.type === 'A' ? await this.resolver.resolve4(name) : await this.resolver.resolve6(name);
      return addresses.map((address) => ({ ...meta, __address__: hostPort(address, this.config.port!) }));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (NO_RECORDS.has(code)) return [];
      if (this.stopped) return undefined;
      const previous = this.byName.get(name);
      this.partFailed(
        new DiscoveryError(
          code === 'ETIMEOUT' ? 'timeout' : code === 'ECONNREFUSED' ? 'connect' : 'dns',
          `${this.config.type} query of ${name}${this.config.servers.length > 0 ? ` (servers ${this.config.servers.join(', ')})` : ''} failed: ${code ? `${code}: ` : ''}${(error as Error).message}`,
          { cause: error },
        ),
        previous ? ` keeping its previous ${previous.length} targets` : ' it adds no targets until it is answered',
      );
      return undefined;
    }
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
