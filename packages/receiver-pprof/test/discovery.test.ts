import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CollectingConsumer } from '@profcol/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { PprofReceiver, shardOf } from '../src/index.js';
import { startFakePprofTarget, type FakeTarget } from '../src/testing.js';
import { startFakeDnsServer } from './dns-server.js';
import { collectingLogger, goFixture, ManualClock, parseConfig, roundsSettled, settings, until } from './helpers.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A Go program serving its goroutine profile: what every discovered target is here. */
async function goProgram(): Promise<FakeTarget> {
  const target = await startFakePprofTarget({ routes: { '/debug/pprof/goroutine': goFixture('goroutine') } });
  cleanup.push(() => target.close());
  return target;
}

const hostPort = (target: FakeTarget) => new URL(target.url).host;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'profcol-file-sd-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A pprof receiver that only discovers its targets, scraping their goroutine profile, on a
 * manual clock: refresh_interval timers move only when the test says, while files, HTTP and
 * DNS stay real. Rounds are run by hand (`scrapeOnce`) unless `autoStart`.
 */
async function discovering(config: Record<string, unknown>, options: { autoStart?: boolean; id?: string } = {}) {
  const clock = new ManualClock();
  const log = collectingLogger('info');
  const s = settings(options.id ?? 'pprof', undefined, log.logger);
  const consumer = new CollectingConsumer();
  const receiver = new PprofReceiver(s, parseConfig({ enabled_types: ['goroutine'], memstats: false, ...config }), consumer, {
    autoStart: options.autoStart ?? false,
    clock,
  });
  cleanup.push(() => receiver.shutdown());
  await receiver.start();
  const urls = () => [...receiver.targetState.keys()].sort();
  const metric = (name: string, labels: Record<string, string> = {}) => s.registry.value(name, labels);
  return { receiver, clock, consumer, log: log.lines, urls, metric };
}

const messages = (lines: Record<string, unknown>[]) => lines.map((l) => String(l.msg));

