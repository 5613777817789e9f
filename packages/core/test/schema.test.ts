import { describe, expect, it } from 'vitest';
import { renderSchemaMarkdown, s } from '../src/index.js';

const Receiver = s.object({
  endpoint: s.string({ default: 'localhost:9529', description: 'Where to listen.' }),
  interval: s.duration({ default: '10s', min: '10s', description: 'Scrape interval.' }),
  max_request_bytes: s.bytes({ default: '32MiB' }),
  protocol: s.enum(['http/protobuf', 'http/json'], { default: 'http/protobuf' }),
  targets: s.array(s.object({ url: s.string(), tags: s.record(s.string()) }), { default: [] }),
  token: s.optional(s.string()),
  retries: s.integer({ default: 3, min: 0 }),
});

describe('config schemas', () => {
  it('lays defaults under what the user wrote', () => {
    const result = Receiver.parse({ endpoint: '0.0.0.0:9529', targets: [{ url: 'http://a:6060' }] });
    expect(result).toEqual({
      ok: true,
      value: {
        endpoint: '0.0.0.0:9529',
        interval: 10_000,
        max_request_bytes: 32 * 1024 * 1024,
        protocol: 'http/protobuf',
        targets: [{ url: 'http://a:6060', tags: {} }],
        retries: 3,
      },
    });
  });
  it('reads durations, sizes and numbers written as text (as ${env:...} yields)', () => {
    const result = Receiver.parse({ interval: '1m30s', max_request_bytes: '512KiB', retries: '5' });
    expect(result.ok && [result.value.interval, result.value.max_request_bytes, result.value.retries]).toEqual([90_000, 512 * 1024, 5]);
  });
  it('reports every problem at once, each with its path', () => {
    const result = Receiver.parse({ interval: '5s', protocol: 'grpc', targets: [{ tags: {} }], dirctory: 'x', retries: -1 });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues.map((i) => `${i.path.join('::')}: ${i.message}`)).toEqual([
      'dirctory: unknown key "dirctory"',
      'interval: 5s is below the minimum of 10s',
      'protocol: "grpc" is not one of "http/protobuf", "http/json"',
      'targets::0::url: is required',
      'retries: -1 is below the minimum of 0',
    ]);
  });
  it('suggests the key a typo was probably meant to be', () => {
    const result = s.object({ directory: s.string({ default: './data' }) }).parse({ dirctory: '/tmp' });
    expect(!result.ok && result.issues[0]?.message).toBe('unknown key "dirctory" (did you mean "directory"?)');
  });
  it('explains values of the wrong kind', () => {
    const result = Receiver.parse({ targets: 'http://a', max_request_bytes: 'lots' });
    expect(!result.ok && result.issues.map((i) => i.message)).toEqual([
      '"lots" is not a size (expected e.g. 1048576, 512KiB, 32MiB, 1GB)',
      'expected a list, got "http://a"',
    ]);
  });
  it('renders the README table from the same schema', () => {
    const table = renderSchemaMarkdown(Receiver);
    expect(table).toContain('| `interval` | duration | `10s` | Scrape interval. |');
    expect(table).toContain('| `targets[].url` | string | `required` |  |');
  });
  it('never shows what was written in a field marked secret, whatever is wrong with it', () => {
    const Secrets = s.object({
      api_keys: s.array(s.string(), { secret: true, minItems: 1 }),
      token: s.string({ secret: true, check: (value) => (value.length < 32 ? `"${value}" is shorter than 32 characters` : undefined) }),
    });
    const result = Secrets.parse({ api_keys: 'TopSecret-123456', token: 'hunter2-hunter2' });
    expect(result).toEqual({
      ok: false,
      issues: [
        { path: ['api_keys'], message: 'expected a list, got a secret (not shown)' },
        { path: ['token'], message: 'a secret (not shown) is shorter than 32 characters' },
      ],
    });
  });
});
