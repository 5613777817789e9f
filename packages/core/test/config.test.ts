import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandEnv, loadConfigFiles, parseConfigText } from '../src/index.js';

function writeFiles(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-config-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('environment expansion', () => {
  it('replaces ${env:NAME} with the variable', () => {
    expect(expandEnv('http://${env:HOST}:4318', { HOST: 'otel' }).value).toBe('http://otel:4318');
  });
  it('uses the default after :- when the variable is unset or empty', () => {
    expect(expandEnv('${env:MISSING:-http://localhost:4318}', {}).value).toBe('http://localhost:4318');
    expect(expandEnv('${env:EMPTY:-fallback}', { EMPTY: '' }).value).toBe('fallback');
  });
  it('turns $$ into a literal dollar and leaves it unexpanded', () => {
    expect(expandEnv('price: $${env:X}', { X: 'no' }).value).toBe('price: ${env:X}');
  });
  it('reports an unset variable without a default', () => {
    expect(expandEnv('${env:NOPE}', {}).problems[0]).toMatch(/NOPE is not set/);
  });
  it('reports references it does not understand', () => {
    expect(expandEnv('${HOME}', {}).problems[0]).toMatch(/not a supported reference/);
  });
  it('expands inside YAML scalars and reports the line of a bad reference', () => {
    const parsed = parseConfigText('exporters:\n  otlp:\n    endpoint: ${env:NOPE}\n', 'p.yaml', {});
    expect(parsed.issues).toEqual([expect.objectContaining({ path: 'exporters::otlp::endpoint', file: 'p.yaml', line: 3 })]);
  });
});

describe('loading configuration files', () => {
  it('merges several files in order: maps key by key, later values win, lists are replaced', () => {
    const dir = writeFiles({
      'base.yaml': 'receivers:\n  pprof:\n    interval: 10s\n    enabled_types: [cpu, heap]\nexporters:\n  console: {}\n',
      'prod.yaml': 'receivers:\n  pprof:\n    interval: 30s\n    enabled_types: [goroutine]\n',
    });
    const loaded = loadConfigFiles([path.join(dir, 'base.yaml'), path.join(dir, 'prod.yaml')], {});
    expect(loaded.issues).toEqual([]);
    expect(loaded.tree).toEqual({ receivers: { pprof: { interval: '30s', enabled_types: ['goroutine'] } }, exporters: { console: {} } });
    expect(loaded.locate(['receivers', 'pprof', 'interval'])).toEqual({ file: path.join(dir, 'prod.yaml'), line: 3 });
    expect(loaded.locate(['exporters', 'console', 'verbosity'])).toEqual({ file: path.join(dir, 'base.yaml'), line: 6 });
  });
  it('collects plugins from every file, each resolving from its own folder', () => {
    const dir = writeFiles({ 'a.yaml': 'plugins: ["@acme/a"]\n', 'b.yaml': 'plugins: [./local-plugin]\n' });
    const loaded = loadConfigFiles([path.join(dir, 'a.yaml'), path.join(dir, 'b.yaml')], {});
    expect(loaded.plugins.map((p) => [p.specifier, p.fromDir])).toEqual([
      ['@acme/a', dir],
      ['./local-plugin', dir],
    ]);
    expect(loaded.tree).not.toHaveProperty('plugins');
  });
  it('reports a YAML syntax error with its line instead of throwing', () => {
    const dir = writeFiles({ 'bad.yaml': 'receivers:\n  pprof:\n    interval: [10s\n' });
    const loaded = loadConfigFiles([path.join(dir, 'bad.yaml')], {});
    expect(loaded.issues[0]?.message).toMatch(/YAML syntax error/);
    expect(loaded.issues[0]?.line).toBeGreaterThan(0);
  });
  it('reports a missing file', () => {
    const loaded = loadConfigFiles(['/nonexistent/profcol.yaml'], {});
    expect(loaded.issues[0]?.message).toMatch(/cannot read configuration file: ENOENT/);
  });
  it('refuses a top level that is not a map', () => {
    const parsed = parseConfigText('- a\n- b\n', 'list.yaml', {});
    expect(parsed.issues[0]?.message).toMatch(/must be a YAML map/);
  });
});

describe('YAML anchors, aliases and merge keys', () => {
  it('reuses an anchored section through an alias, each copy at its own path', () => {
    const parsed = parseConfigText(
      'receivers:\n  pprof/a: &scrape\n    interval: 10s\n    targets: [{ url: "http://a:6060" }]\n  pprof/b: *scrape\n',
      'p.yaml',
      {},
    );
    expect(parsed.issues).toEqual([]);
    const receivers = (parsed.tree as { receivers: Record<string, unknown> }).receivers;
    expect(receivers['pprof/b']).toEqual(receivers['pprof/a']);
    expect(receivers['pprof/b']).not.toBe(receivers['pprof/a']);
  });

  it("merges maps with <<: the map's own keys win, then the earlier of several merged maps", () => {
    const yaml = [
      'defaults: &defaults',
      '  interval: 10s',
      '  timeout: 5s',
      'slow: &slow',
      '  interval: 60s',
      '  cpu_seconds: 30',
      'receivers:',
      '  pprof/a:',
      '    timeout: 2s',
      '    <<: *defaults',
      '  pprof/b:',
      '    <<: [*slow, *defaults]',
      '',
    ].join('\n');
    const parsed = parseConfigText(yaml, 'p.yaml', {});
    expect(parsed.issues).toEqual([]);
    const receivers = (parsed.tree as { receivers: Record<string, unknown> }).receivers;
    expect(receivers['pprof/a']).toEqual({ interval: '10s', timeout: '2s' });
    expect(receivers['pprof/b']).toEqual({ interval: '60s', cpu_seconds: 30, timeout: '5s' });
  });

  it('points an error inside a merged map at the line where the value is written', () => {
    const dir = writeFiles({ 'p.yaml': 'base: &base\n  interval: 10s\nreceivers:\n  pprof/a:\n    <<: *base\n    timeout: 2s\n' });
    const loaded = loadConfigFiles([path.join(dir, 'p.yaml')], {});
    expect(loaded.locate(['receivers', 'pprof/a', 'interval'])).toEqual({ file: path.join(dir, 'p.yaml'), line: 2 });
    expect(loaded.locate(['receivers', 'pprof/a', 'timeout'])).toEqual({ file: path.join(dir, 'p.yaml'), line: 6 });
  });

  it('resolves an alias used as a key, and refuses one inside the value it names', () => {
    expect(parseConfigText('name: &name pprof/a\nreceivers:\n  *name : {}\n', 'p.yaml', {}).tree).toEqual({ name: 'pprof/a', receivers: { 'pprof/a': {} } });
    const loop = parseConfigText('receivers: &r\n  pprof: *r\n', 'p.yaml', {});
    expect(loop.issues).toEqual([expect.objectContaining({ line: 2, message: 'alias *r is inside the value it names, which would never end' })]);
  });

  it('refuses a merge of something that is not a map, saying what << accepts', () => {
    const parsed = parseConfigText('list: &list [a, b]\nreceivers:\n  pprof:\n    <<: *list\n', 'p.yaml', {});
    expect(parsed.issues).toEqual([expect.objectContaining({ path: 'receivers::pprof', line: 4, message: expect.stringContaining('"<<" merges maps only') })]);
  });

  it('refuses an alias whose anchor is not defined before it, with its line', () => {
    const parsed = parseConfigText('receivers:\n  pprof: *later\nbase: &later {}\n', 'p.yaml', {});
    expect(parsed.issues).toEqual([expect.objectContaining({ file: 'p.yaml', line: 2 })]);
    expect(parsed.issues[0]!.message).toMatch(/later/);
  });

  it('refuses a "billion laughs" document once aliases have added 10,000 values, at the alias that did it', () => {
    const levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
    for (let level = 1; level < 9; level++) {
      const name = String.fromCharCode(97 + level);
      const previous = String.fromCharCode(96 + level);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    }
    const parsed = parseConfigText(`${levels.join('\n')}\n`, 'bomb.yaml', {});
    expect(parsed.tree).toEqual({});
    expect(parsed.issues).toHaveLength(1);
    expect(parsed.issues[0]).toMatchObject({ file: 'bomb.yaml', message: expect.stringMatching(/aliases expand to more than 10,000 values .* alias bomb/) });
    expect(parsed.issues[0]!.line).toBe(4); // d: &d [*c, …], the first level past 10,000 values
  });
});

describe('duplicate keys', () => {
  // profcol finds duplicates itself, in one pass over each map. The yaml library's own check
  // (`uniqueKeys`) compares each key with every earlier one: an 8 MB configuration took 60 s.
  // Its message ("Map keys must be unique", a syntax error dropping the whole file) would show
  // here if that check came back.
  it('are reported with both lines, and the rest of the file is still read', () => {
    const parsed = parseConfigText('receivers:\n  pprof:\n    interval: 10s\n    timeout: 2s\n    interval: 20s\nexporters:\n  console: {}\n', 'p.yaml', {});
    expect(parsed.issues).toEqual([
      { path: 'receivers::pprof::interval', file: 'p.yaml', line: 5, message: '"interval" appears twice in one map (first at line 3); keep one' },
    ]);
    expect(parsed.tree).toEqual({ receivers: { pprof: { interval: '10s', timeout: '2s' } }, exporters: { console: {} } });
  });
});
