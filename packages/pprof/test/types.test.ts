import { describe, expect, it } from 'vitest';
import { PULL_PROFILE_TYPES } from '../src/index.js';

describe('profile types', () => {
  it("lists the pull endpoints with what is delta'd where", () => {
    expect(PULL_PROFILE_TYPES.heap).toEqual({ type: 'heap', path: '/debug/pprof/heap', deltaTypes: ['alloc_objects', 'alloc_space'], alreadyDelta: false });
    expect(PULL_PROFILE_TYPES.delta_heap).toMatchObject({ type: 'heap', deltaTypes: [], alreadyDelta: true });
    expect(PULL_PROFILE_TYPES.goroutine.deltaTypes).toEqual([]);
  });
});
