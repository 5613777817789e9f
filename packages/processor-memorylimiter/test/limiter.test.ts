/**
 * The limiter's behaviour, with the memory reading supplied by the test: a real process cannot
 * be made to sit at exactly "soft limit + 1 byte" or be pushed past 2 GiB on a shared 2-core
 * test machine without risking the machine. One test below (allocate.test.ts) does allocate
 * for real, past a small limit, in a child process.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackpressureError, createLogger, type Batch } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { memoryLimiterConfigSchema, MemoryLimiterProcessor, MemoryLimitError, resolveLimits, type MemoryLimiterConfig } from '../src/index.js';

const MIB = 1024 * 1024;

function parse(input: Record<string, unknown>): MemoryLimiterConfig {
  const parsed = memoryLimiterConfigSchema.parse(input);
  if (!parsed.ok) throw new Error(parsed.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.value;
}

function problems(input: Record<string, unknown>): string[] {
  const parsed = memoryLimiterConfigSchema.parse(input);
  return parsed.ok ? [] : parsed.issues.map((i) => i.message);
}

function batch(): Batch {
  return {
    bundles: [{ source: 'ddtrace', resource: { service: 'demo' }, tags: {}, window: { startNanos: 0n, endNanos: 60_000_000_000n }, profiles: [] }],
    metrics: [{ name: 'prof_go_goroutines', unit: '{goroutine}', kind: 'gauge', value: 3, timeNanos: 60_000_000_000n, attributes: {}, resource: {} }],
  };
}

/** A limiter over a memory reading the test sets, with its log lines captured. */
function limiterWith(input: Record<string, unknown>, options: { gc?: (reading: { bytes: number }) => void } = {}) {
  const lines: Record<string, any>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const settings = createTestSettings({ id: 'memory_limiter', kind: 'processor', pipeline: 'go', logger: createLogger({ format: 'json', destination }) });
  const config = parse(input);
  const reading = { bytes: 0 };
  const gcCalls: number[] = [];
  const limiter = new MemoryLimiterProcessor(settings, config, resolveLimits(config, 8192 * MIB), {
    read: () => reading.bytes,
    gc: options.gc
      ? () => {
          gcCalls.push(reading.bytes);
          options.gc!(reading);
        }
      : undefined,
  });
  return { limiter, reading, registry: settings.registry, lines, gcCalls };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('memory_limiter configuration', () => {
  it('takes the Collector keys; the spike defaults to 20% of the limit', () => {
    expect(resolveLimits(parse({ limit_mib: 1000 }), 0)).toEqual({ hardBytes: 1000 * MIB, softBytes: 800 * MIB });
    expect(resolveLimits(parse({ limit_mib: 1000, spike_limit_mib: 100 }), 0)).toEqual({ hardBytes: 1000 * MIB, softBytes: 900 * MIB });
    expect(parse({ limit_mib: 1 })).toMatchObject({ check_interval: 1000, measure: 'rss' });
  });

  it('reads percentages of the memory available (the cgroup limit, else the machine)', () => {
    expect(resolveLimits(parse({ limit_percentage: 50 }), 4000 * MIB)).toEqual({ hardBytes: 2000 * MIB, softBytes: 1600 * MIB });
    expect(resolveLimits(parse({ limit_percentage: 80, spike_limit_percentage: 30 }), 1000 * MIB)).toEqual({ hardBytes: 800 * MIB, softBytes: 500 * MIB });
  });

  it('refuses a configuration without a limit, with both kinds, or with a spike as large as its limit', () => {
    expect(problems({})).toEqual(['set a limit: limit_mib (e.g. 1536) or limit_percentage (e.g. 80)']);
    expect(problems({ limit_mib: 100, limit_percentage: 50 })).toEqual(['set limit_mib or limit_percentage, not both']);
    expect(problems({ limit_mib: 100, spike_limit_mib: 100 })).toEqual(['spike_limit_mib (100) must be below limit_mib (100)']);
    expect(problems({ limit_percentage: 50, spike_limit_percentage: 60 })).toEqual(['spike_limit_percentage (60) must be below limit_percentage (50)']);
    expect(problems({ limit_mib: 100, spike_limit_percentage: 10 })).toEqual([
      'spike_limit_percentage goes with limit_percentage; with limit_mib, set spike_limit_mib',
    ]);
    expect(problems({ limit_percentage: 101 })[0]).toMatch(/above the maximum of 100/);
    expect(problems({ limit_mib: 100, measure: 'vsz' })[0]).toMatch(/rss|heap/);
  });
});

describe('memory_limiter processor', () => {
  it('passes batches through while memory is below the soft limit', () => {
    const { limiter, reading } = limiterWith({ limit_mib: 100 });
    reading.bytes = 80 * MIB - 1;
    limiter.check();
    const input = batch();
    expect(limiter.process(input)).toBe(input);
  });

  it('refuses batches above the soft limit with a retryable backpressure error, counted by reason', () => {
    const { limiter, reading, registry } = limiterWith({ limit_mib: 100, check_interval: '5s' });
    reading.bytes = 80 * MIB;
    expect(limiter.check()).toBe('soft_limit');
    let refusal: unknown;
    try {
      limiter.process(batch());
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(BackpressureError);
    expect(refusal).toMatchObject({ kind: 'backpressure', reason: 'memory_limit', limit: 'soft_limit', retryAfterMs: 5000 });
    expect((refusal as Error).message).toBe('memory_limiter "memory_limiter": memory is above the soft limit (80MiB rss, soft limit 80MiB); retry later');
    expect(registry.value('profcol_processor_memory_limiter_refused_batches_total', { reason: 'soft_limit' })).toBe(1);
    expect(registry.value('profcol_processor_memory_limiter_refused_bundles_total', { reason: 'soft_limit' })).toBe(1);
    expect(registry.value('profcol_processor_memory_limiter_refused_metric_points_total', { reason: 'soft_limit' })).toBe(1);
  });

  it('accepts again once a check sees memory below the soft limit, and logs each change once', () => {
    const { limiter, reading, lines, registry } = limiterWith({ limit_mib: 100 });
    reading.bytes = 90 * MIB;
    limiter.check();
    limiter.check();
    expect(() => limiter.process(batch())).toThrow(MemoryLimitError);
    reading.bytes = 10 * MIB;
    limiter.check();
    expect(limiter.process(batch()).bundles).toHaveLength(1);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, 'memory_limiter: memory above the soft limit (90MiB rss ≥ 80MiB); refusing data with backpressure'],
      [30, 'memory_limiter: memory back below the soft limit (10MiB rss < 80MiB); accepting data again'],
    ]);
    expect(registry.value('profcol_processor_memory_limiter_state_changes_total', { to: 'soft_limit' })).toBe(1);
    expect(registry.value('profcol_processor_memory_limiter_state_changes_total', { to: 'ok' })).toBe(1);
  });

  it('forces a garbage collection above the hard limit and judges by the reading after it', () => {
    const { limiter, reading, gcCalls, registry } = limiterWith({ limit_mib: 100 }, { gc: (r) => (r.bytes = 50 * MIB) });
    reading.bytes = 70 * MIB;
    limiter.check();
    expect(gcCalls).toEqual([]);
    reading.bytes = 120 * MIB;
    expect(limiter.check()).toBe('ok');
    expect(gcCalls).toEqual([120 * MIB]);
    expect(registry.value('profcol_processor_memory_limiter_forced_gcs_total')).toBe(1);
  });

  it('without --expose-gc only refuses above the hard limit', () => {
    const { limiter, reading, registry } = limiterWith({ limit_mib: 100 });
    reading.bytes = 120 * MIB;
    expect(limiter.check()).toBe('hard_limit');
    expect(() => limiter.process(batch())).toThrow(/above the hard limit \(120MiB rss/);
    expect(registry.value('profcol_processor_memory_limiter_refused_batches_total', { reason: 'hard_limit' })).toBe(1);
    expect(registry.value('profcol_processor_memory_limiter_forced_gcs_total')).toBe(0);
  });

  it('checks every check_interval once started, and stops checking at shutdown', () => {
    vi.useFakeTimers();
    const { limiter, reading } = limiterWith({ limit_mib: 100, check_interval: '2s' });
    reading.bytes = 10 * MIB;
    limiter.start();
    reading.bytes = 95 * MIB;
    vi.advanceTimersByTime(1999);
    expect(limiter.state).toBe('ok');
    vi.advanceTimersByTime(1);
    expect(limiter.state).toBe('soft_limit');
    limiter.shutdown();
    reading.bytes = 10 * MIB;
    vi.advanceTimersByTime(10_000);
    expect(limiter.state).toBe('soft_limit');
  });

  it('shows its memory reading and limits as gauges', () => {
    const { limiter, reading, registry } = limiterWith({ limit_mib: 100, spike_limit_mib: 30 });
    reading.bytes = 42 * MIB;
    limiter.check();
    expect(registry.value('profcol_processor_memory_limiter_memory_bytes')).toBe(42 * MIB);
    expect(registry.value('profcol_processor_memory_limiter_limit_bytes', { limit: 'soft' })).toBe(70 * MIB);
    expect(registry.value('profcol_processor_memory_limiter_limit_bytes', { limit: 'hard' })).toBe(100 * MIB);
  });
});
