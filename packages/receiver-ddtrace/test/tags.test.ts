import { describe, expect, it } from 'vitest';
import { buildResource, parseTagList, resolveLanguage } from '../src/tags.js';

describe('language resolution (language, then runtime, then family; exact aliases only)', () => {
  it('maps every alias', () => {
    const cases: Record<string, string> = {
      go: 'golang', golang: 'golang', java: 'java', jvm: 'java', kotlin: 'java', scala: 'java', python: 'python',
      javascript: 'nodejs', js: 'nodejs', node: 'nodejs', nodejs: 'nodejs', 'node.js': 'nodejs', dotnet: 'dotnet', '.net': 'dotnet',
      'c#': 'dotnet', csharp: 'dotnet', ruby: 'ruby', php: 'php', cpp: 'cpp', 'c++': 'cpp', cplusplus: 'cpp', rust: 'rust', 'pyroscope-rs': 'rust',
    };
    for (const [alias, language] of Object.entries(cases)) expect(resolveLanguage({ language: ` ${alias.toUpperCase()} ` })).toBe(language);
  });

  it('takes the first hit in order and never matches a substring', () => {
    expect(resolveLanguage({ language: 'javascript', runtime: 'go', family: 'java' })).toBe('nodejs');
    expect(resolveLanguage({ language: 'golang-ish', runtime: 'nodejs', family: 'go' })).toBe('nodejs');
    expect(resolveLanguage({ runtime: 'gopher', family: 'go' })).toBe('golang');
    expect(resolveLanguage({ language: 'mongo', runtime: 'django' })).toBe('unknown');
    expect(resolveLanguage({})).toBe('unknown');
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
