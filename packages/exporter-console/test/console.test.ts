import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { MetricPoint, ProfileBundle } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { describe, expect, it } from 'vitest';
import plugin, { consoleExporter, createConsoleExporter, type ConsoleConfig } from '../src/index.js';

const fixtures = new URL('../../../test/fixtures/ddtrace-go/', import.meta.url);
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, fixtures)));

// 2026-11-24T22:40:00Z, the start of a 60 s dd-trace-go upload period.
const START = 1_795_560_000_000_000_000n;
const END = START + 60_000_000_000n;

function ddtraceBundle(): ProfileBundle {
  const metrics = JSON.parse(readFileSync(new URL('metrics.json', fixtures), 'utf8')) as [string, number][];
  return {
    source: 'ddtrace',
    resource: { service: 'go-demo', env: 'dev', version: '1.4.2', language: 'golang', host: 'web-1' },
    tags: { team: 'payments' },
    window: { startNanos: START, endNanos: END },
    profiles: [
      { type: 'cpu', name: 'cpu.pprof', data: fixture('cpu.pprof') },
      { type: 'heap', name: 'delta-heap.pprof', data: fixture('delta-heap.pprof'), delta: true },
      { type: 'block', name: 'delta-block.pprof', data: fixture('delta-block.pprof'), delta: true },
      { type: 'mutex', name: 'delta-mutex.pprof', data: fixture('delta-mutex.pprof'), delta: true },
      { type: 'goroutine', name: 'goroutines.pprof', data: fixture('goroutines.pprof') },
    ],
    runtimeMetrics: Object.fromEntries(metrics),
  };
}

/** The sums `pprof_decode` attaches, as listed in test/fixtures/README.md. */
function withDecodedCpu(bundle: ProfileBundle): ProfileBundle {
  const cpu = bundle.profiles[0]!;
  cpu.decoded = {
    pprof: cpu.data,
    sampleTypes: [
      { type: 'samples', unit: 'count' },
      { type: 'cpu', unit: 'nanoseconds' },
    ],
    totals: [607, 6_070_000_000],
    sampleCount: 412,
    timeNanos: START,
    durationNanos: 60_115_887_125n,
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: 10_000_000,
  };
  return bundle;
}

function goMetrics(): MetricPoint[] {
  const resource = { service: 'go-demo', env: 'dev', version: '1.4.2' };
  const base = { timeNanos: END, startTimeNanos: START, resource, attributes: {} };
  return [
    { ...base, name: 'prof_go_cpu_cores', unit: '{cpu}', kind: 'gauge', value: 0.10116666666666667 },
    { ...base, name: 'prof_go_alloc_bytes_total', unit: 'By', kind: 'sum', monotonic: true, value: 13_966_184 },
    { ...base, name: 'prof_go_num_goroutine', unit: '{goroutine}', kind: 'gauge', value: 26 },
    { ...base, name: 'prof_go_blocked_time', unit: 'ns', kind: 'sum', value: 1_136_108_787_243, attributes: { reason: 'chan receive' } },
  ];
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, callback: (error?: Error | null) => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
  get lines(): string[] {
    return this.text.split('\n').filter((line) => line !== '');
  }
}

function setup(config: Partial<ConsoleConfig> = {}) {
  const settings = createTestSettings({ id: 'console', kind: 'exporter' });
  const stream = new Collect();
  const parsed = consoleExporter.config.parse(config);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const exporter = createConsoleExporter(settings, parsed.value, { stream });
  return { settings, stream, exporter };
}

