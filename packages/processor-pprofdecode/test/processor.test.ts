import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createServiceLimits, type Batch, type Profile, type ProfileBundle } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { summarizePprof } from '@profcol/pprof';
import { describe, expect, it } from 'vitest';
import plugin, { PprofDecodeProcessor, pprofDecodeConfigSchema, pprofDecodeProcessorFactory } from '../src/index.js';

const repo = new URL('../../../test/fixtures/', import.meta.url);
const bytes = (url: URL) => new Uint8Array(readFileSync(url));
const goPprof = (name: string) => bytes(new URL(`go-pprof/${name}.pprof`, repo));
const local = (name: string) => bytes(new URL(`./fixtures/${name}`, import.meta.url));

function profile(type: string, name: string, data: Uint8Array): Profile {
  return { type, name, data };
}

function bundle(profiles: Profile[]): ProfileBundle {
  return {
    source: 'pprof',
    resource: { service: 'go-demo', instance: 'http://localhost:6060' },
    tags: {},
    window: { startNanos: 1n, endNanos: 2n },
    profiles,
  };
}

function processor(config: Record<string, unknown> = {}, limits = createServiceLimits({ decodeWorkers: 1 })) {
  const settings = createTestSettings({ id: 'pprof_decode', kind: 'processor', pipeline: 'metrics/pull', limits });
  const parsed = pprofDecodeConfigSchema.parse(config);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return { processor: new PprofDecodeProcessor(settings, parsed.value), registry: settings.registry };
}

const run = (p: PprofDecodeProcessor, bundles: ProfileBundle[]): Promise<Batch> => Promise.resolve(p.process({ bundles, metrics: [] }));

