/** Profile types: pull endpoints, names used by push clients, and inference from sample types. */
import type { SampleType } from '@profcol/core';

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

/**
 * The profile type of a profile, from the name it arrived under (`cpu.pprof`,
 * `delta-heap.pprof`, `goroutines.pprof`, `/debug/pprof/heap`, `wall.pprof`) and, failing
 * that, from its sample types. `undefined` when neither tells.
 */
export function resolveProfileType(name: string, sampleTypes: SampleType[] = []): string | undefined {
  const base = name.split('/').pop()!.replace(/\?.*$/, '').replace(/\.pprof(\.gz)?$/, '').replace(/^delta[-_]/, '').toLowerCase();
  const byName: Record<string, string> = {
    cpu: 'cpu', profile: 'cpu', heap: 'heap', allocs: 'allocs', goroutine: 'goroutine', goroutines: 'goroutine', mutex: 'mutex',
    block: 'block', threadcreate: 'threadcreate', wall: 'wall', space: 'space', events: 'events',
  };
  if (byName[base]) return byName[base];
  const types = new Set(sampleTypes.map((t) => t.type));
  if (types.has('cpu')) return 'cpu';
  if (types.has('inuse_space') || types.has('alloc_space')) return 'heap';
  if (types.has('goroutine') || types.has('goroutines')) return 'goroutine';
  if (types.has('threadcreate')) return 'threadcreate';
  if (types.has('wall')) return 'wall';
  if (types.has('space')) return 'space';
  return undefined;
}
