import { describe, expect, it } from 'vitest';
import { decodeRequest, encodeRequest, toRequests } from '../src/convert.js';
import { point, T0 } from './helpers.js';

describe('otlp request persistence form', () => {
  it('keeps a sum’s temporality, monotonicity and series start through a restart of the queue', () => {
    const [request] = toRequests([
      point({ name: 'go.memory.gc.cycles', unit: '{gc_cycle}', kind: 'sum', monotonic: true, temporality: 'delta', value: 3, startTimeNanos: T0 - 10n }),
      point({
        name: 'go.cpu.time',
        unit: 's',
        kind: 'sum',
        monotonic: true,
        temporality: 'cumulative',
        value: 12.5,
        startTimeNanos: T0 - 600n,
        attributes: { 'go.cpu.state': 'gc' },
      }),
    ]);
    const back = decodeRequest(encodeRequest(request!));
    expect(back.points.map((p) => [p.name, p.kind, p.monotonic, p.temporality, p.startTimeNanos, p.value])).toEqual([
      ['go.memory.gc.cycles', 'sum', true, 'delta', T0 - 10n, 3],
      ['go.cpu.time', 'sum', true, 'cumulative', T0 - 600n, 12.5],
    ]);
  });

  it('refuses a stored point whose temporality it does not know, rather than sending it as something else', () => {
    const text = JSON.stringify({
      v: 1,
      resource: {},
      points: [{ name: 'x', unit: '1', kind: 'sum', temporality: 'sideways', value: 1, timeNanos: '1', attributes: {} }],
    });
    expect(() => decodeRequest(text)).toThrow(/malformed point/);
  });
});