describe('pprof receiver: file_sd', () => {
  it("scrapes the targets of a file as soon as it is written, follows a rename into place, and stops a deleted file's targets, freeing their state", async () => {
    const [a, b, c] = await Promise.all([goProgram(), goProgram(), goProgram()]);
    const dir = tempDir();
    const { receiver, consumer, urls, metric, log } = await discovering({ file_sd: [{ files: [join(dir, '*.json')] }] });
    expect(urls()).toEqual([]);

    // Written in place: the directory watch reads it, no refresh_interval needed (the clock does not move).
    writeFileSync(
      join(dir, 'payments.json'),
      JSON.stringify([{ targets: [hostPort(a), hostPort(b)], labels: { service: 'payments', env: 'prod', team: 'core' } }]),
    );
    await until(() => urls().length === 2);
    expect(urls()).toEqual([a.url, b.url].sort());
    const reports = await receiver.scrapeOnce();
    expect(reports.map((r) => r.outcome)).toEqual(['success', 'success']);
    expect(a.count('/debug/pprof/goroutine')).toBe(1);
    expect(consumer.batches.map((batch) => batch.bundles[0]!.resource.service)).toEqual(['payments', 'payments']);
    expect(consumer.batches[0]!.bundles[0]!.resource.env).toBe('prod');
    expect(consumer.batches[0]!.bundles[0]!.tags).toEqual({ team: 'core' });

    // As tools write them: a temporary file (not matching *.json) renamed over the old one.
    writeFileSync(join(dir, '.payments.json.tmp'), JSON.stringify([{ targets: [hostPort(b), hostPort(c)], labels: { service: 'payments' } }]));
    renameSync(join(dir, '.payments.json.tmp'), join(dir, 'payments.json'));
    await until(() => urls().includes(c.url));
    expect(urls()).toEqual([b.url, c.url].sort());
    expect(receiver.targetState.has(a.url)).toBe(false);

    // Deleted: its targets stop and the receiver holds no state for them.
    rmSync(join(dir, 'payments.json'));
    await until(() => receiver.targetState.size === 0);
    await receiver.scrapeOnce();
    expect(a.count('/debug/pprof/goroutine')).toBe(1);
    expect(metric('profcol_receiver_discovery_targets', { mechanism: 'file_sd' })).toBe(0);
    expect(metric('profcol_receiver_discovery_target_changes_total', { change: 'added' })).toBe(3);
    expect(metric('profcol_receiver_discovery_target_changes_total', { change: 'removed' })).toBe(3);
    // Logged once per change, with what changed.
    const changes = messages(log).filter((m) => m.includes('discovery'));
    expect(changes.some((m) => m.includes(`added 2 targets`) && m.includes(a.url))).toBe(true);
    expect(changes.some((m) => m.includes(`removed 1 target (${a.url})`))).toBe(true);
    expect(changes.some((m) => m.includes('removed 2 targets') && m.includes('scraping 0 targets'))).toBe(true);
  });

  it('frees the delta baselines of a target that disappears: the target state map shrinks back, and a target that comes back starts from a new baseline', async () => {
    const heap = goFixture('heap');
    const program = await startFakePprofTarget({ routes: { '/debug/pprof/heap': heap } });
    cleanup.push(() => program.close());
    const dir = tempDir();
    const file = join(dir, 'targets.yaml');
    writeFileSync(file, `- targets: ["${hostPort(program)}"]\n`);
    const { receiver, urls } = await discovering({ enabled_types: ['heap'], file_sd: [{ files: [join(dir, '*.yaml')] }] });
    expect(urls()).toEqual([program.url]);
    expect((await receiver.scrapeOnce())[0]!.baselines).toEqual(['heap']);
    expect(receiver.targetState.get(program.url)!.baselines.size).toBe(1);

    writeFileSync(file, '[]\n');
    await until(() => receiver.targetState.size === 0);
    writeFileSync(file, `- targets: ["${hostPort(program)}"]\n`);
    await until(() => receiver.targetState.size === 1);
    // A new state: its first heap is a baseline again, not a delta against the one before it left.
    expect((await receiver.scrapeOnce())[0]!.baselines).toEqual(['heap']);
  });

  it("keeps a file's previous targets while it is not valid (a half-written file), counted and logged", async () => {
    const a = await goProgram();
    const dir = tempDir();
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ targets: [hostPort(a)] }]));
    const { urls, metric, log } = await discovering({ file_sd: [{ files: [join(dir, '*.json')] }] });
    expect(urls()).toEqual([a.url]);

    writeFileSync(join(dir, 'a.json'), '[{"targets": ["127.0.0.1:1"');
    await until(() => metric('profcol_receiver_discovery_failures_total', { mechanism: 'file_sd', reason: 'parse' }) > 0);
    expect(urls()).toEqual([a.url]);
    expect(messages(log).some((m) => m.includes('is not valid JSON') && m.includes('keeping its previous 1 targets'))).toBe(true);

    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ targets: [hostPort(a)], labels: { team: 7 } }]));
    await until(() => metric('profcol_receiver_discovery_failures_total', { mechanism: 'file_sd', reason: 'invalid' }) > 0);
    expect(messages(log).some((m) => m.includes('[0].labels.team: expected a string, got number 7'))).toBe(true);
    expect(urls()).toEqual([a.url]);
  });

  it('re-reads the files every refresh_interval, for filesystems whose watches miss events (here: a directory created after start, which could not be watched)', async () => {
    const a = await goProgram();
    const parent = tempDir();
    const dir = join(parent, 'later');
    const { clock, urls, metric, log } = await discovering({ file_sd: [{ files: [join(dir, '*.yml')], refresh_interval: '30s' }] });
    expect(metric('profcol_receiver_discovery_failures_total', { mechanism: 'file_sd', reason: 'watch' })).toBe(1);
    expect(messages(log).some((m) => m.includes(`cannot watch ${dir}`) && m.includes('re-reading it every refresh_interval'))).toBe(true);
    mkdirSync(dir);
    writeFileSync(join(dir, 'targets.yml'), `- targets: ["${hostPort(a)}"]\n  labels: { service: late }\n`);
    const refreshes = metric('profcol_receiver_discovery_refreshes_total', { mechanism: 'file_sd', outcome: 'success' });
    clock.advance(29_999);
    expect(urls()).toEqual([]);
    clock.advance(1);
    await until(() => urls().length === 1);
    expect(urls()).toEqual([a.url]);
    expect(metric('profcol_receiver_discovery_refreshes_total', { mechanism: 'file_sd', outcome: 'success' })).toBe(refreshes + 1);
  });
});

