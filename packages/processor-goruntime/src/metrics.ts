/**
 * The 15 `prof_go_*` metrics: their names, units and meanings. Every point is a gauge: each value
 * describes one window (a rate over it, a total within it, or a snapshot at its end), and the
 * window is carried on the point as `startTimeNanos`..`timeNanos`.
 */

export const GO_METRIC_NAMES = [
  'prof_go_cpu_cores',
  'prof_go_cpu_cores_gc_overhead',
  'prof_go_alloc_bytes_per_sec',
  'prof_go_frees_per_sec',
  'prof_go_heap_growth_bytes_per_sec',
  'prof_go_allocs_per_sec',
  'prof_go_alloc_bytes_total',
  'prof_go_blocked_time',
  'prof_go_mutex_delay_time',
  'prof_go_gcs_per_sec',
  'prof_go_max_gc_pause_time',
  'prof_go_gc_pause_time',
  'prof_go_num_goroutine',
  'prof_go_lifetime_heap_bytes',
  'prof_go_lifetime_heap_objects',
] as const;

export type GoMetricName = (typeof GO_METRIC_NAMES)[number];

export interface GoMetricSpec {
  /** UCUM unit. `{cpu}` for cores follows the OpenTelemetry semantic conventions (`container.cpu.usage`). */
  unit: string;
  description: string;
}

export const GO_METRICS: Record<GoMetricName, GoMetricSpec> = {
  prof_go_cpu_cores: { unit: '{cpu}', description: 'CPU cores consumed over the window (CPU time ÷ wall time).' },
  prof_go_cpu_cores_gc_overhead: { unit: '{cpu}', description: 'CPU cores spent in garbage collection over the window, from GC frames of the CPU profile.' },
  prof_go_alloc_bytes_per_sec: { unit: 'By/s', description: 'Bytes allocated per second.' },
  prof_go_frees_per_sec: { unit: '{object}/s', description: 'Heap objects freed by the garbage collector per second.' },
  prof_go_heap_growth_bytes_per_sec: { unit: 'By/s', description: 'Change of the live heap per second; negative when the heap shrank.' },
  prof_go_allocs_per_sec: { unit: '{object}/s', description: 'Heap objects allocated per second.' },
  prof_go_alloc_bytes_total: { unit: 'By', description: 'Bytes allocated during the window.' },
  prof_go_blocked_time: { unit: 'ns', description: 'Total time goroutines spent blocked on channels, selects and sync primitives during the window.' },
  prof_go_mutex_delay_time: { unit: 'ns', description: 'Total time goroutines waited for contended mutexes during the window.' },
  prof_go_gcs_per_sec: { unit: '{gc}/s', description: 'Completed garbage collection cycles per second.' },
  prof_go_max_gc_pause_time: { unit: 'ns', description: 'Longest stop-the-world GC pause during the window.' },
  prof_go_gc_pause_time: { unit: 'ns', description: 'Total stop-the-world GC pause time during the window.' },
  prof_go_num_goroutine: { unit: '{goroutine}', description: 'Number of goroutines.' },
  prof_go_lifetime_heap_bytes: { unit: 'By', description: 'Bytes of live heap objects as of the last completed GC.' },
  prof_go_lifetime_heap_objects: { unit: '{object}', description: 'Number of live heap objects as of the last completed GC.' },
};
