// Deterministic Go-profile metric points, shared by the end-to-end tests and the child
// process of the SIGKILL test so both sides agree on what "every point" means.

/** The metrics a Go pipeline produces, with their UCUM units and kinds. */
export const METRICS = [
  { name: 'prof_go_cpu_cores', unit: '{cpu}', kind: 'gauge' },
  { name: 'prof_go_heap_live_bytes', unit: 'By', kind: 'gauge' },
  { name: 'prof_go_goroutines', unit: '{goroutine}', kind: 'gauge' },
  { name: 'prof_go_gc_cycles', unit: '{gc_cycle}', kind: 'sum', monotonic: true },
  { name: 'prof_go_alloc_bytes', unit: 'By', kind: 'sum', monotonic: true },
  { name: 'prof_go_mutex_delay', unit: 's', kind: 'sum', monotonic: true },
];

/** Two profiled services (resources as the ddtrace receiver fills them). */
export const RESOURCES = [
  {
    service: 'checkout',
    env: 'e2e',
    version: '1.4.2',
    host: 'web-1',
    language: 'go',
    runtime_version: 'go1.22.4',
    runtime_id: '7d1c0f6e-checkout',
    profile_seq: '1',
  },
  { service: 'payments', env: 'e2e', version: '0.9.0', host: 'web-2', language: 'golang', runtime_id: '3b9a2c11-payments' },
];

/** Window ends are 10 s apart, ending a few minutes before the test run (so a TSDB takes them). */
export function windowEnd(base, window) {
  return base + BigInt(window) * 10_000_000_000n;
}

/** A base timestamp with sub-millisecond digits, `minutesAgo` before now. */
export function baseNanos(minutesAgo = 30) {
  return (BigInt(Date.now() - minutesAgo * 60_000) / 1000n) * 1_000_000_000n + 123_456_789n;
}

/**
 * The batch a receiver + processors would hand the exporter for window `w`: every metric of
 * every resource. Values are unique per (metric, resource, window) so each one is recognisable.
 */
export function batchFor(base, w, resources = RESOURCES) {
  const end = windowEnd(base, w);
  const start = end - 10_000_000_000n;
  const metrics = [];
  resources.forEach((resource, r) => {
    METRICS.forEach((m, i) => {
      const value = m.kind === 'gauge' ? w * 1000 + r * 100 + i + 0.25 : (w + 1) * 10_000 + r * 100 + i;
      metrics.push({
        name: m.name,
        unit: m.unit,
        kind: m.kind,
        ...(m.monotonic !== undefined ? { monotonic: m.monotonic } : {}),
        value,
        timeNanos: end,
        startTimeNanos: start,
        attributes: m.name === 'prof_go_cpu_cores' ? { 'profile.type': 'cpu' } : {},
        resource: { ...resource, profile_seq: String(w) },
      });
    });
  });
  return { bundles: [], metrics };
}

/** The key a received point is matched by: metric name, service and window end. */
export function pointKey(name, service, timeNanos) {
  return `${name}|${service}|${timeNanos}`;
}
