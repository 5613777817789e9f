import { describe, expect, it } from 'vitest';
import { buildResource, parseTagList } from '../src/tags.js';

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
      tags: parseTagList('service:svc,env:prod,version:1.2.3,host:h1,runtime:go,runtime_version:1.26.8,runtime-id:abc,profile_seq:3,process_id:42,git.repository_url:https://x/y:z,bare,team:a,team:b'),
      fields: { family: 'go' },
      hostTag: 'upload',
      receiverHost: 'collector-1',
    });
    expect(resource).toEqual({ service: 'svc', env: 'prod', version: '1.2.3', host: 'h1', runtime: 'go', runtime_version: '1.26.8', runtime_id: 'abc', profile_seq: '3', process_id: '42', language: 'golang' });
    expect(tags).toEqual({ 'git.repository_url': 'https://x/y:z', bare: '', team: 'b' });
  });

  it("uses the receiver's hostname with host_tag: receiver", () => {
    const { resource, tags } = buildResource({ tags: [['host', 'app-host']], fields: {}, hostTag: 'receiver', receiverHost: 'collector-1' });
    expect(resource.host).toBe('collector-1');
    expect(tags.host).toBeUndefined();
  });

  it('lets tags added by a forwarding Datadog agent fill gaps only', () => {
    const { resource } = buildResource({ tags: [['env', 'prod']], additional: [['env', 'default-env'], ['host', 'agent-host']], fields: {}, hostTag: 'upload', receiverHost: 'x' });
    expect(resource).toMatchObject({ env: 'prod', host: 'agent-host' });
  });
});
