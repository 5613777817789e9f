import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

function capture(env: Record<string, string> = {}) {
  const out = { stdout: '', stderr: '' };
  const stream = (key: 'stdout' | 'stderr') => new Writable({ write: (chunk, _enc, done) => ((out[key] += String(chunk)), done()) });
  return { out, io: { stdout: stream('stdout'), stderr: stream('stderr'), env } };
}

function writeFiles(files: Record<string, string>): (name: string) => string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-validate-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return (name) => path.join(dir, name);
}

/** `profcol validate` on the files; its exit code and the error lines it printed. */
async function validate(files: string[], env: Record<string, string> = {}) {
  const { out, io } = capture(env);
  const code = await main(['validate', ...files.flatMap((file) => ['--config', file])], io);
  return {
    code,
    out,
    errors: out.stderr
      .split('\n')
      .filter((line) => line.startsWith('  '))
      .map((line) => line.trim()),
  };
}

const PIPELINE = `
receivers:
  ddtrace: {}
processors:
  goruntime: {}
exporters:
  console: {}
service:
  pipelines:
    metrics:
      receivers: [ddtrace]
      processors: [goruntime]
      exporters: [console]
`;

describe('profcol validate', () => {
  it('accepts the pipeline and lists it', async () => {
    const file = writeFiles({ 'p.yaml': PIPELINE })('p.yaml');
    const { code, out } = await validate([file]);
    expect(code).toBe(0);
    expect(out.stdout).toBe('configuration is valid: 1 pipeline\n  metrics (ddtrace → goruntime → console)\n');
  });

  it('suggests the top-level key and the component type that were probably meant', async () => {
    const file = writeFiles({ 'p.yaml': PIPELINE.replace('receivers:\n  ddtrace', 'recievers:\n  ddtrace').replace('  goruntime: {}', '  goruntme: {}') })(
      'p.yaml',
    );
    const { code, errors } = await validate([file]);
    expect(code).toBe(1);
    expect(errors[0]).toBe(
      `recievers: unknown top-level key "recievers" (did you mean "receivers"?) (expected one of plugins, receivers, processors, exporters, extensions, service) (${file}:2)`,
    );
    expect(errors[1]).toMatch(/^processors::goruntme: unknown processor type "goruntme" \(did you mean "goruntime"\?\) \(known: .*\) \(.*p\.yaml:5\)$/);
  });

  it('reports only the syntax error of a file it cannot parse, not the pipelines it would have defined', async () => {
    const file = writeFiles({ 'p.yaml': PIPELINE.replace('[ddtrace]', '[ddtrace') })('p.yaml');
    const { code, errors } = await validate([file]);
    expect(code).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^YAML syntax error: .*p\.yaml:\d+\)$/);
  });

  it('reports only the missing file, not the pipelines it would have defined', async () => {
    const at = writeFiles({ 'p.yaml': PIPELINE });
    const { code, errors } = await validate([at('p.yaml'), at('missing.yaml')]);
    expect(code).toBe(1);
    expect(errors).toEqual([`cannot read configuration file: ENOENT (${at('missing.yaml')})`]);
  });

  it('lists errors in file:line order, file by file as given', async () => {
    const at = writeFiles({
      'a.yaml': PIPELINE.replace('  console: {}', '  console: { verbosity: loud }').replace(
        '      exporters: [console]',
        '      exporters: [console, nowhere]',
      ),
      'b.yaml': 'receivers:\n  ddtrace:\n    endpoint: 1\n    max_request_bytes: lots\n',
    });
    const { errors } = await validate([at('a.yaml'), at('b.yaml')]);
    const positions = errors.map((line) => /\(([^()]*):(\d+)\)$/.exec(line)!.slice(1));
    expect(positions).toEqual([
      [at('a.yaml'), '7'],
      [at('a.yaml'), '13'],
      [at('b.yaml'), '3'],
      [at('b.yaml'), '4'],
    ]);
  });

  it('never prints a value that came from the environment: it is named by its variable', async () => {
    const file = writeFiles({ 'p.yaml': PIPELINE.replace('  ddtrace: {}', '  ddtrace:\n    endpoint: "${env:SECRET}"\n    api_keys: "${env:SECRET}"') })(
      'p.yaml',
    );
    const { code, out, errors } = await validate([file], { SECRET: 'TopSecret-123456' });
    expect(code).toBe(1);
    expect(errors).toEqual([
      `receivers::ddtrace::endpoint: the value of \${env:SECRET} is not host:port (${file}:4)`,
      `receivers::ddtrace::api_keys: expected a list, got a secret (not shown) (${file}:5)`,
    ]);
    expect(out.stderr + out.stdout).not.toContain('TopSecret');
  });

  it('never prints what was written in a secret field either (api_keys, bearer_token, OTLP headers)', async () => {
    const file = writeFiles({ 'p.yaml': PIPELINE.replace('  ddtrace: {}', '  ddtrace:\n    api_keys: TopSecret-123456') })('p.yaml');
    const { code, out, errors } = await validate([file]);
    expect(code).toBe(1);
    expect(errors).toEqual([`receivers::ddtrace::api_keys: expected a list, got a secret (not shown) (${file}:4)`]);
    expect(out.stderr).not.toContain('TopSecret');
  });
});
