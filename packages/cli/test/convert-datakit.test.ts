import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Collector, createLogger } from '@profcol/core';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { convertDataKitProfileConf, ConvertError, main, prepare } from '../src/index.js';

const SAMPLE = fileURLToPath(new URL('./fixtures/datakit-profile.conf', import.meta.url));

function capture() {
  const out = { stdout: '', stderr: '' };
  const stream = (key: 'stdout' | 'stderr') => new Writable({ write: (chunk, _enc, done) => ((out[key] += String(chunk)), done()) });
  return { out, io: { stdout: stream('stdout'), stderr: stream('stderr'), env: {} } };
}

function tmp(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'profcol-convert-')), name);
  writeFileSync(file, text);
  return file;
}

async function convertSample(): Promise<string> {
  const { out, io } = capture();
  expect(await main(['convert', 'datakit', SAMPLE], io)).toBe(0);
  expect(out.stderr).toBe('');
  return out.stdout;
}

describe('profcol convert datakit', () => {
  it("turns DataKit's sample profile.conf into a pipeline that validates", async () => {
    const file = tmp('pipeline.yaml', await convertSample());
    const { plan, issues } = await prepare([file], {});
    expect(issues).toEqual([]);
    expect(plan!.pipelines.map((p) => [p.name, p.receivers, p.processors, p.exporters])).toEqual([
      ['go', ['ddtrace', 'pprof', 'pprof/30s'], ['pprof_decode', 'goruntime'], ['file']],
    ]);
  });

  it('carries every Go pull target over with its service, env, version, types and tags, one receiver per interval', async () => {
    const config = parse(await convertSample());
    expect(config.receivers.ddtrace).toEqual({ endpoint: 'localhost:9529' });
    expect(config.receivers.pprof).toEqual({
      interval: '10s',
      targets: [
        {
          url: 'http://localhost:6060',
          service: 'go-demo',
          env: 'dev',
          version: '0.0.0',
          enabled_types: ['cpu', 'goroutine', 'heap', 'mutex', 'block'],
          tags: { team: 'payments' },
        },
      ],
    });
    expect(config.receivers['pprof/30s']).toEqual({
      interval: '30s',
      targets: [{ url: 'http://10.0.0.12:6060', service: 'checkout', env: 'prod', version: '2.4.1', enabled_types: ['cpu', 'heap'] }],
    });
  });

  it('says in a comment what it could not carry over, and why', async () => {
    const text = await convertSample();
    expect(text).toMatch(/# inputs\.profile\.election = true: profcol has no leader election/);
    const withExtras = convertDataKitProfileConf(
      [
        '[[inputs.profile]]',
        'body_limit = 10',
        '[[inputs.profile.pyroscope]]',
        'url = "0.0.0.0:4040"',
        '[[inputs.profile.go]]',
        'url = "http://a:6060"',
        'timeout = "5s"',
      ].join('\n'),
    );
    expect(withExtras).toContain('# not carried over: inputs.profile.body_limit = 10: profcol has no equivalent.');
    expect(withExtras).toMatch(/# not carried over: \[\[inputs\.profile\.pyroscope\]\] \(1\) — profcol pulls only Go net\/http\/pprof\n# +targets\./);
    expect(withExtras).toContain('# not carried over: inputs.profile.go[0].timeout = "5s": the pprof receiver has no equivalent.');
  });

  it('keeps custom endpoints, sets [inputs.profile.tags] with a tags processor, and leaves goruntime out when generate_metrics = false', async () => {
    const text = convertDataKitProfileConf(
      [
        '[[inputs.profile]]',
        'endpoints = ["/profiling/v1/input", "/custom/input"]',
        'generate_metrics = false',
        '[inputs.profile.tags]',
        'cluster = "eu-1"',
      ].join('\n'),
    );
    const config = parse(text);
    expect(config.receivers).toEqual({ ddtrace: { endpoint: 'localhost:9529', endpoints: ['/profiling/v1/input', '/custom/input'] } });
    expect(config.processors).toEqual({ pprof_decode: {}, tags: { set: { cluster: 'eu-1' } } });
    expect(text).toContain('# generate_metrics = false: no goruntime processor');
    const { issues } = await prepare([tmp('pipeline.yaml', text)], {});
    expect(issues).toEqual([]);
  });

  it('converts a pipeline that runs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'profcol-convert-run-'));
    // Ephemeral port and a temporary folder instead of the converted file's fixed ones.
    const override = tmp('override.yaml', `receivers:\n  ddtrace:\n    endpoint: 127.0.0.1:0\nexporters:\n  file:\n    directory: ${JSON.stringify(dir)}\n`);
    const { plan, issues } = await prepare([tmp('pipeline.yaml', await convertSample()), override], {});
    expect(issues).toEqual([]);
    const collector = new Collector(plan!, { logger: createLogger({ level: 'silent' }) });
    await collector.start();
    await collector.shutdown();
  });

  it('names what is wrong with a file it cannot convert', async () => {
    expect(() => convertDataKitProfileConf('[[inputs.profile]\nx = 1', 'bad.conf')).toThrow(/^bad\.conf:1:\d+: not valid TOML/);
    expect(() => convertDataKitProfileConf('[[inputs.cpu]]\npercpu = true', 'cpu.conf')).toThrow(
      new ConvertError('cpu.conf: no [[inputs.profile]] section: this is not a DataKit profile input configuration'),
    );
    expect(() => convertDataKitProfileConf('[[inputs.profile]]\n[[inputs.profile.go]]\nservice = "x"', 'p.conf')).toThrow(
      'p.conf: inputs.profile.go[0].url is required',
    );
    expect(() => convertDataKitProfileConf('[[inputs.profile]]\n[[inputs.profile.go]]\nurl = "http://a"\nenabled_types = "cpu"', 'p.conf')).toThrow(
      'p.conf: inputs.profile.go[0].enabled_types: expected a list of strings, got "cpu"',
    );
    const { out, io } = capture();
    expect(await main(['convert', 'datakit', '/nonexistent/profile.conf'], io)).toBe(1);
    expect(out.stderr).toBe('profcol convert: cannot read /nonexistent/profile.conf: ENOENT\n');
    expect(await main(['convert', 'telegraf', SAMPLE], io)).toBe(2);
    expect(out.stderr).toContain('unknown format "telegraf"; known: datakit');
  });
});
