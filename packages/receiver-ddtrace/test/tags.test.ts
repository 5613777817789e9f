import { describe, expect, it } from 'vitest';
import { buildResource, parseTagList } from '../src/tags.js';
import { capturingLogger, goUpload, request, startReceiver } from './helpers.js';

describe('language resolution (language, then runtime, then family; exact aliases only, from @profcol/core)', () => {
  const language = (fields: { language?: string; runtime?: string; family?: string }, tags: [string, string][] = []) =>
    buildResource({ tags, fields, hostTag: 'upload', receiverHost: 'collector-1' }).resource.language;

  it('maps aliases to the canonical names', () => {
    expect(language({ language: ' GO ' })).toBe('golang');
    expect(language({ language: 'Node.js' })).toBe('nodejs');
    expect(language({ language: 'kotlin' })).toBe('java');
    expect(language({ language: 'c#' })).toBe('dotnet');
    expect(language({ family: 'pyroscope-rs' })).toBe('rust');
  });

  it('takes the first hit in order and never matches a substring', () => {
    expect(language({ language: 'javascript', runtime: 'go', family: 'java' })).toBe('nodejs');
    expect(language({ language: 'golang-ish', runtime: 'nodejs', family: 'go' })).toBe('nodejs');
    expect(language({ language: 'golang-ish', runtime: 'nodejs', family: 'go' }, [['runtime', 'python']])).toBe('python');
    expect(language({ runtime: 'gopher', family: 'go' })).toBe('golang');
    expect(language({ language: 'mongo', runtime: 'django' })).toBe('unknown');
    expect(language({})).toBe('unknown');
  });

  it('prefers the language and runtime tags over the top-level fields', () => {
    expect(language({ language: 'java', runtime: 'jvm' }, [['language', 'python']])).toBe('python');
    expect(language({ runtime: 'jvm' }, [['runtime', 'node']])).toBe('nodejs');
  });
});

describe('resource and tags from upload tags', () => {
  it('moves the well-known keys to the resource and keeps the rest as tags, split at the first colon', () => {
    const { resource, tags } = buildResource({
      tags: parseTagList(
        'service:svc,env:prod,version:1.2.3,host:h1,runtime:go,runtime_version:1.26.8,runtime-id:abc,profile_seq:3,process_id:42,git.repository_url:https://x/y:z,bare,team:a,team:b',
      ),
      fields: { family: 'go' },
      hostTag: 'upload',
      receiverHost: 'collector-1',
    });
    expect(resource).toEqual({
      service: 'svc',
      env: 'prod',
      version: '1.2.3',
      host: 'h1',
      runtime: 'go',
      runtime_version: '1.26.8',
      runtime_id: 'abc',
      profile_seq: '3',
      process_id: '42',
      language: 'golang',
    });
    expect(tags).toEqual({ 'git.repository_url': 'https://x/y:z', bare: '', team: 'b' });
  });

  it("uses the receiver's hostname with host_tag: receiver", () => {
    const { resource, tags } = buildResource({ tags: [['host', 'app-host']], fields: {}, hostTag: 'receiver', receiverHost: 'collector-1' });
    expect(resource.host).toBe('collector-1');
    expect(tags.host).toBeUndefined();
  });

  it('lets tags added by a forwarding Datadog agent fill gaps only', () => {
    const { resource } = buildResource({
      tags: [['env', 'prod']],
      additional: [
        ['env', 'default-env'],
        ['host', 'agent-host'],
      ],
      fields: {},
      hostTag: 'upload',
      receiverHost: 'x',
    });
    expect(resource).toMatchObject({ env: 'prod', host: 'agent-host' });
  });
});

describe('repeated tag keys (k:1,k:2): the last value is kept, and the receiver says so', () => {
  it('keeps the last value and lists the keys whose earlier, different values it replaced', () => {
    const { resource, tags, repeated } = buildResource({
      tags: parseTagList('team:a,env:prod,team:b,team:c,env:prod,zone:1'),
      fields: {},
      hostTag: 'upload',
      receiverHost: 'x',
    });
    expect([tags.team, resource.env, tags.zone]).toEqual(['c', 'prod', '1']);
    // env:prod twice loses nothing, so it is not reported.
    expect(repeated).toEqual([{ key: 'team', replaced: 2 }]);
  });

  it('warns once per service (keys only, never values), counts every replaced value, and still accepts the upload', async () => {
    const { logger, lines } = capturingLogger();
    const r = await startReceiver({ dedup_window: '0' }, undefined, { logger });
    try {
      const upload = (service: string) => goUpload({ event: { tags_profiler: `service:${service},runtime:go,team:a,token:s3cr3t-1,token:s3cr3t-2,team:b` } });
      for (const service of ['svc-a', 'svc-a', 'svc-b']) expect((await request(r.port, upload(service))).status).toBe(200);
      expect(r.consumer.bundles.map((b) => [b.resource.service, b.tags.team, b.tags.token])).toEqual([
        ['svc-a', 'b', 's3cr3t-2'],
        ['svc-a', 'b', 's3cr3t-2'],
        ['svc-b', 'b', 's3cr3t-2'],
      ]);
      expect(r.count('profcol_receiver_repeated_tag_values_total')).toBe(6);
      const warnings = lines().filter((l) => String(l.msg).includes('more than once'));
      expect(warnings.map((w) => [w.service, w.keys])).toEqual([
        ['svc-a', ['token', 'team']],
        ['svc-b', ['token', 'team']],
      ]);
      expect(warnings[0]!.msg).toBe(
        'ddtrace uploads from svc-a give tag "token", "team" more than once with different values; the last value is kept (said once per service, counted in profcol_receiver_repeated_tag_values_total)',
      );
      expect(JSON.stringify(lines())).not.toContain('s3cr3t');
    } finally {
      await r.stop();
    }
  });
});
