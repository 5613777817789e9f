import { describe, expect, it } from 'vitest';
import { compileRules, targetConfigOf, targetGroupsOf } from '../src/discovery/index.js';
import { pprofReceiverConfigSchema } from '../src/index.js';
import { parseConfig } from './helpers.js';

function issues(input: Record<string, unknown>) {
  const result = pprofReceiverConfigSchema.parse(input);
  return result.ok ? [] : result.issues.map((i) => ({ path: i.path.join('::'), message: i.message }));
}

describe('pprof receiver: discovery configuration', () => {
  it("needs no static target when a discovery is configured, and has Prometheus' refresh intervals as defaults", () => {
    const config = parseConfig({
      file_sd: [{ files: ['sd/*.json'] }],
      http_sd: [{ url: 'http://localhost:8000/targets' }],
      dns_sd: [{ names: ['_pprof._tcp.example.com'] }],
    });
    expect(config.targets).toEqual([]);
    expect(config.file_sd[0]).toEqual({ files: ['sd/*.json'], refresh_interval: 300_000, scheme: 'http' });
    expect(config.http_sd[0]).toEqual({ url: 'http://localhost:8000/targets', refresh_interval: 60_000, scheme: 'http' });
    expect(config.dns_sd[0]).toEqual({ names: ['_pprof._tcp.example.com'], type: 'SRV', refresh_interval: 30_000, servers: [], scheme: 'http' });
    expect(config.labels_to).toEqual({ service: 'service', env: 'env', version: 'version' });
    expect(config.relabel).toEqual([]);
  });

  it('names each mistake with its path and what would be accepted', () => {
    expect(issues({})).toEqual([{ path: 'targets', message: 'needs at least 1 target, or a discovery (file_sd, http_sd or dns_sd) to find them' }]);
    expect(issues({ file_sd: [{ files: ['sd/targets.txt'] }] })).toEqual([
      { path: 'file_sd::0::files::0', message: '"sd/targets.txt" must end in .json, .yml or .yaml (the extension says how the file is read)' },
    ]);
    expect(issues({ file_sd: [{ files: ['sd/*/targets.json'] }] })[0]).toEqual({
      path: 'file_sd::0::files::0',
      message: '"sd/*/targets.json": only the file name may hold a wildcard (`*`), as in Prometheus; write the directories out',
    });
    expect(issues({ http_sd: [{ url: 'localhost:8000' }] })[0]!.path).toBe('http_sd::0::url');
    expect(issues({ dns_sd: [{ names: ['go.example.com'], type: 'A' }] })).toEqual([
      { path: 'dns_sd::0::port', message: 'is required with type A (an A record has no port; SRV records have their own)' },
    ]);
    expect(issues({ dns_sd: [{ names: ['_pprof._tcp.example.com'], port: 6060 }] })).toEqual([
      { path: 'dns_sd::0::port', message: 'is only for type A or AAAA: SRV records carry their own port' },
    ]);
    expect(issues({ dns_sd: [{ names: ['x.example.com'], servers: ['dns.example.com'] }] })[0]).toEqual({
      path: 'dns_sd::0::servers::0',
      message: '"dns.example.com" is not a DNS server address (expected an IP with an optional port: 10.0.0.2, 127.0.0.1:5353, [::1]:53)',
    });
    expect(issues({ http_sd: [{ url: 'http://sd/' }], relabel: [{ action: 'keep', source_labels: ['__address__'], regex: '(' }] })[0]!.path).toBe(
      'relabel::0::regex',
    );
    expect(issues({ http_sd: [{ url: 'http://sd/' }], relabel: [{ action: 'replace', source_labels: ['a'] }] })[0]).toEqual({
      path: 'relabel::0::action',
      message: '"replace" is not one of "keep", "drop"',
    });
    expect(issues({ http_sd: [{ url: 'http://sd/' }], labels_to: { service: 'app-name' } })[0]!.path).toBe('labels_to::service');
  });
});

