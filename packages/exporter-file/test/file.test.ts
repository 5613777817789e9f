import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BackpressureError } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { decompressAndSummarize, sniffEncoding } from '@profcol/pprof';
import { afterAll, describe, expect, it } from 'vitest';
import plugin, { fileExporter, FileWriteError, sanitizeSegment } from '../src/index.js';
import {
  collectingLogger,
  ddtraceBundle,
  END,
  fixture,
  listFiles,
  points,
  readJsonLines,
  scrapeBundle,
  setup,
  START,
  removeTempDirs,
  tempDir,
  zstdRawFrame,
  zstdRleFrame,
} from './helpers.js';

afterAll(removeTempDirs);

describe('file exporter: configuration', () => {
  it('is a plugin whose schema documents every option with its default', () => {
    expect(plugin.name).toBe('@profcol/exporter-file');
    expect(plugin.components).toContain(fileExporter);
    expect(fileExporter.type).toBe('file');
    expect(fileExporter.config.parse({})).toEqual({
      ok: true,
      value: {
        directory: './data',
        format: 'pprof',
        write_profiles: true,
        decompress: false,
        write_bundles: true,
        write_metrics: true,
        max_file_size: 64 * 1024 * 1024,
        max_bytes: 10 * 1024 ** 3,
        max_files: 0,
        // The exporter helper: off by default, so consume() resolves once the batch is on disk.
        timeout: 30_000,
        retry_on_failure: {
          enabled: false,
          initial_interval: 5_000,
          max_interval: 30_000,
          max_elapsed_time: 300_000,
          multiplier: 1.5,
          randomization_factor: 0.5,
        },
        sending_queue: { enabled: false, num_consumers: 4, queue_size: 1000 },
        drain_timeout: 10_000,
      },
    });
  });

  it('uses the own-metric names every profcol exporter shares, and lists each in the README', async () => {
    const { settings } = setup(await tempDir());
    const names = [...settings.registry.renderPrometheus().matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!);
    expect(names.filter((n) => /^profcol_exporter_(sent|send_failed)_(bundles|metric_points)/.test(n)).sort()).toEqual([
      'profcol_exporter_send_failed_bundles_total',
      'profcol_exporter_send_failed_metric_points_total',
      'profcol_exporter_sent_bundles_total',
      'profcol_exporter_sent_metric_points_total',
    ]);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of names) expect(readme).toContain(`| \`${name}\``);
  });

  it('rejects a typo, an unknown format and a rotation size below 1KiB, all at once', () => {
    const result = fileExporter.config.parse({ dirctory: '/x', format: 'json', max_file_size: '10' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => `${i.path.join('::')}: ${i.message}`)).toEqual([
      'dirctory: unknown key "dirctory" (did you mean "directory"?)',
      'format: "json" is not one of "pprof"',
      'max_file_size: 10 bytes is below the minimum of 1KiB',
    ]);
  });

  it('resolves a relative directory against the working directory (settings.baseDir), like the OTel Collector', async () => {
    const baseDir = await tempDir();
    const settings = createTestSettings({ id: 'file', kind: 'exporter', baseDir });
    const parsed = fileExporter.config.parse({ directory: 'out' });
    if (!parsed.ok) throw new Error('config');
    const exporter = fileExporter.create(settings, parsed.value);
    await exporter.start?.(settings.host);
    await exporter.consume({ bundles: [], metrics: points(1) });
    expect(existsSync(path.join(baseDir, 'out', 'metrics.jsonl'))).toBe(true);
    expect(await readdir(baseDir)).toEqual(['out']);
    await exporter.shutdown?.();
  });
});