describe('pprof_decode', () => {
  it('is a plugin with the pprof_decode processor; defaults keep the raw bytes and decode every type', async () => {
    expect(plugin.components).toEqual([pprofDecodeProcessorFactory]);
    expect(pprofDecodeProcessorFactory).toMatchObject({ kind: 'processor', type: 'pprof_decode' });
    expect(pprofDecodeConfigSchema.parse({})).toEqual({ ok: true, value: { keep_raw: true } });
  });

  it('decodes every profile of every bundle (gzip, zstd without content size, raw) and attaches the summary', async () => {
    const { processor: p, registry } = processor();
    const raw = summarizePprof(new Uint8Array(0)); // an empty but valid raw profile
    const out = await run(p, [
      bundle([profile('heap', '/debug/pprof/heap', goPprof('heap')), profile('goroutine', 'goroutines.pprof', local('goroutine.pprof.stream.zst'))]),
      bundle([profile('threadcreate', '/debug/pprof/threadcreate', goPprof('threadcreate')), profile('cpu', 'cpu.pprof', raw.pprof)]),
    ]);
    const [first, second] = out.bundles;
    expect(first!.profiles.map((x) => x.decoded!.totals)).toEqual([[14189, 52_705_542, 7837, 5_603_986], [16]]);
    expect(second!.profiles.map((x) => x.decoded!.sampleCount)).toEqual([2, 0]);
    expect(first!.profiles[0]!.data).toEqual(goPprof('heap')); // keep_raw: true
    expect(registry.value('profcol_processor_decoded_profiles_total')).toBe(4);
  });

  it('decodes once: a profile that already carries `decoded` is left alone', async () => {
    const { processor: p, registry } = processor();
    const decoded = summarizePprof(new Uint8Array(0));
    const already = { ...profile('heap', 'delta', new Uint8Array([1, 2, 3])), decoded };
    await run(p, [bundle([already])]);
    expect(already.decoded).toBe(decoded);
    expect(registry.value('profcol_processor_skipped_profiles_total', { reason: 'already_decoded' })).toBe(1);
  });

  it('a profile that fails to decode is removed from its bundle with a counted, logged reason; the rest goes on', async () => {
    const { processor: p, registry } = processor({}, createServiceLimits({ maxDecompressedBytes: 16 * 1024 * 1024, decodeWorkers: 1 }));
    const truncated = goPprof('goroutine').subarray(0, 300);
    const out = await run(p, [
      bundle([
        profile('goroutine', 'bad-gzip', truncated),
        profile('cpu', 'garbage', new TextEncoder().encode('<html>not a profile</html>')),
        profile('heap', 'bomb', local('bomb-64MiB-zeros.zst')),
        profile('mutex', '/debug/pprof/mutex', goPprof('mutex')),
      ]),
    ]);
    expect(out.bundles[0]!.profiles.map((x) => x.name)).toEqual(['/debug/pprof/mutex']);
    expect(registry.value('profcol_processor_decode_failed_profiles_total', { reason: 'decompress', type: 'goroutine' })).toBe(1);
    expect(registry.value('profcol_processor_decode_failed_profiles_total', { reason: 'pprof', type: 'cpu' })).toBe(1);
    expect(registry.value('profcol_processor_decode_failed_profiles_total', { reason: 'too_large', type: 'heap' })).toBe(1);
  });

  it('keeps a bundle whose profiles were all dropped (its MemStats or runtime metrics still count)', async () => {
    const { processor: p } = processor();
    const b = {
      ...bundle([profile('cpu', 'garbage', new Uint8Array([0x1f, 0x8b, 0]))]),
      memStats: { readAtNanos: 1n, values: { Alloc: 1 }, pauseNs: [], pauseEnd: [] },
    };
    const out = await run(p, [b]);
    expect(out.bundles).toHaveLength(1);
    expect(out.bundles[0]!.profiles).toEqual([]);
  });

  it('types: only the listed types are decoded, the others pass through undecoded', async () => {
    const { processor: p, registry } = processor({ types: ['cpu', 'Heap'] });
    const out = await run(p, [bundle([profile('heap', 'h', goPprof('heap')), profile('goroutine', 'g', goPprof('goroutine'))])]);
    expect(out.bundles[0]!.profiles.map((x) => [x.type, Boolean(x.decoded)])).toEqual([
      ['heap', true],
      ['goroutine', false],
    ]);
    expect(registry.value('profcol_processor_skipped_profiles_total', { reason: 'type_not_listed' })).toBe(1);
  });

  it('keep_raw: false empties data of every decoded profile; decoded.pprof is the decompressed protobuf; undecoded profiles keep data', async () => {
    const { processor: p } = processor({ keep_raw: false, types: ['heap', 'goroutine'] });
    const fromReceiver = summarizePprof(gunzipSync(goPprof('goroutine')));
    const out = await run(p, [
      bundle([
        profile('heap', 'h', goPprof('heap')),
        { ...profile('goroutine', '/debug/pprof/goroutine', goPprof('goroutine')), decoded: fromReceiver },
        profile('mutex', 'm', goPprof('mutex')),
      ]),
    ]);
    const [heap, goroutine, mutex] = out.bundles[0]!.profiles;
    // Decoded here: data is a zero-length array; decoded.pprof is the gunzipped protobuf, not the gzip as received.
    expect(heap!.data).toBeInstanceOf(Uint8Array);
    expect(heap!.data).toHaveLength(0);
    expect(heap!.decoded!.pprof).toEqual(new Uint8Array(gunzipSync(goPprof('heap'))));
    expect(summarizePprof(heap!.decoded!.pprof).totals[3]).toBe(5_603_986);
    // Already decoded by its receiver: data emptied too, decoded left as it was.
    expect(goroutine!.data).toHaveLength(0);
    expect(goroutine!.decoded).toBe(fromReceiver);
    // Not listed: passed on undecoded, with its bytes.
    expect(mutex!.decoded).toBeUndefined();
    expect(mutex!.data).toEqual(goPprof('mutex'));
  });

  it('says where max_decompressed_bytes went when a configuration still sets it', () => {
    const parsed = pprofDecodeConfigSchema.parse({ max_decompressed_bytes: '16MiB' });
    expect(!parsed.ok && parsed.issues[0]!.message).toMatch(/service::limits::max_decompressed_bytes/);
  });

  it('decodes on the decode workers under the memory budget, and refuses the batch (to be retried) when the budget has no room', async () => {
    const { processor: p } = processor({}, createServiceLimits({ memoryBytes: 1024 * 1024, decodeWorkers: 1 }));
    await expect(run(p, [bundle([profile('heap', 'bomb', local('bomb-64MiB-zeros.zst'))])])).rejects.toMatchObject({ kind: 'memory_budget' });
    await p.shutdown();
  });
});