describe('discovered labels → scrape targets', () => {
  it("reads Prometheus target groups, each target with its group's labels, the meta labels and __address__", () => {
    const groups = targetGroupsOf([{ targets: ['10.0.0.1:6060', ' 10.0.0.2:6060 '], labels: { service: 'a' } }, { targets: [] }], 'sd.json', {
      __meta_filepath: '/etc/sd.json',
    });
    expect(groups).toEqual([
      {
        source: 'sd.json',
        targets: [
          { service: 'a', __meta_filepath: '/etc/sd.json', __address__: '10.0.0.1:6060' },
          { service: 'a', __meta_filepath: '/etc/sd.json', __address__: '10.0.0.2:6060' },
        ],
      },
      { source: 'sd.json', targets: [] },
    ]);
    expect(targetGroupsOf(null, 'empty.yaml', {})).toEqual([]);
  });

  it('says where a target group is wrong', () => {
    expect(() => targetGroupsOf({ targets: [] }, 'sd.json', {})).toThrow('sd.json: expected a list of target groups');
    expect(() => targetGroupsOf([{ targets: '10.0.0.1:6060' }], 'sd.json', {})).toThrow(
      'sd.json: [0].targets: expected a list of "host:port", got string "10.0.0.1:6060"',
    );
    expect(() => targetGroupsOf([{ targets: [6060] }], 'sd.json', {})).toThrow('sd.json: [0].targets[0]: expected "host:port", got number 6060');
    expect(() => targetGroupsOf([{ targets: [], label: {} }], 'sd.json', {})).toThrow('sd.json: [0]: unknown key "label"');
    expect(() => targetGroupsOf([{ targets: [], labels: { 'team-name': 'x' } }], 'sd.json', {})).toThrow('"team-name" is not a label name');
  });

  it('applies keep and drop rules in order, on values joined by the separator, anchored at both ends', () => {
    const droppedBy = compileRules([
      { action: 'keep', source_labels: ['env', 'service'], separator: '/', regex: 'prod/.*' },
      { action: 'drop', source_labels: ['__address__'], separator: ';', regex: '10\\.0\\.0\\.9:.*' },
    ]);
    expect(droppedBy({ env: 'prod', service: 'a', __address__: '10.0.0.1:6060' })).toBeUndefined();
    expect(droppedBy({ env: 'preprod', service: 'a', __address__: '10.0.0.1:6060' })).toBe(0);
    expect(droppedBy({ service: 'a', __address__: '10.0.0.1:6060' })).toBe(0);
    expect(droppedBy({ env: 'prod', service: 'a', __address__: '10.0.0.9:6060' })).toBe(1);
    // Anchored: "prod" alone does not match "prod-eu".
    expect(compileRules([{ action: 'keep', source_labels: ['env'], separator: ';', regex: 'prod' }])({ env: 'prod-eu' })).toBe(0);
  });

  it('builds <scheme>://<address> with labels_to, tags from the other labels, and refuses what is no host:port', () => {
    const labelsTo = { service: 'app', env: 'stage', version: 'service' };
    expect(
      targetConfigOf({ __address__: '[::1]:6060', __scheme__: 'https', __meta_url: 'x', app: 'billing', stage: 'prod', service: 'v2', zone: 'b' }, labelsTo),
    ).toMatchObject({
      url: 'https://[::1]:6060',
      service: 'billing',
      env: 'prod',
      version: 'v2',
      tags: { zone: 'b' },
    });
    expect(() => targetConfigOf({ __address__: '10.0.0.1:6060/debug' }, labelsTo)).toThrow('address "10.0.0.1:6060/debug" is not "host:port"');
    expect(() => targetConfigOf({ __address__: '10.0.0.1:6060', __scheme__: 'ftp' }, labelsTo)).toThrow('__scheme__ "ftp" is neither http nor https');
  });
});
