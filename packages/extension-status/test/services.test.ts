import { describe, expect, it } from 'vitest';
import { Telemetry, type Batch, type MetricPoint, type ProfileBundle } from '@profcol/core';
import { ServiceStore, type ServiceStoreLimits } from '../src/services.js';

const MINUTE = 60_000;

function store(limits: Partial<ServiceStoreLimits>, clock: { now: number }) {
  const telemetry = new Telemetry();
  const scoped = telemetry.scoped({ extension: 'status' });
  const services = new ServiceStore(
    { maxServices: 10, maxSeries: 100, maxPointsPerSeries: 100, historyMs: 60 * MINUTE, maxProfileBytes: 1 << 20, ...limits },
    { droppedPoints: scoped.counter('dropped', ''), evictedServices: scoped.counter('evicted', ''), skippedProfiles: scoped.counter('skipped', '') },
    () => clock.now,
  );
  return { services, telemetry };
}

function point(service: string, name: string, value: number, timeMs: number): MetricPoint {
  return { name, unit: '1', kind: 'gauge', value, timeNanos: BigInt(timeMs) * 1_000_000n, attributes: { service }, resource: { service } };
}

function bundle(service: string, types: string[], bytes = 16): ProfileBundle {
  return {
    source: 'ddtrace',
    resource: { service, env: 'prod' },
    tags: {},
    window: { startNanos: 0n, endNanos: 60_000_000_000n },
    profiles: types.map((type) => ({ type, name: `${type}.pprof`, data: new Uint8Array(bytes) })),
  };
}

const batch = (b: Partial<Batch>): Batch => ({ bundles: [], metrics: [], ...b });

describe('what the status page keeps', () => {
  it('keeps the latest CPU and heap profile of each service, not the other types', () => {
    const { services } = store({}, { now: 0 });
    services.observe(batch({ bundles: [bundle('api', ['cpu', 'heap', 'goroutine'])] }));
    services.observe(batch({ bundles: [bundle('api', ['cpu'], 32)] }));
    expect(services.profile('api', 'cpu')?.data.length).toBe(32);
    expect(services.profile('api', 'heap')?.data.length).toBe(16);
    expect(services.profile('api', 'goroutine')).toBeUndefined();
  });

  it('forgets the service seen longest ago past max_services, and counts it', () => {
    const { services, telemetry } = store({ maxServices: 2 }, { now: 0 });
    for (const name of ['a', 'b', 'a', 'c']) services.observe(batch({ bundles: [bundle(name, ['cpu'])] }));
    expect(services.list().map((s) => s.state.service)).toEqual(['c', 'a']);
    expect(telemetry.value('evicted', { reason: 'max_services' })).toBe(1);
  });

  it('does not keep a profile larger than max_profile_bytes, and counts it', () => {
    const { services, telemetry } = store({ maxProfileBytes: 100 }, { now: 0 });
    services.observe(batch({ bundles: [bundle('api', ['cpu'], 101)] }));
    expect(services.profile('api', 'cpu')).toBeUndefined();
    expect(telemetry.value('skipped', { reason: 'too_large' })).toBe(1);
  });

  it('keeps each runtime metric for the last hour, in time order', () => {
    const clock = { now: 0 };
    const { services } = store({}, clock);
    for (const minute of [0, 10, 30, 20, 70]) services.observe(batch({ metrics: [point('api', 'prof_go_num_goroutine', minute, minute * MINUTE)] }));
    clock.now = 70 * MINUTE;
    const [api] = services.list();
    expect(api!.series[0]!.points.map(([t]) => t / MINUTE)).toEqual([10, 20, 30, 70]);
  });

  it('keeps no more than max_series series, counting the points it did not keep', () => {
    const { services, telemetry } = store({ maxSeries: 2 }, { now: 0 });
    services.observe(batch({ metrics: ['prof_go_a', 'prof_go_b', 'prof_go_c'].map((name) => point('api', name, 1, 0)) }));
    expect(services.list()[0]!.series.map((s) => s.name)).toEqual(['prof_go_a', 'prof_go_b']);
    expect(telemetry.value('dropped', { reason: 'max_series' })).toBe(1);
  });

  it('ignores metric points that are not Go runtime metrics', () => {
    const { services } = store({}, { now: 0 });
    services.observe(batch({ metrics: [point('api', 'http_requests', 1, 0)] }));
    expect(services.list()).toEqual([]);
  });
});