describe('console exporter', () => {
  it('is a plugin with a documented config whose defaults are basic verbosity on stdout', () => {
    expect(plugin.name).toBe('@profcol/exporter-console');
    expect(plugin.components).toContain(consoleExporter);
    expect(consoleExporter.kind).toBe('exporter');
    expect(consoleExporter.type).toBe('console');
    expect(consoleExporter.config.parse(undefined)).toEqual({ ok: true, value: { verbosity: 'basic', output: 'stdout' } });
    const wrong = consoleExporter.config.parse({ verbosity: 'loud' });
    expect(wrong.ok).toBe(false);
  });

  it('uses the own-metric names every profcol exporter shares, and lists each in the README', () => {
    const { settings } = setup();
    const names = [...settings.registry.renderPrometheus().matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!);
    expect(names.sort()).toEqual([
      'profcol_exporter_send_failed_bundles_total',
      'profcol_exporter_send_failed_metric_points_total',
      'profcol_exporter_sent_bundles_total',
      'profcol_exporter_sent_metric_points_total',
    ]);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of names) expect(readme).toContain(`| \`${name}\``);
  });

  it('prints one line per dd-trace-go bundle: source, service/env, window, profile types and sizes', async () => {
    const { exporter, stream, settings } = setup();
    await exporter.consume({ bundles: [ddtraceBundle()], metrics: [] });
    expect(stream.lines).toEqual([
      'ddtrace  go-demo/dev  2026-11-24T22:40:00Z +60s  cpu 39.9KiB, heap 15.3KiB (delta), block 6.4KiB (delta), mutex 733B (delta), goroutine 9.1KiB, metrics.json 8 values',
    ]);
    expect(settings.registry.value('profcol_exporter_sent_bundles_total', { exporter: 'console' })).toBe(1);
  });

  it('prints an aligned table of the metric points of a batch, with units and key attributes', async () => {
    const { exporter, stream, settings } = setup();
    await exporter.consume({ bundles: [], metrics: goMetrics() });
    expect(stream.lines).toEqual([
      'metrics  4 points at 2026-11-24T22:41:00Z',
      '    prof_go_cpu_cores                   0.101167  {cpu}        service=go-demo env=dev',
      '    prof_go_alloc_bytes_total         13,966,184  By           service=go-demo env=dev',
      '    prof_go_num_goroutine                     26  {goroutine}  service=go-demo env=dev',
      '    prof_go_blocked_time       1,136,108,787,243  ns           service=go-demo env=dev reason="chan receive"',
    ]);
    expect(settings.registry.value('profcol_exporter_sent_metric_points_total', { exporter: 'console' })).toBe(4);
  });

  it('detailed: adds sample types and totals of decoded profiles, runtime metrics and every attribute', async () => {
    const { exporter, stream } = setup({ verbosity: 'detailed' });
    await exporter.consume({ bundles: [withDecodedCpu(ddtraceBundle())], metrics: goMetrics().slice(0, 1) });
    const lines = stream.lines;
    expect(lines[0]).toMatch(/^ddtrace {2}go-demo\/dev {2}2026-11-24T22:40:00Z \+60s {2}cpu 39\.9KiB/);
    expect(lines[1]).toBe('    cpu           cpu.pprof          39.9KiB  samples/count 607, cpu/nanoseconds 6,070,000,000  (412 samples)');
    expect(lines[2]).toBe('    heap          delta-heap.pprof   15.3KiB  (not decoded)');
    expect(lines).toContain('    resource                                  service=go-demo env=dev version=1.4.2 language=golang host=web-1');
    expect(lines).toContain('    tags                                      team=payments');
    expect(lines.find((l) => l.startsWith('    metrics.json'))).toContain('go_num_goroutine=26');
    expect(lines.at(-2)).toBe('metrics  1 point at 2026-11-24T22:41:00Z');
    expect(lines.at(-1)).toBe('    prof_go_cpu_cores  0.101167  {cpu}  gauge  from 2026-11-24T22:40:00Z  service=go-demo env=dev version=1.4.2');
  });

  it('detailed: says of a sum whether it is monotonic and cumulative or delta', async () => {
    const { exporter, stream } = setup({ verbosity: 'detailed' });
    const [, allocated] = goMetrics();
    await exporter.consume({
      bundles: [],
      metrics: [
        { ...allocated!, name: 'go.memory.allocated', temporality: 'delta' },
        { ...allocated!, name: 'go.memory.allocated', temporality: 'cumulative' },
        { ...allocated!, name: 'go.goroutine.count', unit: '{goroutine}', monotonic: false, value: 26 },
      ],
    });
    const kinds = stream.lines.slice(1).map((line) => line.trim().split(/ {2,}/)[3]);
    expect(kinds).toEqual(['sum/monotonic/delta', 'sum/monotonic/cumulative', 'sum/cumulative']);
  });

  it('after pprof_decode with keep_raw: false, shows the size of the decompressed protobuf instead of 0B, and "no data" when there is neither', async () => {
    const bundle = withDecodedCpu(ddtraceBundle());
    const cpu = bundle.profiles[0]!;
    cpu.decoded = { ...cpu.decoded!, pprof: new Uint8Array(120 * 1024) };
    cpu.data = new Uint8Array(0); // what pprof_decode leaves with keep_raw: false
    bundle.profiles = [cpu, { type: 'heap', name: 'delta-heap.pprof', data: new Uint8Array(0), delta: true }];
    const basic = setup();
    await basic.exporter.consume({ bundles: [bundle], metrics: [] });
    expect(basic.stream.lines[0]).toMatch(/ {2}cpu 120KiB decompressed, heap no data \(delta\), metrics\.json 8 values$/);
    const detailed = setup({ verbosity: 'detailed' });
    await detailed.exporter.consume({ bundles: [bundle], metrics: [] });
    expect(detailed.stream.lines[1]).toMatch(/^ {4}cpu +cpu\.pprof +120KiB decompressed {2}samples\/count 607/);
    expect(detailed.stream.lines[2]).toMatch(/^ {4}heap +delta-heap\.pprof +no data {2}\(not decoded\)$/);
    expect(detailed.stream.text).not.toContain(' 0B');
  });

  it('shows control characters from the network escaped, never raw', async () => {
    const { exporter, stream } = setup();
    const bundle = ddtraceBundle();
    bundle.resource['service'] = 'evil\u001b[2J\nservice';
    await exporter.consume({ bundles: [bundle], metrics: [] });
    expect(stream.lines).toHaveLength(1);
    expect(stream.text).not.toContain('\u001b');
    expect(stream.lines[0]).toContain('evil\\x1b[2J\\x0aservice/dev');
  });

  it('prints nothing for an empty batch', async () => {
    const { exporter, stream } = setup();
    await exporter.consume({ bundles: [], metrics: [] });
    expect(stream.text).toBe('');
  });

  it('counts a console it cannot write to, and still accepts the batch', async () => {
    const settings = createTestSettings({ id: 'console', kind: 'exporter' });
    const broken = new Writable({ write: (_chunk, _encoding, callback) => callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
    broken.on('error', () => {});
    const exporter = createConsoleExporter(settings, { verbosity: 'basic', output: 'stdout' }, { stream: broken });
    await expect(exporter.consume({ bundles: [ddtraceBundle()], metrics: goMetrics() })).resolves.toBeUndefined();
    expect(settings.registry.value('profcol_exporter_send_failed_bundles_total', { exporter: 'console', reason: 'EPIPE' })).toBe(1);
    expect(settings.registry.value('profcol_exporter_send_failed_metric_points_total', { exporter: 'console', reason: 'EPIPE' })).toBe(4);
  });

  it('shuts down without being started, lets go of its stream, and a second shutdown changes nothing', async () => {
    const stream = new Collect();
    const listenersBefore = stream.listenerCount('error');
    const exporter = createConsoleExporter(createTestSettings({ id: 'console', kind: 'exporter' }), { verbosity: 'basic', output: 'stdout' }, { stream });
    expect(stream.listenerCount('error')).toBe(listenersBefore + 1);
    await exporter.shutdown?.();
    expect(stream.listenerCount('error')).toBe(listenersBefore);
    // Someone else's listener, added after the first shutdown, survives the second one.
    const other = (): void => {};
    stream.on('error', other);
    await exporter.shutdown?.();
    expect(stream.listenerCount('error')).toBe(listenersBefore + 1);
    expect(stream.listeners('error')).toContain(other);

    const stderrListeners = process.stderr.listenerCount('error');
    const fromFactory = consoleExporter.create(createTestSettings({ id: 'console/2', kind: 'exporter' }), { verbosity: 'basic', output: 'stderr' });
    expect(process.stderr.listenerCount('error')).toBe(stderrListeners + 1);
    await fromFactory.shutdown?.();
    await fromFactory.shutdown?.();
    expect(process.stderr.listenerCount('error')).toBe(stderrListeners);
  });

  it('prints every value of the table in one number format, so a column lines up', async () => {
    const { exporter, stream } = setup();
    const [gauge] = goMetrics();
    await exporter.consume({
      bundles: [],
      metrics: [
        { ...gauge!, name: 'prof_go_heap_objects', unit: '{object}', value: 742_813 },
        { ...gauge!, name: 'prof_go_heap_alloc', unit: 'By', value: 75_572_312.5 },
        { ...gauge!, name: 'prof_go_gc_fraction', unit: '1', value: 1234.56789 },
      ],
    });
    expect(stream.lines.slice(1)).toEqual([
      '    prof_go_heap_objects     742,813  {object}  service=go-demo env=dev',
      '    prof_go_heap_alloc    75,572,313  By        service=go-demo env=dev',
      '    prof_go_gc_fraction     1,234.57            service=go-demo env=dev',
    ]);
  });
});
