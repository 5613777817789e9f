import { sniffEncoding } from '@profcol/pprof';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedUpload, chunksOf, request, startReceiver, type Running } from './helpers.js';

/** Sum of one sample type of one profile of the last bundle. */
function sum(r: Running, name: string, type: string): number | undefined {
  const profile = r.consumer.bundles.at(-1)!.profiles.find((p) => p.name === name)!;
  return profile.decoded!.totals[profile.decoded!.sampleTypes.findIndex((t) => t.type === type)];
}

/** The headers a client sent, minus those node:http sets itself. */
function clientHeaders(headers: Record<string, string>): Record<string, string> {
  const { host: _host, 'content-length': _length, 'transfer-encoding': _te, connection: _c, ...rest } = headers;
  return rest;
}

describe('ddtrace receiver: real captured dd-trace-go uploads', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startReceiver({ keep_attachments: true });
  });
  afterAll(() => r.stop());

  it('accepts the dd-trace-go v2.12.0 upload: zstd everywhere, metrics.json included, event last', async () => {
    const { headers, body } = capturedUpload('ddtrace-go-v2/upload');
    const response = await request(r.port, { headers: clientHeaders(headers), body: chunksOf(body, 16 * 1024) });
    expect([response.status, response.text]).toEqual([200, '']);
    const bundle = r.consumer.bundles.at(-1)!;
    expect(bundle.resource).toEqual({
      service: 'ddtrace-demo-v2',
      env: 'e2e',
      version: '1.2.3',
      host: 'vm',
      language: 'golang',
      runtime: 'go',
      runtime_version: '1.26.8',
      runtime_id: 'e82deb40-1c73-43e3-8ebe-104ecb57a7cd',
      profile_seq: '0',
      process_id: '20315',
    });
    expect(bundle.tags).toMatchObject({ team: 'profcol', demo: 'ddtrace-demo-v2', component: 'e2e', profiler_version: 'v2.12.0', go_execution_traced: 'yes' });
    expect(bundle.window).toEqual({ startNanos: 1795559705928174014n, endNanos: 1795559710948526853n });
    expect(bundle.profiles.map((p) => [p.name, p.type, sniffEncoding(p.data)]).sort()).toEqual([
      ['cpu.pprof', 'cpu', 'zstd'],
      ['delta-block.pprof', 'block', 'zstd'],
      ['delta-heap.pprof', 'heap', 'zstd'],
      ['delta-mutex.pprof', 'mutex', 'zstd'],
      ['goroutines.pprof', 'goroutine', 'zstd'],
    ]);
    expect(sum(r, 'cpu.pprof', 'cpu')).toBe(2_370_000_000);
    expect(sum(r, 'delta-heap.pprof', 'inuse_space')).toBe(34_614_356);
    expect(sum(r, 'delta-block.pprof', 'delay')).toBe(57_235_467_914);
    expect(sum(r, 'delta-mutex.pprof', 'delay')).toBe(17_332_974_101);
    expect(sum(r, 'goroutines.pprof', 'goroutine')).toBe(41);
    expect(bundle.runtimeMetrics?.go_num_goroutine).toBe(43);
    expect(bundle.attachments!.map((a) => [a.name, sniffEncoding(a.data), a.data.length])).toEqual([['go.trace', 'zstd', 58837]]);
  });

  it('accepts the dd-trace-go v1.73.1 upload: gzip pprofs, plain metrics.json and go.trace', async () => {
    const { headers, body } = capturedUpload('ddtrace-go-v1/upload');
    const response = await request(r.port, { headers: clientHeaders(headers), body });
    expect([response.status, response.text]).toEqual([200, '']);
    const bundle = r.consumer.bundles.at(-1)!;
    expect(bundle.resource).toMatchObject({
      service: 'ddtrace-demo-v1',
      env: 'e2e',
      version: '1.2.3',
      language: 'golang',
      runtime: 'go',
      profile_seq: '0',
      process_id: '20424',
    });
    expect(bundle.tags).toMatchObject({ team: 'profcol', demo: 'ddtrace-demo-v1', component: 'e2e', profiler_version: 'v1.73.1' });
    expect(bundle.profiles.every((p) => sniffEncoding(p.data) === 'gzip')).toBe(true);
    expect(bundle.profiles).toHaveLength(5);
    expect(sum(r, 'cpu.pprof', 'cpu')).toBe(2_510_000_000);
    expect(sum(r, 'delta-heap.pprof', 'inuse_space')).toBe(34_090_036);
    expect(sum(r, 'goroutines.pprof', 'goroutine')).toBe(38);
    expect(bundle.runtimeMetrics?.go_num_goroutine).toBe(42);
    expect(bundle.attachments!.map((a) => [a.name, sniffEncoding(a.data), a.data.length])).toEqual([['go.trace', 'none', 97776]]);
    expect(r.count('profcol_receiver_accepted_uploads_total', { format: 'v4' })).toBe(2);
  });
});