describe('file exporter: profiles', () => {
  it('writes each profile as received under <service>/<date>/<HHMMSS.fff>-<source>-<type>.pprof, creating the folders', async () => {
    const dir = path.join(await tempDir(), 'not', 'yet', 'there');
    const { exporter, settings } = setup(dir);
    await exporter.start?.(settings.host);
    await exporter.consume({ bundles: [ddtraceBundle()], metrics: [] });
    expect(await listFiles(dir)).toEqual([
      'bundles.jsonl',
      'go-demo/2026-11-24/224000.000-ddtrace-block.pprof',
      'go-demo/2026-11-24/224000.000-ddtrace-cpu.pprof',
      'go-demo/2026-11-24/224000.000-ddtrace-goroutine.pprof',
      'go-demo/2026-11-24/224000.000-ddtrace-heap.pprof',
      'go-demo/2026-11-24/224000.000-ddtrace-mutex.pprof',
    ]);
    expect(new Uint8Array(readFileSync(path.join(dir, 'go-demo/2026-11-24/224000.000-ddtrace-cpu.pprof')))).toEqual(fixture('ddtrace-go/cpu.pprof'));
    expect(settings.registry.value('profcol_exporter_file_written_files_total', { exporter: 'file' })).toBe(5);
    expect(settings.registry.value('profcol_exporter_file_written_bytes_total', { exporter: 'file', file: 'pprof' })).toBe(40893 + 15661 + 6540 + 733 + 9299);
    expect(settings.registry.value('profcol_exporter_sent_bundles_total', { exporter: 'file' })).toBe(1);
  });

  it('records each bundle in bundles.jsonl: source, resource, tags, window, runtime metrics and the path of each profile', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir);
    await exporter.consume({ bundles: [ddtraceBundle()], metrics: [] });
    const [line] = readJsonLines(path.join(dir, 'bundles.jsonl'));
    expect(line).toMatchObject({
      source: 'ddtrace',
      resource: { service: 'go-demo', env: 'dev', version: '1.4.2', language: 'golang' },
      tags: { team: 'payments' },
      window: { start: '2026-11-24T22:40:00.000000000Z', end: '2026-11-24T22:41:00.000000000Z', startNanos: START.toString(), endNanos: END.toString() },
      runtimeMetrics: { go_num_goroutine: 26 },
    });
    expect((line!['profiles'] as unknown[])[1]).toEqual({
      type: 'heap',
      name: 'delta-heap.pprof',
      bytes: 15661,
      encoding: 'none',
      delta: true,
      path: 'go-demo/2026-11-24/224000.000-ddtrace-heap.pprof',
      writtenBytes: 15661,
      decompressed: false,
    });
  });

  it('never overwrites: two bundles of the same millisecond, and a file already there, get a suffix unique to the run', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir);
    const folder = path.join(dir, 'go-demo', '2026-11-24');
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, '224000.000-ddtrace-cpu.pprof'), 'mine, keep me');
    const one = ddtraceBundle({ profiles: ddtraceBundle().profiles.slice(0, 1) });
    await Promise.all([exporter.consume({ bundles: [one], metrics: [] }), exporter.consume({ bundles: [one, one], metrics: [] })]);
    const names = (await readdir(folder)).sort();
    expect(names).toHaveLength(4);
    expect(names.filter((n) => n !== '224000.000-ddtrace-cpu.pprof').every((n) => /^224000\.000-ddtrace-cpu-[0-9a-z]+-[123]\.pprof$/.test(n))).toBe(true);
    expect(await readFile(path.join(folder, '224000.000-ddtrace-cpu.pprof'), 'utf8')).toBe('mine, keep me');
    const written = readJsonLines(path.join(dir, 'bundles.jsonl')).map((b) => (b['profiles'] as { path: string }[])[0]!.path);
    expect(written.sort()).toEqual(names.filter((n) => n !== '224000.000-ddtrace-cpu.pprof').map((n) => `go-demo/2026-11-24/${n}`));
  });

  it('writes 20,000 profiles of the same name, each to a new file (names need no probing, so the 10,001st works too)', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir, { write_bundles: false, write_metrics: false, max_bytes: 0 });
    const tiny = ddtraceBundle({ profiles: [{ type: 'cpu', name: 'cpu.pprof', data: new Uint8Array([0x0a, 0x00]) }] });
    for (let round = 0; round < 200; round++) await exporter.consume({ bundles: Array.from({ length: 100 }, () => tiny), metrics: [] });
    const names = await readdir(path.join(dir, 'go-demo', '2026-11-24'));
    expect(names).toHaveLength(20_000);
    expect(new Set(names).size).toBe(20_000);
  }, 120_000);

  it('keeps a hostile service name inside the directory: no "..", slashes or control characters', async () => {
    const parent = await tempDir();
    const dir = path.join(parent, 'a', 'b', 'data');
    const { exporter } = setup(dir);
    const hostile = ['../../etc', '/etc/passwd', '..', 'evil\nname\u001b[2J', 'metrics.jsonl', ''];
    await exporter.consume({
      bundles: hostile.map((service) =>
        ddtraceBundle({
          resource: { service },
          source: 'pprof/../x',
          profiles: [{ type: '../type', name: 'p', data: fixture('ddtrace-go/delta-mutex.pprof') }],
        }),
      ),
      metrics: [],
    });
    expect(await listFiles(dir)).toEqual([
      '__/2026-11-24/224000.000-pprof_.._x-___type.pprof',
      '___.._etc/2026-11-24/224000.000-pprof_.._x-___type.pprof',
      '_etc_passwd/2026-11-24/224000.000-pprof_.._x-___type.pprof',
      'bundles.jsonl',
      'evil_name__2J/2026-11-24/224000.000-pprof_.._x-___type.pprof',
      'metrics.jsonl_/2026-11-24/224000.000-pprof_.._x-___type.pprof',
      'unknown_service/2026-11-24/224000.000-pprof_.._x-___type.pprof',
    ]);
    expect(existsSync(path.join(parent, 'etc'))).toBe(false);
    expect(existsSync(path.join(parent, 'a', 'etc'))).toBe(false);
    expect(sanitizeSegment('ok-name_1.2', 'x')).toBe('ok-name_1.2');
  });

  it('writes decompressed protobuf when decompress is true', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir, { decompress: true });
    await exporter.consume({ bundles: [scrapeBundle()], metrics: [] });
    const written = new Uint8Array(readFileSync(path.join(dir, 'payments/2026-11-24/224000.000-pprof_payments-heap.pprof')));
    expect(written).toEqual(new Uint8Array(gunzipSync(fixture('go-pprof/heap.pprof'))));
    const [line] = readJsonLines(path.join(dir, 'bundles.jsonl'));
    expect((line!['profiles'] as unknown[])[1]).toMatchObject({ type: 'heap', encoding: 'gzip', decompressed: true, writtenBytes: written.byteLength });
  });

  it('reuses what pprof_decode already decompressed instead of decompressing again', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir, { decompress: true });
    const bundle = scrapeBundle();
    const cpu = bundle.profiles[0]!;
    const shared = new Uint8Array(gunzipSync(cpu.data));
    cpu.decoded = { pprof: shared, sampleTypes: [], totals: [], sampleCount: 0, timeNanos: START, durationNanos: 0n, periodType: undefined, period: 0 };
    cpu.data = new Uint8Array([0x1f, 0x8b, 0xde, 0xad]); // would fail to gunzip if it were decompressed again
    await exporter.consume({ bundles: [{ ...bundle, profiles: [cpu] }], metrics: [] });
    expect(new Uint8Array(readFileSync(path.join(dir, 'payments/2026-11-24/224000.000-pprof_payments-cpu.pprof')))).toEqual(shared);
  });

  it('recompresses a zstd profile as gzip (go tool pprof reads only gzip and raw protobuf), not decompressed', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir);
    const raw = fixture('ddtrace-go/cpu.pprof');
    await exporter.consume({ bundles: [ddtraceBundle({ profiles: [{ type: 'cpu', name: 'cpu.pprof', data: zstdRawFrame(raw) }] })], metrics: [] });
    const written = readFileSync(path.join(dir, 'go-demo/2026-11-24/224000.000-ddtrace-cpu.pprof'));
    expect(sniffEncoding(written)).toBe('gzip');
    expect(new Uint8Array(gunzipSync(written))).toEqual(raw);
    const [line] = readJsonLines(path.join(dir, 'bundles.jsonl'));
    expect((line!['profiles'] as Record<string, unknown>[])[0]).toMatchObject({
      encoding: 'zstd',
      decompressed: false,
      recompressed: 'gzip',
      writtenBytes: written.length,
    });
  });

  it('writes a small zstd upload that inflates to 8 MiB as a small file, not 8 MiB', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir);
    const bomb = zstdRleFrame(0, 8 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(1024);
    await exporter.consume({ bundles: [ddtraceBundle({ profiles: [{ type: 'cpu', name: 'cpu.pprof', data: bomb }] })], metrics: [] });
    const written = readFileSync(path.join(dir, 'go-demo/2026-11-24/224000.000-ddtrace-cpu.pprof'));
    expect(written.length).toBeLessThan(64 * 1024);
    expect(gunzipSync(written).length).toBe(8 * 1024 * 1024);
  });

  it('refuses writes past max_bytes (counting what the directory held at start), counted and logged, and deletes nothing', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'left-by-an-earlier-run.bin'), new Uint8Array(600 * 1024));
    const log = collectingLogger();
    const { exporter, settings } = setup(dir, { max_bytes: '1MiB' }, log.logger);
    await exporter.start!(settings.host);
    const bundle = ddtraceBundle();
    let refusal: unknown;
    for (let i = 0; i < 50 && !refusal; i++) await exporter.consume({ bundles: [bundle], metrics: points(3) }).catch((e: unknown) => (refusal = e));
    expect(refusal).toBeInstanceOf(FileWriteError);
    expect(refusal).toMatchObject({ errno: 'MAX_BYTES' });
    expect((refusal as Error).message).toMatch(/max_bytes 1048576 reached/);
    const files = await listFiles(dir);
    const total = files.reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    expect(total).toBeLessThanOrEqual(1024 * 1024);
    expect(files).toContain('left-by-an-earlier-run.bin');
    expect(settings.registry.value('profcol_exporter_file_quota_refusals_total')).toBeGreaterThanOrEqual(1);
    expect(settings.registry.value('profcol_exporter_file_write_errors_total', { reason: 'MAX_BYTES' })).toBeGreaterThanOrEqual(1);
    expect(log.lines().some((l) => String(l['msg']).includes('MAX_BYTES'))).toBe(true);
  });

  it('writes a profile it cannot decompress as received, and counts it', async () => {
    const dir = await tempDir();
    const { exporter, settings } = setup(dir, { decompress: true });
    const corrupt = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02]);
    await exporter.consume({ bundles: [ddtraceBundle({ profiles: [{ type: 'cpu', name: 'cpu.pprof', data: corrupt }] })], metrics: [] });
    expect(new Uint8Array(readFileSync(path.join(dir, 'go-demo/2026-11-24/224000.000-ddtrace-cpu.pprof')))).toEqual(corrupt);
    expect(settings.registry.value('profcol_exporter_file_decompress_failures_total', { exporter: 'file' })).toBe(1);
    const [line] = readJsonLines(path.join(dir, 'bundles.jsonl'));
    expect((line!['profiles'] as unknown[])[0]).toMatchObject({ decompressed: false, decompressError: 'decompress' });
  });

  it('writes the decompressed protobuf of pprof_decode when it dropped the bytes as received (keep_raw: false), never a 0-byte file', async () => {
    const dir = await tempDir();
    const { exporter, settings } = setup(dir);
    const bundle = scrapeBundle();
    // What pprof_decode with keep_raw: false hands on: the decoded form, and an empty data array.
    const profiles = bundle.profiles.slice(0, 2).map((profile) => ({ ...profile, decoded: decompressAndSummarize(profile.data), data: new Uint8Array(0) }));
    await exporter.consume({ bundles: [{ ...bundle, profiles }], metrics: [] });
    const cpu = new Uint8Array(readFileSync(path.join(dir, 'payments/2026-11-24/224000.000-pprof_payments-cpu.pprof')));
    expect(cpu.byteLength).toBeGreaterThan(0);
    expect(cpu).toEqual(new Uint8Array(gunzipSync(fixture('go-pprof/profile.pprof'))));
    const [line] = readJsonLines(path.join(dir, 'bundles.jsonl'));
    expect((line!['profiles'] as unknown[])[1]).toMatchObject({
      type: 'heap',
      bytes: 0,
      encoding: 'none',
      decompressed: true,
      writtenBytes: profiles[1]!.decoded.pprof.byteLength,
    });
    expect(settings.registry.value('profcol_exporter_file_written_files_total', { exporter: 'file' })).toBe(2);
    expect(settings.registry.value('profcol_exporter_file_written_bytes_total', { exporter: 'file', file: 'pprof' })).toBe(
      profiles[0]!.decoded.pprof.byteLength + profiles[1]!.decoded.pprof.byteLength,
    );
  });

  it('skips a profile with neither bytes nor a decoded form: no file, counted and logged with a reason', async () => {
    const dir = await tempDir();
    const log = collectingLogger();
    const { exporter, settings } = setup(dir, {}, log.logger);
    const raw = fixture('ddtrace-go/cpu.pprof');
    await exporter.consume({
      bundles: [
        ddtraceBundle({
          profiles: [
            { type: 'cpu', name: 'cpu.pprof', data: raw },
            { type: 'heap', name: 'delta-heap.pprof', data: new Uint8Array(0) },
          ],
        }),
      ],
      metrics: [],
    });
    expect(await listFiles(dir)).toEqual(['bundles.jsonl', 'go-demo/2026-11-24/224000.000-ddtrace-cpu.pprof']);
    const [line] = readJsonLines(path.join(dir, 'bundles.jsonl'));
    const heap = (line!['profiles'] as Record<string, unknown>[])[1]!;
    expect(heap).toMatchObject({ type: 'heap', bytes: 0, skipped: 'empty' });
    expect(heap['path']).toBeUndefined();
    expect(settings.registry.value('profcol_exporter_file_skipped_profiles_total', { exporter: 'file', reason: 'empty' })).toBe(1);
    expect(settings.registry.value('profcol_exporter_file_written_files_total', { exporter: 'file' })).toBe(1);
    expect(settings.registry.value('profcol_exporter_file_write_errors_total', { exporter: 'file' })).toBe(0);
    expect(settings.registry.value('profcol_exporter_sent_bundles_total', { exporter: 'file' })).toBe(1);
    expect(log.lines().some((l) => l['reason'] === 'empty' && l['profile'] === 'delta-heap.pprof')).toBe(true);
  });

  it('writes only what it is asked to', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir, { write_profiles: false, write_metrics: false });
    await exporter.consume({ bundles: [ddtraceBundle()], metrics: points(3) });
    expect(await listFiles(dir)).toEqual(['bundles.jsonl']);
    const [line] = readJsonLines(path.join(dir, 'bundles.jsonl'));
    expect((line!['profiles'] as { path?: string }[]).every((p) => p.path === undefined)).toBe(true);
  });
});

