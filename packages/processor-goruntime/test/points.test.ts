import { describe, expect, it } from 'vitest';
import { cloneBatch, createServiceLimits, type ProfileBundle } from '@profcol/core';
import { summarizePprof } from '@profcol/pprof';
import { GO_METRICS, goruntimeProcessor, isGoBundle } from '../src/index.js';
import processorPlugin from '../src/index.js';
import { ddtraceGoBundle, fixture, makeProcessor, WINDOW_START } from './helpers.js';

describe('goruntime processor, points', () => {
  it('stamps every point with the window end, starts it at the window start, and marks it a gauge with a UCUM unit', async () => {
    const batch = await makeProcessor().run(ddtraceGoBundle());
    for (const point of batch.metrics) {
      expect(point.kind).toBe('gauge');
      expect(point.timeNanos).toBe(WINDOW_START + 60_000_000_000n);
      expect(point.startTimeNanos).toBe(WINDOW_START);
      expect(point.unit).toBe(GO_METRICS[point.name as keyof typeof GO_METRICS].unit);
      expect(point.description).toBeTruthy();
    }
    const unit = (name: string) => batch.metrics.find((p) => p.name === name)?.unit;
    expect(unit('prof_go_cpu_cores')).toBe('{cpu}');
    expect(unit('prof_go_gc_pause_time')).toBe('ns');
    expect(unit('prof_go_alloc_bytes_per_sec')).toBe('By/s');
    expect(unit('prof_go_num_goroutine')).toBe('{goroutine}');
    expect(unit('prof_go_lifetime_heap_objects')).toBe('{object}');
  });

  it('labels points with language, service, env, version, host and the upload tags, never runtime-id, profile_seq or process_id', async () => {
    const [point] = (await makeProcessor().run(ddtraceGoBundle())).metrics;
    expect(point!.attributes).toEqual({ language: 'golang', service: 'checkout', env: 'prod', version: '1.4.2', host: 'web-1', team: 'payments' });
    expect(point!.resource).toEqual({
      service: 'checkout',
      env: 'prod',
      version: '1.4.2',
      host: 'web-1',
      language: 'golang',
      runtime: 'go',
      runtime_version: 'go1.21.5',
    });
  });

  it('leaves out the tags a dd-trace profiler adds about itself, which would split series (go_execution_traced is on some uploads only)', async () => {
    const bundle = ddtraceGoBundle();
    Object.assign(bundle.tags, {
      profiler_version: 'v2.12.0',
      runtime_arch: 'amd64',
      runtime_os: 'linux',
      runtime_compiler: 'gc',
      pgo: 'false',
      go_execution_traced: 'yes',
      '_dd.profiler.go_execution_trace_enabled': 'true',
    });
    const [point] = (await makeProcessor().run(bundle)).metrics;
    expect(point!.attributes).toEqual({ language: 'golang', service: 'checkout', env: 'prod', version: '1.4.2', host: 'web-1', team: 'payments' });
    const [kept] = (await makeProcessor({ copy_profiler_tags: true }).run(bundle)).metrics;
    expect(kept!.attributes).toMatchObject({
      team: 'payments',
      profiler_version: 'v2.12.0',
      go_execution_traced: 'yes',
      '_dd.profiler.go_execution_trace_enabled': 'true',
    });
  });

  it('keeps the high-cardinality keys when include_high_cardinality is set', async () => {
    const [point] = (await makeProcessor({ include_high_cardinality: true }).run(ddtraceGoBundle())).metrics;
    expect(point!.attributes['runtime-id']).toBe('7f3a2b9c-1111-2222-3333-444455556666');
    expect(point!.attributes.profile_seq).toBe('12');
    expect(point!.resource.process_id).toBe('4242');
  });

  it('lays configured attributes over everything, and copy_tags: false leaves the bundle tags out', async () => {
    const [point] = (await makeProcessor({ copy_tags: false, attributes: { region: 'eu-west-1', env: 'production' } }).run(ddtraceGoBundle())).metrics;
    expect(point!.attributes).toEqual({ language: 'golang', service: 'checkout', env: 'production', version: '1.4.2', host: 'web-1', region: 'eu-west-1' });
  });

  it('lets a tag set before it (by a tags processor) win over the resource value, but not over language', async () => {
    const bundle = ddtraceGoBundle();
    bundle.tags = { env: 'canary', language: 'go' };
    const [point] = (await makeProcessor().run(bundle)).metrics;
    expect(point!.attributes.env).toBe('canary');
    expect(point!.attributes.language).toBe('golang');
  });

  it('emits only the metrics listed in `metrics`', async () => {
    const batch = await makeProcessor({ metrics: ['prof_go_cpu_cores', 'prof_go_num_goroutine'] }).run(ddtraceGoBundle());
    expect(batch.metrics.map((p) => [p.name, p.value])).toEqual([
      ['prof_go_cpu_cores', 0.10116666666666667],
      ['prof_go_num_goroutine', 26],
    ]);
  });

  it('rejects an unknown metric name in `metrics` with the accepted names', () => {
    const parsed = goruntimeProcessor.config.parse({ metrics: ['prof_go_cpu'] });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]!.message).toContain('is not one of prof_go_cpu_cores, prof_go_cpu_cores_gc_overhead');
  });

  it('keeps the bundles in the batch and adds its points to those already there', async () => {
    const bundle = ddtraceGoBundle();
    const existing = { name: 'other', unit: '1', kind: 'gauge' as const, value: 1, timeNanos: 1n, attributes: {}, resource: {} };
    const batch = await makeProcessor().processor.process({ bundles: [bundle], metrics: [existing] });
    expect(batch.bundles).toEqual([bundle]);
    expect(batch.metrics[0]).toBe(existing);
    expect(batch.metrics).toHaveLength(16);
  });
});

