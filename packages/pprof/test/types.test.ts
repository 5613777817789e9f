import { describe, expect, it } from 'vitest';
import { PULL_PROFILE_TYPES, resolveProfileType } from '../src/index.js';

describe('profile types', () => {
  it('resolves names as push clients and pull endpoints give them', () => {
    expect(resolveProfileType('cpu.pprof')).toBe('cpu');
    expect(resolveProfileType('delta-heap.pprof')).toBe('heap');
    expect(resolveProfileType('delta-mutex.pprof')).toBe('mutex');
    expect(resolveProfileType('goroutines.pprof')).toBe('goroutine');
    expect(resolveProfileType('/debug/pprof/profile?seconds=9')).toBe('cpu');
    expect(resolveProfileType('/debug/pprof/delta_block')).toBe('block');
    expect(resolveProfileType('wall.pprof')).toBe('wall');
  });

  it('falls back to the sample types', () => {
    expect(resolveProfileType('blob', [{ type: 'samples', unit: 'count' }, { type: 'cpu', unit: 'nanoseconds' }])).toBe('cpu');
    expect(resolveProfileType('blob', [{ type: 'inuse_space', unit: 'bytes' }])).toBe('heap');
    expect(resolveProfileType('blob', [{ type: 'contentions', unit: 'count' }])).toBeUndefined();
  });

  it('lists the pull endpoints with what is delta\'d where', () => {
    expect(PULL_PROFILE_TYPES.heap).toEqual({ type: 'heap', path: '/debug/pprof/heap', deltaTypes: ['alloc_objects', 'alloc_space'], alreadyDelta: false });
    expect(PULL_PROFILE_TYPES.delta_heap).toMatchObject({ type: 'heap', deltaTypes: [], alreadyDelta: true });
    expect(PULL_PROFILE_TYPES.goroutine.deltaTypes).toEqual([]);
  });
});
