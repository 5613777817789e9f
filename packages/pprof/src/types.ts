/**
 * The pull endpoints and the profile types they yield. Push clients name their profiles
 * themselves; the ddtrace receiver maps dd-trace's attachment names (`classifyAttachment`).
 */

export type PullProfileType = 'cpu' | 'heap' | 'allocs' | 'goroutine' | 'mutex' | 'block' | 'threadcreate' | 'delta_heap' | 'delta_mutex' | 'delta_block';

export interface PullProfileSpec {
  /** The profile type it yields (`delta_heap` yields `heap`). */
  type: string;
  /** The path under the target's base URL (after `path_prefix`). */
  path: string;
  /** The value types the collector deltas against the previous scrape ([] = none). */
  deltaTypes: string[];
  /** The endpoint already returns deltas (godeltaprof). */
  alreadyDelta: boolean;
}

/** The `net/http/pprof` and godeltaprof endpoints a pull receiver scrapes. */
export const PULL_PROFILE_TYPES: Record<PullProfileType, PullProfileSpec> = {
  cpu: { type: 'cpu', path: '/debug/pprof/profile', deltaTypes: [], alreadyDelta: false },
  heap: { type: 'heap', path: '/debug/pprof/heap', deltaTypes: ['alloc_objects', 'alloc_space'], alreadyDelta: false },
  allocs: { type: 'allocs', path: '/debug/pprof/allocs', deltaTypes: ['alloc_objects', 'alloc_space'], alreadyDelta: false },
  goroutine: { type: 'goroutine', path: '/debug/pprof/goroutine', deltaTypes: [], alreadyDelta: false },
  mutex: { type: 'mutex', path: '/debug/pprof/mutex', deltaTypes: ['contentions', 'delay'], alreadyDelta: false },
  block: { type: 'block', path: '/debug/pprof/block', deltaTypes: ['contentions', 'delay'], alreadyDelta: false },
  threadcreate: { type: 'threadcreate', path: '/debug/pprof/threadcreate', deltaTypes: [], alreadyDelta: false },
  delta_heap: { type: 'heap', path: '/debug/pprof/delta_heap', deltaTypes: [], alreadyDelta: true },
  delta_mutex: { type: 'mutex', path: '/debug/pprof/delta_mutex', deltaTypes: [], alreadyDelta: true },
  delta_block: { type: 'block', path: '/debug/pprof/delta_block', deltaTypes: [], alreadyDelta: true },
};

export const PULL_PROFILE_TYPE_NAMES = Object.keys(PULL_PROFILE_TYPES) as PullProfileType[];