describe('goruntime processor, what it leaves alone', () => {
  it('passes a non-Go bundle through untouched and derives nothing', async () => {
    const node: ProfileBundle = { ...ddtraceGoBundle(), resource: { service: 'web', language: 'nodejs' } };
    const before = cloneBatch({ bundles: [node], metrics: [] });
    const p = makeProcessor();
    const batch = await p.run(node);
    expect(batch).toEqual(before);
    expect(batch.bundles[0]!.profiles.every((profile) => profile.decoded === undefined)).toBe(true);
    expect(p.settings.registry.value('profcol_processor_bundles_total', { outcome: 'not_go' })).toBe(1);
  });

  it('treats golang, and the aliases core resolves to it (go, GO), as Go; nothing else', () => {
    const withLanguage = (language?: string): ProfileBundle => ({ ...ddtraceGoBundle(), resource: language === undefined ? {} : { language } });
    expect(['golang', 'go', ' GO '].map((l) => isGoBundle(withLanguage(l)))).toEqual([true, true, true]);
    expect(['nodejs', 'gopher', 'unknown', ''].map((l) => isGoBundle(withLanguage(l)))).toEqual([false, false, false, false]);
    expect(isGoBundle(withLanguage())).toBe(false);
  });

  it('passes every batch through unchanged with generate_metrics: false', async () => {
    const bundle = ddtraceGoBundle();
    const batch = await makeProcessor({ generate_metrics: false }).run(bundle);
    expect(batch.metrics).toEqual([]);
    expect(bundle.profiles.every((profile) => profile.decoded === undefined)).toBe(true);
  });
});

describe('goruntime processor, decoding', () => {
  it('decodes a profile no pprof_decode processor decoded, and leaves the decoded form on it for later processors', async () => {
    const bundle = ddtraceGoBundle();
    await makeProcessor().run(bundle);
    const cpu = bundle.profiles.find((profile) => profile.type === 'cpu')!;
    expect(cpu.decoded?.totals).toEqual([607, 6_070_000_000]);
  });

  it('uses the decoded form it is given instead of decoding the bytes again', async () => {
    const bundle = ddtraceGoBundle({ metricsJson: false });
    for (const profile of bundle.profiles) {
      profile.decoded = summarizePprof(profile.data);
      profile.data = new Uint8Array([1, 2, 3]);
    }
    const values = await makeProcessor().values(bundle);
    expect(values.prof_go_cpu_cores).toBe(0.10116666666666667);
    expect(values.prof_go_num_goroutine).toBe(25);
  });

  it('reads gzip-compressed profiles as pulled from net/http/pprof', async () => {
    const bundle = ddtraceGoBundle({ metricsJson: false });
    bundle.profiles = [{ type: 'goroutine', name: '/debug/pprof/goroutine', data: fixture('go-pprof/goroutine.pprof') }];
    expect((await makeProcessor().values(bundle)).prof_go_num_goroutine).toBe(16);
  });

  it('counts and logs a profile it cannot decode, with the reason pprof_decode gives, and still emits what the others give', async () => {
    const bundle = ddtraceGoBundle();
    bundle.profiles.find((profile) => profile.type === 'cpu')!.data = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x01]);
    const p = makeProcessor();
    const values = await p.values(bundle);
    expect(values.prof_go_cpu_cores).toBeUndefined();
    expect(values.prof_go_cpu_cores_gc_overhead).toBeUndefined();
    expect(values.prof_go_num_goroutine).toBe(26);
    expect(p.settings.registry.value('profcol_processor_decode_failed_profiles_total', { type: 'cpu', reason: 'decompress' })).toBe(1);
    expect(p.omitted('prof_go_cpu_cores', 'no_cpu_profile')).toBe(1);
  });

  it('decodes up to service.limits.max_decompressed_bytes and omits what a larger profile feeds (too_large); the old option says where it went', async () => {
    const moved = goruntimeProcessor.config.parse({ max_decompressed_bytes: '1KiB' });
    expect(!moved.ok && moved.issues[0]!.message).toMatch(/service::limits::max_decompressed_bytes/);
    const bundle = ddtraceGoBundle();
    const p = makeProcessor({}, {}, createServiceLimits({ maxDecompressedBytes: 1024, decodeWorkers: 1 }));
    const values = await p.values(bundle);
    expect(values.prof_go_cpu_cores).toBeUndefined();
    expect(p.settings.registry.value('profcol_processor_decode_failed_profiles_total', { type: 'cpu', reason: 'too_large' })).toBe(1);
  });

  it('gives the points of one bundle one shared resource object (exporters map it once) and each point its own attributes', async () => {
    const bundle = ddtraceGoBundle();
    const { metrics } = await makeProcessor().run(bundle);
    expect(metrics.length).toBeGreaterThan(1);
    for (const point of metrics) expect(point.resource).toBe(metrics[0]!.resource);
    expect(metrics[0]!.resource).not.toBe(bundle.resource);
    expect(metrics[1]!.attributes).not.toBe(metrics[0]!.attributes);
  });
});

describe('goruntime plugin', () => {
  it('default-exports a plugin with the goruntime processor factory', () => {
    expect(processorPlugin.name).toBe('@profcol/processor-goruntime');
    expect(processorPlugin.components).toEqual([goruntimeProcessor]);
    expect(goruntimeProcessor.kind).toBe('processor');
    expect(goruntimeProcessor.type).toBe('goruntime');
  });
});
