import { Writable } from 'node:stream';
import { createLogger, type MetricPoint } from '@profcol/core';
import { createTestSettings, type TestSettings } from '@profcol/core/testing';
import { otlpExporterFactory } from '../src/index.js';
import type { OtlpExporter } from '../src/exporter.js';

/** A window end with every nanosecond digit significant. */
export const T0 = 1_732_000_000_123_456_789n;

export function point(overrides: Partial<MetricPoint> = {}): MetricPoint {
  return {
    name: 'prof_go_goroutines',
    unit: '{goroutine}',
    kind: 'gauge',
    value: 42,
    timeNanos: T0,
    attributes: {},
    resource: { service: 'checkout', env: 'prod', version: '1.2.3', host: 'web-1', language: 'go', runtime_id: 'a1b2' },
    ...overrides,
  };
}

/** `n` distinct points (distinct values and timestamps) of one resource. */
export function points(n: number, resource: Record<string, string> = { service: 'checkout' }, offset = 0): MetricPoint[] {
  return Array.from({ length: n }, (_, i) =>
    point({ name: 'prof_go_heap_alloc_bytes', unit: 'By', value: offset + i, timeNanos: T0 + BigInt((offset + i) * 1_000_000_000), resource }),
  );
}

export interface Harness {
  exporter: OtlpExporter;
  settings: TestSettings;
  /** Log lines written so far, parsed. */
  logs: () => Record<string, unknown>[];
  counter: (name: string, labels?: Record<string, string>) => number;
}

/** Builds an `otlp` exporter through its factory and schema, as the host would, and starts it. */
export async function startExporter(config: Record<string, unknown>, options: { id?: string; baseDir?: string; start?: boolean } = {}): Promise<Harness> {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = createLogger({ level: 'debug', format: 'json', destination });
  const settings = createTestSettings({ id: options.id ?? 'otlp', kind: 'exporter', logger, ...(options.baseDir ? { baseDir: options.baseDir } : {}) });
  const parsed = otlpExporterFactory.config.parse(config);
  if (!parsed.ok) throw new Error(`bad test config: ${JSON.stringify(parsed.issues)}`);
  const exporter = otlpExporterFactory.create(settings, parsed.value) as OtlpExporter;
  if (options.start !== false) await exporter.start(settings.host);
  return {
    exporter,
    settings,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    counter: (name, labels = {}) => settings.registry.value(name, labels),
  };
}

/** Fast retries for tests. */
export const FAST_RETRY = { initial_interval: '20ms', max_interval: '100ms', randomization_factor: 0 };

/** Polls until `condition` holds (the exporter counts a success after the backend answered). */
export async function until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
