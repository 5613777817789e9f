import { s, parseEndpoint, type Infer } from '@profcol/core';

/** The configuration of the `status` extension. */
export const statusConfigSchema = s.object({
  endpoint: s.string({
    default: 'localhost:55679',
    description:
      "Address the page is served on, `host:port` (as the OpenTelemetry Collector's zPages, on localhost unless configured). Port 0 picks a free port.",
    check: (value) => (parseEndpoint(value) ? undefined : `${JSON.stringify(value)} is not host:port`),
  }),
  refresh: s.duration({ default: '2s', min: '250ms', description: 'How often the open page asks for fresh counters, targets and services.' }),
  history: s.duration({ default: '1h', min: '1s', description: "How far back each runtime metric's sparkline reaches (kept in memory)." }),
  max_series: s.integer({
    default: 2000,
    min: 1,
    description:
      'Most runtime metric series (service × metric × attributes) kept for sparklines; points of further series are not kept (counted as `profcol_extension_status_dropped_points_total{reason="max_series"}`).',
  }),
  max_points_per_series: s.integer({ default: 360, min: 2, description: 'Most points of one sparkline; older ones are forgotten first.' }),
  max_services: s.integer({
    default: 100,
    min: 1,
    description: 'Most services whose latest CPU and heap profiles are kept for flame graphs; past it, the service updated longest ago is forgotten (counted).',
  }),
  max_profile_bytes: s.bytes({
    default: '8MiB',
    description: 'Largest profile (decompressed) kept for a flame graph and its download; larger ones are not kept (counted).',
  }),
  max_flame_nodes: s.integer({
    default: 1500,
    min: 10,
    description: 'Most frames in one flame graph: the heaviest are kept, the rest show as the gap under their caller.',
  }),
});

export type StatusConfig = Infer<typeof statusConfigSchema>;
