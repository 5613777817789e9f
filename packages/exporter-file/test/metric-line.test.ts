import type { MetricPoint } from '@profcol/core';
import { describe, expect, it } from 'vitest';
import { metricLine, metricRecord } from '../src/records.js';

/** What metrics.jsonl held before metricLine: the record, through JSON.stringify. */
const reference = (point: MetricPoint): string => JSON.stringify(metricRecord(point));

const base: MetricPoint = {
  name: 'prof_go_cpu_seconds_total',
  description: 'CPU time per second',
  unit: 's',
  kind: 'gauge',
  value: 0.25,
  timeNanos: 1764590400123456789n,
  startTimeNanos: 1764590340000000000n,
  attributes: { service: 'go-demo', env: 'dev', language: 'golang' },
  resource: { 'service.name': 'go-demo', 'host.name': 'h1' },
};

describe('metricLine writes the same text as JSON.stringify(metricRecord(point))', () => {
  // One sequence: each point is compared right after the one before it, so the reuse of the
  // previous point's pieces is exercised as well as a fresh start.
  const sequence: [string, MetricPoint][] = [
    ['a gauge', base],
    ['the same attributes in a new object', { ...base, attributes: { ...base.attributes }, value: 2 }],
    ['the same keys in another order', { ...base, attributes: { env: 'dev', service: 'go-demo', language: 'golang' } }],
    ['one value changed', { ...base, attributes: { ...base.attributes, env: 'prod' } }],
    ['one key more', { ...base, attributes: { ...base.attributes, extra: 'x' } }],
    ['one key less', { ...base, attributes: { service: 'go-demo', env: 'dev' } }],
    ['no attributes', { ...base, attributes: {} }],
    ['NaN, then infinities', { ...base, value: Number.NaN }],
    ['+Infinity', { ...base, value: Number.POSITIVE_INFINITY }],
    ['-0', { ...base, value: -0 }],
    ['a large and a tiny number', { ...base, value: 1.7976931348623157e308 }],
    ['tiny', { ...base, value: 5e-324 }],
    ['a cumulative sum', { ...base, name: 'go.memory.gc.cycles', kind: 'sum', monotonic: true, value: 12 }],
    ['the same name, now delta', { ...base, name: 'go.memory.gc.cycles', kind: 'sum', monotonic: true, temporality: 'delta', value: 3 }],
    ['the same name, another unit', { ...base, name: 'go.memory.gc.cycles', kind: 'sum', monotonic: false, unit: '{gc_cycle}', value: 3 }],
    ['no description', { ...base, description: undefined }],
    ['no start time', { ...base, startTimeNanos: undefined }],
    ['another time', { ...base, timeNanos: 1n, startTimeNanos: 0n }],
    [
      'strings that need escaping',
      {
        ...base,
        name: 'a"b\\c',
        description: 'line\nbreak\u2028 and \u0001',
        attributes: { 'k"ey': 'v\\al', emoji: '😀', lone: '\ud800' },
        resource: { 'service.name': '</script>' },
      },
    ],
    ['a new resource', { ...base, resource: { 'service.name': 'other' } }],
  ];
  for (const [what, point] of sequence) {
    it(what, () => {
      expect(metricLine(point)).toBe(reference(point));
      expect(JSON.parse(metricLine(point))).toEqual(JSON.parse(reference(point)));
    });
  }

  it('a record changed in place after it was written is written anew', () => {
    const attributes: Record<string, string> = { service: 'a' };
    const point = { ...base, attributes };
    expect(metricLine(point)).toBe(reference(point));
    attributes.service = 'b';
    expect(metricLine(point)).toContain('"service":"b"');
    expect(metricLine(point)).toBe(reference(point));
  });
});
