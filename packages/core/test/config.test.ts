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
    expect(loaded.plugins.map((p) => [p.specifier, p.fromDir])).toEqual([['@acme/a', dir], ['./local-plugin', dir]]);
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
