import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger, type MetricPoint, type ProfileBundle } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { createFileExporter, fileExporter, type FileConfig } from '../src/index.js';

export const FIXTURES = new URL('../../../test/fixtures/', import.meta.url);

export function fixture(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(relative, FIXTURES)));
}

// 2026-11-24T22:40:00Z, the start of a 60 s dd-trace-go upload period.
export const START = 1_795_560_000_000_000_000n;
export const END = START + 60_000_000_000n;

/** The attachments of one real dd-trace-go upload (raw protobuf), as the ddtrace receiver hands them on. */
export function ddtraceBundle(overrides: Partial<ProfileBundle> = {}): ProfileBundle {
  const metrics = JSON.parse(readFileSync(new URL('ddtrace-go/metrics.json', FIXTURES), 'utf8')) as [string, number][];
  return {
    source: 'ddtrace',
    resource: { service: 'go-demo', env: 'dev', version: '1.4.2', language: 'golang' },
    tags: { team: 'payments' },
    window: { startNanos: START, endNanos: END },
    profiles: [
      { type: 'cpu', name: 'cpu.pprof', data: fixture('ddtrace-go/cpu.pprof') },
      { type: 'heap', name: 'delta-heap.pprof', data: fixture('ddtrace-go/delta-heap.pprof'), delta: true },
      { type: 'block', name: 'delta-block.pprof', data: fixture('ddtrace-go/delta-block.pprof'), delta: true },
      { type: 'mutex', name: 'delta-mutex.pprof', data: fixture('ddtrace-go/delta-mutex.pprof'), delta: true },
      { type: 'goroutine', name: 'goroutines.pprof', data: fixture('ddtrace-go/goroutines.pprof') },
    ],
    runtimeMetrics: Object.fromEntries(metrics),
    ...overrides,
  };
}

/** The profile type each `net/http/pprof` fixture stands for, and the sample type `go tool pprof -top` shows first. */
export const GO_PPROF_FIXTURES = [
  { file: 'profile.pprof', type: 'cpu', shows: 'cpu' },
  { file: 'heap.pprof', type: 'heap', shows: 'inuse_space' },
  { file: 'allocs.pprof', type: 'allocs', shows: 'alloc_space' },
  { file: 'goroutine.pprof', type: 'goroutine', shows: 'goroutine' },
  { file: 'mutex.pprof', type: 'mutex', shows: 'delay' },
  { file: 'block.pprof', type: 'block', shows: 'delay' },
  { file: 'threadcreate.pprof', type: 'threadcreate', shows: 'threadcreate' },
] as const;

export const DDTRACE_SHOWS: Record<string, string> = { cpu: 'cpu', heap: 'inuse_space', block: 'delay', mutex: 'delay', goroutine: 'goroutine' };

/** One scrape round of a `net/http/pprof` target: gzip bodies exactly as Go serves them. */
export function scrapeBundle(): ProfileBundle {
  return {
    source: 'pprof/payments',
    resource: { service: 'payments', env: 'prod', instance: 'http://localhost:6060' },
    tags: {},
    window: { startNanos: START, endNanos: START + 10_000_000_000n },
    profiles: GO_PPROF_FIXTURES.map(({ file, type }) => ({ type, name: `/debug/pprof/${file.replace('.pprof', '')}`, data: fixture(`go-pprof/${file}`) })),
  };
}

export function points(count: number, service = 'go-demo'): MetricPoint[] {
  return Array.from({ length: count }, (_, i) => ({
    name: 'prof_go_num_goroutine',
    unit: '{goroutine}',
    kind: 'gauge' as const,
    value: 26 + i,
    timeNanos: END + BigInt(i),
    startTimeNanos: START,
    attributes: {},
    resource: { service, env: 'dev' },
  }));
}

/** A valid zstd frame holding `content` in raw blocks (RFC 8878 §3.1.1), as a zstd encoder may emit for incompressible data. */
export function zstdRawFrame(content: Uint8Array): Uint8Array {
  const header = [0x28, 0xb5, 0x2f, 0xfd, 0xa0, ...new Uint8Array(new Uint32Array([content.length]).buffer)];
  const parts: number[] = [...header];
  const maxBlock = 128 * 1024;
  for (let offset = 0; offset < content.length || offset === 0; offset += maxBlock) {
    const size = Math.min(maxBlock, content.length - offset);
    const last = offset + size >= content.length ? 1 : 0;
    const blockHeader = (size << 3) | last; // block type 0 = raw
    parts.push(blockHeader & 0xff, (blockHeader >> 8) & 0xff, (blockHeader >> 16) & 0xff, ...content.subarray(offset, offset + size));
    if (content.length === 0) break;
  }
  return new Uint8Array(parts);
}

/** A zstd frame of `size` copies of `byte` in RLE blocks: a few hundred bytes that inflate to `size` (a decompression bomb in miniature). */
export function zstdRleFrame(byte: number, size: number): Uint8Array {
  const parts: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0xa0, ...new Uint8Array(new Uint32Array([size]).buffer)];
  const maxBlock = 128 * 1024;
  for (let offset = 0; offset < size; offset += maxBlock) {
    const length = Math.min(maxBlock, size - offset);
    const blockHeader = (length << 3) | (1 << 1) | (offset + length >= size ? 1 : 0); // block type 1 = RLE
    parts.push(blockHeader & 0xff, (blockHeader >> 8) & 0xff, (blockHeader >> 16) & 0xff, byte);
  }
  return new Uint8Array(parts);
}

const created: string[] = [];

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'profcol-file-'));
  created.push(dir);
  return dir;
}

/** Exporters made by `setup`: shut down with the folders, so no file is left open. */
const exporters: { shutdown?: () => Promise<void> }[] = [];

/** Shuts down every exporter `setup` made, then removes every folder `tempDir` made (call from `afterAll`). */
export async function removeTempDirs(): Promise<void> {
  await Promise.all(exporters.splice(0).map((exporter) => exporter.shutdown?.().catch(() => undefined)));
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** A logger whose JSON lines a test reads back. */
export function collectingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', format: 'json', destination }), lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export function setup(directory: string, config: Partial<Record<keyof FileConfig, unknown>> = {}, logger?: Logger) {
  const settings = createTestSettings({ id: 'file', kind: 'exporter', baseDir: directory, ...(logger ? { logger } : {}) });
  const parsed = fileExporter.config.parse({ directory, ...config });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const exporter = createFileExporter(settings, parsed.value);
  exporters.push(exporter);
  return { settings, exporter, config: parsed.value };
}

/** Every file under `root`, relative, with `/` separators, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

export function readJsonLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
