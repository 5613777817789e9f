import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sniffEncoding } from '@profcol/pprof';
import { classifyAttachment, legacyTypeOf } from '../src/upload.js';
import { chunksOf, fixture, goUpload, gzip, jsAttachment, jsFixture, lz4, multipart, request, startReceiver, zstd, type Running } from './helpers.js';

const total = (bundle: { profiles: { name: string; decoded?: { sampleTypes: { type: string }[]; totals: number[] } }[] }, name: string, type: string) => {
  const profile = bundle.profiles.find((p) => p.name === name)!;
  return profile.decoded!.totals[profile.decoded!.sampleTypes.findIndex((t) => t.type === type)];
};

describe('ddtrace receiver: accepting real uploads', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startReceiver();
  });
  afterAll(() => r.stop());

  it('accepts the real dd-trace-js upload (event first, chunked, gzip) with 200 and an empty body', async () => {
    const { headers, body } = jsFixture();
    const response = await request(r.port, {
      headers: { 'content-type': headers['content-type']!, 'dd-evp-origin': 'dd-trace-js' },
      body: chunksOf(body, 4096),
      chunked: true,
    });
    expect(response.status).toBe(200);
    expect(response.text).toBe('');
    const bundle = r.consumer.bundles.at(-1)!;
    expect(bundle.source).toBe('ddtrace');
    expect(bundle.resource).toEqual({
      service: 'feas-demo',
      env: 'test',
      version: '0.0.1',
      language: 'nodejs',
      runtime: 'nodejs',
      runtime_version: 'v20.20.2',
      runtime_id: '55eb7b87-808f-4969-add2-e8d0e5c1afdf',
      profile_seq: '0',
      process_id: '27314',
    });
    expect(bundle.tags).toEqual({ runtime_arch: 'x64', runtime_os: 'linux', profiler_version: '6.21.0', format: 'pprof', snapshot: 'periodic' });
    expect(bundle.window).toEqual({ startNanos: 1795557365902000000n, endNanos: 1795557375939000000n });
    expect(bundle.profiles.map((p) => [p.type, p.name, p.delta])).toEqual([
      ['space', 'space.pprof', undefined],
      ['wall', 'wall.pprof', undefined],
    ]);
    for (const profile of bundle.profiles) {
      expect(sniffEncoding(profile.data)).toBe('gzip'); // the bytes as received
      expect(profile.decoded!.sampleCount).toBeGreaterThan(0);
    }
    expect(bundle.profiles[1]!.decoded!.sampleTypes.map((t) => `${t.type}/${t.unit}`)).toEqual(['sample/count', 'wall/nanoseconds', 'cpu/nanoseconds']);
    expect(bundle.attachments).toBeUndefined(); // events.pprof dropped (keep_attachments: false) and counted
    expect(r.count('profcol_receiver_dropped_attachments_total')).toBe(1);
    expect(r.count('profcol_receiver_accepted_uploads_total', { format: 'v4' })).toBeGreaterThanOrEqual(1);
  });

  it('accepts a dd-trace-go upload (event last, Content-Length, zstd everywhere including metrics.json)', async () => {
    const upload = goUpload();
    const response = await request(r.port, { headers: upload.headers, body: upload.body });
    expect(response.status).toBe(200);
    expect(response.text).toBe('');
    const bundle = r.consumer.bundles.at(-1)!;
    expect(bundle.resource).toEqual({
      service: 'my-svc',
      env: 'dev',
      version: '1.2.3',
      host: 'my-host',
      language: 'golang',
      runtime: 'go',
      runtime_version: '1.26.8',
      runtime_id: '5e4b3c1a-0000-4000-8000-000000000001',
      profile_seq: '7',
      process_id: '4242',
    });
    expect(bundle.tags).toEqual({
      team: 'profcol',
      'git.repository_url': 'https://github.com/example/app',
      profiler_version: 'v2.12.0',
      runtime_compiler: 'gc',
      runtime_arch: 'amd64',
      runtime_os: 'linux',
      '_dd.profiler.go_execution_trace_enabled': 'true',
      pgo: 'false',
    });
    // start is UTC, end is +02:00: one minute and one nanosecond apart.
    expect(bundle.window.endNanos - bundle.window.startNanos).toBe(60_000_000_001n);
    expect(bundle.window.startNanos).toBe(1787326800000123456n);
    expect(bundle.profiles.map((p) => [p.name, p.type, p.delta ?? false])).toEqual([
      ['delta-heap.pprof', 'heap', true],
      ['delta-block.pprof', 'block', true],
      ['delta-mutex.pprof', 'mutex', true],
      ['goroutines.pprof', 'goroutine', false],
      ['cpu.pprof', 'cpu', false],
    ]);
    for (const profile of bundle.profiles) expect(sniffEncoding(profile.data)).toBe('zstd');
    // The reference sums of the real upload (test/fixtures/README.md).
    expect(total(bundle, 'cpu.pprof', 'cpu')).toBe(6_070_000_000);
    expect(total(bundle, 'cpu.pprof', 'samples')).toBe(607);
    expect(total(bundle, 'delta-heap.pprof', 'inuse_space')).toBe(18_585_974);
    expect(total(bundle, 'delta-heap.pprof', 'alloc_space')).toBe(16_699_978);
    expect(total(bundle, 'delta-block.pprof', 'delay')).toBe(1_136_108_787_243);
    expect(total(bundle, 'delta-mutex.pprof', 'delay')).toBe(1_603_409);
    expect(total(bundle, 'goroutines.pprof', 'goroutine')).toBe(25);
    expect(bundle.runtimeMetrics).toEqual({
      go_alloc_bytes_per_sec: 232769.73333333334,
      go_allocs_per_sec: 388,
      go_frees_per_sec: 358.2,
      go_heap_growth_bytes_per_sec: 7393.066666666667,
      go_gcs_per_sec: 0.016666666666666666,
      go_gc_pause_time: 0.00000965346793130803,
      go_max_gc_pause_time: 581178,
      go_num_goroutine: 26,
    });
  });

  it('reads metrics.json and attachments raw, gzip, zstd or LZ4 frame (libdatadog tracers)', async () => {
    for (const codec of ['raw', 'gzip', 'zstd', 'lz4'] as const) {
      const compress = (_name: string, data: Buffer) => (codec === 'raw' ? data : codec === 'gzip' ? gzip(data) : codec === 'lz4' ? lz4(data) : zstd(data));
      const response = await request(r.port, { ...goUpload({ compress, event: { tags_profiler: `service:codec-${codec},runtime:go` } }) });
      expect(response.status, response.text).toBe(200);
      const bundle = r.consumer.bundles.at(-1)!;
      expect(bundle.resource.service).toBe(`codec-${codec}`);
      expect(bundle.runtimeMetrics?.go_num_goroutine).toBe(26);
      expect(total(bundle, 'cpu.pprof', 'cpu')).toBe(6_070_000_000);
    }
  });

  it('never takes the event\'s format version ("version":"4") as the application version', async () => {
    const upload = goUpload({ event: { tags_profiler: 'service:no-version,runtime:go,runtime-id:nv,profile_seq:0' } });
    expect((await request(r.port, upload)).status).toBe(200);
    const bundle = r.consumer.bundles.at(-1)!;
    expect(bundle.resource.version).toBeUndefined();
    expect(bundle.resource.language).toBe('golang');
  });

  it('keeps go.trace and events.pprof when keep_attachments is true, bytes as received', async () => {
    const keeper = await startReceiver({ keep_attachments: true });
    try {
      const trace = zstd(Buffer.from('go 1.26 trace\x00\x01\x02'.repeat(100), 'latin1'));
      const upload = goUpload({
        attachments: ['metrics.json', 'cpu.pprof'],
        extraParts: [{ name: 'go.trace', filename: 'go.trace', contentType: 'application/octet-stream', data: trace }],
        event: { attachments: ['metrics.json', 'cpu.pprof', 'go.trace'] },
      });
      expect((await request(keeper.port, upload)).status).toBe(200);
      expect(keeper.consumer.bundles[0]!.attachments).toEqual([{ name: 'go.trace', data: trace }]);
      const { headers, body } = jsFixture();
      expect((await request(keeper.port, { headers: { 'content-type': headers['content-type']! }, body })).status).toBe(200);
      expect(keeper.consumer.bundles[1]!.attachments!.map((a) => a.name)).toEqual(['events.pprof']);
      expect(keeper.count('profcol_receiver_dropped_attachments_total')).toBe(0);
    } finally {
      await keeper.stop();
    }
  });

  it('drops an opaque attachment without decompressing it when keep_attachments is false (nothing reads it), and checks it when kept', async () => {
    const corrupt = zstd(Buffer.from('go 1.26 trace'.repeat(100), 'latin1')).subarray(0, 20);
    const upload = goUpload({
      attachments: ['metrics.json', 'cpu.pprof'],
      extraParts: [{ name: 'go.trace', filename: 'go.trace', contentType: 'application/octet-stream', data: corrupt }],
      event: { attachments: ['metrics.json', 'cpu.pprof', 'go.trace'] },
    });
    const dropping = await startReceiver({ dedup_window: '0' });
    const keeper = await startReceiver({ dedup_window: '0', keep_attachments: true });
    try {
      expect((await request(dropping.port, upload)).status).toBe(200);
      expect(dropping.consumer.bundles[0]!.attachments).toBeUndefined();
      expect(dropping.count('profcol_receiver_dropped_attachments_total')).toBe(1);
      const response = await request(keeper.port, upload);
      expect([response.status, response.json.reason]).toEqual([400, 'bad_attachment']);
    } finally {
      await dropping.stop();
      await keeper.stop();
    }
  });

  it('takes the host from the receiver with host_tag: receiver', async () => {
    const other = await startReceiver({ host_tag: 'receiver' });
    try {
      expect((await request(other.port, goUpload())).status).toBe(200);
      expect(other.consumer.bundles[0]!.resource.host).not.toBe('my-host');
      expect(other.consumer.bundles[0]!.resource.host).toBe((await import('node:os')).hostname());
    } finally {
      await other.stop();
    }
  });

  it('accepts the legacy v3 format (version=3, data[<file>] parts)', async () => {
    const boundary = 'legacyv3boundary';
    const body = multipart(boundary, [
      { name: 'version', data: '3' },
      { name: 'family', data: 'go' },
      { name: 'start', data: '2021-05-01T10:00:00.5Z' },
      { name: 'end', data: '2021-05-01T10:01:00.5Z' },
      { name: 'tags[]', data: 'service:v3-svc' },
      { name: 'tags[]', data: 'env:staging' },
      { name: 'tags[]', data: 'runtime-id:r3' },
      { name: 'tags[]', data: 'profile_seq:4' },
      { name: 'tags[]', data: 'runtime:go' },
      { name: 'data[cpu.pprof]', filename: 'pprof-data', data: gzip(fixture('ddtrace-go/cpu.pprof')) },
      { name: 'data[delta-heap.pprof]', filename: 'pprof-data', data: gzip(fixture('ddtrace-go/delta-heap.pprof')) },
      { name: 'data[metrics.json]', filename: 'pprof-data', data: fixture('ddtrace-go/metrics.json') },
    ]);
    const response = await request(r.port, { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
    expect(response.status, response.text).toBe(200);
    const bundle = r.consumer.bundles.at(-1)!;
    expect(bundle.resource).toMatchObject({ service: 'v3-svc', env: 'staging', language: 'golang', runtime_id: 'r3', profile_seq: '4' });
    expect(bundle.profiles.map((p) => [p.name, p.type, p.delta ?? false])).toEqual([
      ['cpu.pprof', 'cpu', false],
      ['delta-heap.pprof', 'heap', true],
    ]);
    expect(bundle.runtimeMetrics?.go_num_goroutine).toBe(26);
    expect(bundle.window.endNanos - bundle.window.startNanos).toBe(60_000_000_000n);
    expect(r.count('profcol_receiver_accepted_uploads_total', { format: 'v3' })).toBe(1);
  });

  it('accepts the legacy v1 formats of dd-trace-go (types[i], data[i] pprof-data) and dd-trace-js (<type>.pb.gz)', async () => {
    const boundary = 'legacyv1boundary';
    const goBody = multipart(boundary, [
      { name: 'format', data: 'pprof' },
      { name: 'runtime', data: 'go' },
      { name: 'recording-start', data: '2020-03-01T10:00:00Z' },
      { name: 'recording-end', data: '2020-03-01T10:01:00Z' },
      { name: 'tags[]', data: 'host:old-host' },
      { name: 'tags[]', data: 'service:v1-go' },
      { name: 'tags[]', data: 'env:prod' },
      { name: 'types[0]', data: 'samples,cpu' },
      { name: 'data[0]', filename: 'pprof-data', contentType: 'application/octet-stream', data: gzip(fixture('ddtrace-go/cpu.pprof')) },
      { name: 'types[1]', data: 'alloc_objects,alloc_space,inuse_objects,inuse_space' },
      { name: 'data[1]', filename: 'pprof-data', contentType: 'application/octet-stream', data: gzip(fixture('ddtrace-go/delta-heap.pprof')) },
    ]);
    const go = await request(r.port, { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: goBody });
    expect(go.status, go.text).toBe(200);
    const goBundle = r.consumer.bundles.at(-1)!;
    expect(goBundle.resource).toEqual({ host: 'old-host', service: 'v1-go', env: 'prod', runtime: 'go', language: 'golang' });
    expect(goBundle.tags).toEqual({ format: 'pprof' });
    expect(goBundle.profiles.map((p) => [p.name, p.type])).toEqual([
      ['data[0]', 'cpu'],
      ['data[1]', 'heap'],
    ]);

    const wall = jsAttachment('wall.pprof'); // gzip, as dd-trace-js sent it
    const jsLegacy = multipart(boundary, [
      { name: 'recording-start', data: '2023-01-01T00:00:00.123Z' },
      { name: 'recording-end', data: '2023-01-01T00:01:00.123Z' },
      { name: 'language', data: 'javascript' },
      { name: 'runtime', data: 'nodejs' },
      { name: 'runtime_version', data: 'v18.1.0' },
      { name: 'profiler_version', data: '3.10.0' },
      { name: 'format', data: 'pprof' },
      { name: 'tags[]', data: 'service:v1-js' },
      { name: 'types[0]', data: 'wall' },
      { name: 'data[0]', filename: 'wall.pb.gz', data: wall },
    ]);
    const js = await request(r.port, { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: jsLegacy });
    expect(js.status, js.text).toBe(200);
    const jsBundle = r.consumer.bundles.at(-1)!;
    expect(jsBundle.resource).toEqual({ service: 'v1-js', runtime: 'nodejs', runtime_version: 'v18.1.0', language: 'nodejs' });
    expect(jsBundle.tags).toEqual({ profiler_version: '3.10.0', format: 'pprof' });
    expect(jsBundle.profiles.map((p) => [p.name, p.type])).toEqual([['wall.pb.gz', 'wall']]);
    expect(r.count('profcol_receiver_accepted_uploads_total', { format: 'v1' })).toBe(2);
  });

  it('types every attachment by its name', () => {
    const cases: Record<string, unknown> = {
      'cpu.pprof': { kind: 'profile', type: 'cpu', delta: false },
      'delta-heap.pprof': { kind: 'profile', type: 'heap', delta: true },
      'heap.pprof': { kind: 'profile', type: 'heap', delta: false },
      'delta-block.pprof': { kind: 'profile', type: 'block', delta: true },
      'block.pprof': { kind: 'profile', type: 'block', delta: false },
      'delta-mutex.pprof': { kind: 'profile', type: 'mutex', delta: true },
      'mutex.pprof': { kind: 'profile', type: 'mutex', delta: false },
      'goroutines.pprof': { kind: 'profile', type: 'goroutine', delta: false },
      'goroutineswait.pprof': { kind: 'profile', type: 'goroutineswait', delta: false },
      'goroutineleak.pprof': { kind: 'profile', type: 'goroutineleak', delta: false },
      'wall.pprof': { kind: 'profile', type: 'wall', delta: false },
      'space.pprof': { kind: 'profile', type: 'space', delta: false },
      'delta-allocs.pprof': { kind: 'profile', type: 'allocs', delta: true },
      'events.pprof': { kind: 'opaque', pprof: true },
      'metrics.json': { kind: 'metrics' },
      'go.trace': { kind: 'opaque', pprof: false },
    };
    for (const [name, expected] of Object.entries(cases)) expect(classifyAttachment(name), name).toEqual(expected);
    expect(legacyTypeOf('samples,cpu')).toBe('cpu');
    expect(legacyTypeOf('contentions,delay')).toBe('block');
    expect(legacyTypeOf('goroutines')).toBe('goroutine');
  });
});