describe('file exporter: metrics.jsonl', () => {
  it('writes one JSON object per metric point, with RFC 3339 nanosecond times and nanoseconds as strings', async () => {
    const dir = await tempDir();
    const { exporter, settings } = setup(dir);
    const point = {
      ...points(1)[0]!,
      name: 'prof_go_alloc_bytes_total',
      unit: 'By',
      kind: 'sum' as const,
      monotonic: true,
      value: 13_966_184,
      timeNanos: END + 123n,
      attributes: { a: 'b' },
    };
    await exporter.consume({ bundles: [], metrics: [point] });
    expect(readJsonLines(path.join(dir, 'metrics.jsonl'))).toEqual([
      {
        name: 'prof_go_alloc_bytes_total',
        unit: 'By',
        kind: 'sum',
        monotonic: true,
        temporality: 'cumulative',
        value: 13966184,
        time: '2026-11-24T22:41:00.000000123Z',
        timeNanos: '1795560060000000123',
        start: '2026-11-24T22:40:00.000000000Z',
        startTimeNanos: '1795560000000000000',
        attributes: { a: 'b' },
        resource: { service: 'go-demo', env: 'dev' },
      },
    ]);
    expect(settings.registry.value('profcol_exporter_sent_metric_points_total', { exporter: 'file' })).toBe(1);
  });

  it('says whether a sum is cumulative (the total since the series start) or delta (added in its window)', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir);
    const base = { ...points(1)[0]!, unit: 'By', kind: 'sum' as const, monotonic: true };
    await exporter.consume({
      bundles: [],
      metrics: [
        { ...base, name: 'go.memory.allocated', temporality: 'delta' as const, value: 4096 },
        { ...base, name: 'go.memory.allocated', temporality: 'cumulative' as const, value: 65536 },
        { ...points(1)[0]!, name: 'prof_go_lifetime_heap_bytes', unit: 'By', kind: 'gauge' as const, value: 1 },
      ],
    });
    const lines = readJsonLines(path.join(dir, 'metrics.jsonl')) as Record<string, unknown>[];
    expect(lines.map((line) => [line['name'], line['kind'], line['temporality'], line['value']])).toEqual([
      ['go.memory.allocated', 'sum', 'delta', 4096],
      ['go.memory.allocated', 'sum', 'cumulative', 65536],
      ['prof_go_lifetime_heap_bytes', 'gauge', undefined, 1],
    ]);
  });

  it('rotates metrics.jsonl by size to metrics-<time>.jsonl without losing a line, and keeps max_files', async () => {
    const dir = await tempDir();
    const { exporter, settings } = setup(dir, { max_file_size: '1KiB' });
    for (let batch = 0; batch < 12; batch++) await exporter.consume({ bundles: [], metrics: points(2, `svc-${batch}`) });
    const files = (await listFiles(dir)).filter((f) => f.startsWith('metrics'));
    const rotated = files.filter((f) => f !== 'metrics.jsonl');
    expect(rotated.length).toBeGreaterThanOrEqual(3);
    for (const name of rotated) expect(name).toMatch(/^metrics-\d{8}T\d{6}\.\d{3}Z(-\d+)?\.jsonl$/);
    for (const name of files) expect(statSync(path.join(dir, name)).size).toBeLessThanOrEqual(1024);
    const lines = files.flatMap((name) => readJsonLines(path.join(dir, name)));
    expect(lines).toHaveLength(24);
    expect(new Set(lines.map((l) => (l['resource'] as { service: string }).service)).size).toBe(12);
    expect(settings.registry.value('profcol_exporter_file_rotations_total', { exporter: 'file', file: 'metrics' })).toBe(rotated.length);

    const pruned = await tempDir();
    const limited = setup(pruned, { max_file_size: '1KiB', max_files: 2 });
    for (let batch = 0; batch < 12; batch++) await limited.exporter.consume({ bundles: [], metrics: points(2, `svc-${batch}`) });
    const kept = (await listFiles(pruned)).filter((f) => f.startsWith('metrics-'));
    expect(kept).toHaveLength(2);
    // The newest lines survive: the current file holds the last batch.
    expect(readJsonLines(path.join(pruned, 'metrics.jsonl')).at(-1)).toMatchObject({ resource: { service: 'svc-11' } });
  });

  it('appends to a metrics.jsonl left by an earlier run instead of replacing it', async () => {
    const dir = await tempDir();
    writeFileSync(path.join(dir, 'metrics.jsonl'), '{"earlier":true}\n');
    const { exporter } = setup(dir);
    await exporter.consume({ bundles: [], metrics: points(1) });
    expect(readJsonLines(path.join(dir, 'metrics.jsonl'))).toHaveLength(2);
  });
});