/** A Prometheus HTTP SD endpoint answering what `answer` holds now. */
async function httpSd(answer: { status: number; contentType: string; body: string }): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server: Server = createServer((_req, res) => {
    requests++;
    res.writeHead(answer.status, { 'content-type': answer.contentType });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/targets`, requests: () => requests };
}

describe('pprof receiver: http_sd', () => {
  it('scrapes what the endpoint lists, re-asks every refresh_interval, and keeps the last good list while it fails (counted)', async () => {
    const [a, b] = await Promise.all([goProgram(), goProgram()]);
    const answer = {
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify([{ targets: [hostPort(a)], labels: { service: 'checkout', version: '1.2.3' } }]),
    };
    const sd = await httpSd(answer);
    const { receiver, clock, consumer, urls, metric, log } = await discovering({ http_sd: [{ url: sd.url }] });
    expect(urls()).toEqual([a.url]);
    await receiver.scrapeOnce();
    expect(consumer.batches[0]!.bundles[0]!.resource).toMatchObject({ service: 'checkout', version: '1.2.3', instance: a.url });

    answer.status = 503;
    answer.body = 'upstream down';
    clock.advance(60_000); // Prometheus' default refresh_interval
    await until(() => metric('profcol_receiver_discovery_failures_total', { mechanism: 'http_sd', reason: 'http_status' }) === 1);
    expect(urls()).toEqual([a.url]);
    expect(messages(log).some((m) => m.includes('returned HTTP 503: upstream down') && m.includes('keeping the last good list (1 targets)'))).toBe(true);

    answer.status = 200;
    answer.contentType = 'text/plain';
    clock.advance(60_000);
    await until(() => metric('profcol_receiver_discovery_failures_total', { mechanism: 'http_sd', reason: 'content_type' }) === 1);
    expect(urls()).toEqual([a.url]);

    answer.contentType = 'application/json; charset=utf-8';
    answer.body = JSON.stringify([{ targets: [hostPort(b)] }]);
    clock.advance(60_000);
    await until(() => urls().includes(b.url));
    expect(urls()).toEqual([b.url]);
    expect(sd.requests()).toBe(4);
    expect(metric('profcol_receiver_discovery_refreshes_total', { mechanism: 'http_sd', outcome: 'failed' })).toBe(2);
  });
});

describe('pprof receiver: dns_sd', () => {
  it('scrapes the targets of SRV records through the node:dns resolver, pointed at a DNS server on 127.0.0.1 with dns_sd.servers', async () => {
    const [a, b] = await Promise.all([goProgram(), goProgram()]);
    // The SRV target is 127.0.0.1 written as a name: the fake programs listen there, and no other name is sure to resolve to it.
    const dns = await startFakeDnsServer({ '_pprof._tcp.example.test': { SRV: [{ target: '127.0.0.1', port: Number(new URL(a.url).port) }] } });
    cleanup.push(() => dns.close());
    const { receiver, clock, consumer, urls, metric, log } = await discovering({
      dns_sd: [{ names: ['_pprof._tcp.example.test'], servers: [dns.server] }],
      // __meta_dns_* labels are there to match on.
      relabel: [
        { action: 'keep', source_labels: ['__meta_dns_name', '__meta_dns_srv_record_target'], regex: '_pprof\\._tcp\\.example\\.test;127\\.0\\.0\\.1' },
      ],
    });
    expect(dns.questions).toEqual(['SRV _pprof._tcp.example.test']);
    expect(urls()).toEqual([a.url]);
    await receiver.scrapeOnce();
    expect(consumer.batches).toHaveLength(1);

    dns.zone['_pprof._tcp.example.test'] = { SRV: [{ target: '127.0.0.1', port: Number(new URL(b.url).port) }] };
    clock.advance(30_000); // Prometheus' default refresh_interval
    await until(() => urls().includes(b.url));
    expect(urls()).toEqual([b.url]);

    // SERVFAIL is a failure, not an answer: the name keeps its targets.
    dns.zone['_pprof._tcp.example.test'] = 'SERVFAIL';
    clock.advance(30_000);
    await until(() => metric('profcol_receiver_discovery_failures_total', { mechanism: 'dns_sd' }) > 0);
    expect(urls()).toEqual([b.url]);
    expect(messages(log).some((m) => m.includes('SRV query of _pprof._tcp.example.test') && m.includes('keeping its previous 1 targets'))).toBe(true);

    // NXDOMAIN is an answer: the name has no targets any more.
    delete dns.zone['_pprof._tcp.example.test'];
    clock.advance(30_000);
    await until(() => urls().length === 0);
  });

  it('finds targets from A records with the configured port', async () => {
    const a = await goProgram();
    const dns = await startFakeDnsServer({ 'go.example.test': { A: ['127.0.0.1'] } });
    cleanup.push(() => dns.close());
    const { urls } = await discovering({ dns_sd: [{ names: ['go.example.test'], type: 'A', port: Number(new URL(a.url).port), servers: [dns.server] }] });
    expect(urls()).toEqual([a.url]);
  });
});

describe('pprof receiver: what discovered targets become', () => {
  it('maps labels to service/env/version with labels_to, the rest to tags, and applies keep/drop rules on __address__ and __meta_* labels', async () => {
    const [a, b, c] = await Promise.all([goProgram(), goProgram(), goProgram()]);
    const dir = tempDir();
    writeFileSync(
      join(dir, 'prod.json'),
      JSON.stringify([{ targets: [hostPort(a), hostPort(b)], labels: { app: 'billing', stage: 'prod', release: 'v7', rack: 'r1' } }]),
    );
    writeFileSync(join(dir, 'staging.json'), JSON.stringify([{ targets: [hostPort(c)], labels: { app: 'billing', stage: 'staging' } }]));
    const { receiver, consumer, urls, metric } = await discovering({
      file_sd: [{ files: [join(dir, '*.json')] }],
      labels_to: { service: 'app', env: 'stage', version: 'release' },
      relabel: [
        { action: 'keep', source_labels: ['__meta_filepath'], regex: '.*/prod\\.json' },
        { action: 'drop', source_labels: ['__address__'], regex: hostPort(b).replaceAll('.', '\\.') },
      ],
    });
    expect(urls()).toEqual([a.url]);
    expect(metric('profcol_receiver_discovery_targets', { mechanism: 'file_sd' })).toBe(1);
    expect(metric('profcol_receiver_discovery_dropped_targets', { mechanism: 'file_sd', reason: 'relabel' })).toBe(2);
    await receiver.scrapeOnce();
    const bundle = consumer.batches[0]!.bundles[0]!;
    expect(bundle.resource).toMatchObject({ service: 'billing', env: 'prod', version: 'v7', instance: a.url, host: hostPort(a) });
    expect(bundle.tags).toEqual({ rack: 'r1' });
  });

  it('does not scrape an address that is no host:port, nor a target already written in targets, and says why (once)', async () => {
    const a = await goProgram();
    const dir = tempDir();
    const file = join(dir, 'sd.json');
    writeFileSync(file, JSON.stringify([{ targets: ['http://10.0.0.1:6060', hostPort(a)] }]));
    const { receiver, urls, metric, log } = await discovering({ targets: [{ url: a.url, service: 'static' }], file_sd: [{ files: [file] }] });
    expect(urls()).toEqual([a.url]);
    expect(receiver.targetState.get(a.url)!.config.service).toBe('static');
    expect(metric('profcol_receiver_discovery_dropped_targets', { mechanism: 'file_sd', reason: 'invalid' })).toBe(1);
    expect(metric('profcol_receiver_discovery_dropped_targets', { mechanism: 'file_sd', reason: 'duplicate' })).toBe(1);
    await receiver.refreshDiscovery();
    const invalid = messages(log).filter((m) => m.includes('not scraped'));
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toContain('address "http://10.0.0.1:6060" has a scheme; write "host:port"');
  });

  it('shards discovered targets: two replicas with the same discovery scrape each target exactly once', async () => {
    const programs = await Promise.all(Array.from({ length: 6 }, () => goProgram()));
    const dir = tempDir();
    writeFileSync(join(dir, 'all.json'), JSON.stringify([{ targets: programs.map(hostPort) }]));
    const replicas = await Promise.all([0, 1].map((index) => discovering({ file_sd: [{ files: [join(dir, 'all.json')] }], shard: { index, total: 2 } })));
    for (const [index, replica] of replicas.entries()) {
      expect(replica.urls()).toEqual(
        programs
          .map((p) => p.url)
          .filter((url) => shardOf(url, 2) === index)
          .sort(),
      );
      await replica.receiver.scrapeOnce();
    }
    expect(programs.map((p) => p.count('/debug/pprof/goroutine'))).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('schedules a target that appears at its jitter offset, stops the timer and cancels the round of one that disappears, and shows both on the status page', async () => {
    const [a, b] = await Promise.all([goProgram(), goProgram()]);
    const dir = tempDir();
    const file = join(dir, 'sd.json');
    writeFileSync(file, JSON.stringify([{ targets: [hostPort(a)], labels: { service: 'first' } }]));
    const { receiver, clock, urls } = await discovering({ interval: '10s', file_sd: [{ files: [file] }] }, { autoStart: true });
    const timers = clock.pending; // the target's tick and the refresh_interval timer
    writeFileSync(file, JSON.stringify([{ targets: [hostPort(a), hostPort(b)], labels: { service: 'first' } }]));
    await until(() => urls().length === 2);
    expect(clock.pending).toBe(timers + 1);
    expect(receiver.scrapeTargets().map((t) => [t.target, t.service])).toEqual([
      [a.url, 'first'],
      [b.url, 'first'],
    ]);
    // Within one interval (the jitter defaults to it) each has had a round.
    for (let next = clock.nextDueMs; next !== undefined && next <= clock.now() + 10_000; next = clock.nextDueMs) {
      clock.advance(next - clock.now());
      await roundsSettled(receiver);
      if (a.count('/debug/pprof/goroutine') > 0 && b.count('/debug/pprof/goroutine') > 0) break;
    }
    expect([a.count('/debug/pprof/goroutine'), b.count('/debug/pprof/goroutine')]).toEqual([1, 1]);

    // b's answer hangs; while its round waits, discovery loses b: the round is cancelled, its timer gone.
    b.mode = 'hang';
    const state = receiver.targetState.get(b.url)!;
    while (!state.running) {
      clock.advance(clock.nextDueMs! - clock.now());
      await new Promise((resolve) => setImmediate(resolve));
    }
    const round = state.running;
    writeFileSync(file, JSON.stringify([{ targets: [hostPort(a)], labels: { service: 'renamed' } }]));
    await until(() => urls().length === 1);
    expect((await round).outcome).toBe('cancelled');
    expect(receiver.scrapeTargets().map((t) => [t.target, t.service])).toEqual([[a.url, 'renamed']]);
    expect(clock.pending).toBe(timers);
  });
});