describe('file exporter: errors and lifecycle', () => {
  it('fails to start with a clear error when the directory is a file', async () => {
    const file = path.join(await tempDir(), 'data');
    writeFileSync(file, 'not a folder');
    const { exporter, settings } = setup(file);
    const error = await exporter.start!(settings.host).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FileWriteError);
    expect(error).toMatchObject({ kind: 'file_write', path: file, errno: 'EEXIST' });
    expect((error as Error).message).toBe(
      `exporters::file: cannot create folder ${file}: EEXIST (a file is in the way of a folder); "directory" must be a folder profcol can create and write to`,
    );
  });

  it('rejects a batch it cannot write, naming the path and errno, and counts it', async () => {
    const file = path.join(await tempDir(), 'data');
    writeFileSync(file, 'not a folder');
    const { exporter, settings } = setup(file);
    const error = await exporter.consume({ bundles: [ddtraceBundle()], metrics: points(3) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FileWriteError);
    expect(error).toMatchObject({ path: path.join(file, 'go-demo', '2026-11-24'), errno: 'ENOTDIR' });
    expect((error as Error).message).toContain(`cannot create folder ${path.join(file, 'go-demo', '2026-11-24')}: ENOTDIR`);
    expect(settings.registry.value('profcol_exporter_send_failed_bundles_total', { exporter: 'file' })).toBe(1);
    expect(settings.registry.value('profcol_exporter_send_failed_metric_points_total', { exporter: 'file' })).toBe(3);
    expect(settings.registry.value('profcol_exporter_file_write_errors_total', { exporter: 'file', reason: 'ENOTDIR' })).toBeGreaterThanOrEqual(1);
    expect(settings.registry.value('profcol_exporter_sent_bundles_total', { exporter: 'file' })).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('not a folder');
  });

  it('shuts down twice or without start, waits for writes in flight, then refuses new batches', async () => {
    const dir = await tempDir();
    const { exporter } = setup(dir);
    const writing = exporter.consume({ bundles: [ddtraceBundle()], metrics: points(2) });
    await exporter.shutdown?.();
    await exporter.shutdown?.();
    await writing;
    expect(readJsonLines(path.join(dir, 'metrics.jsonl'))).toHaveLength(2);
    await expect(exporter.consume({ bundles: [], metrics: points(1) })).rejects.toBeInstanceOf(BackpressureError);

    const unstarted = setup(await tempDir()).exporter;
    await unstarted.shutdown?.();
    await unstarted.shutdown?.();
  });
});
