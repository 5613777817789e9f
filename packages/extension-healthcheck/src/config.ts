import { s, parseEndpoint, type Infer } from '@profcol/core';

/** The configuration of the `health_check` extension. */
export const healthCheckConfigSchema = s.object({
  endpoint: s.string({
    default: 'localhost:13133',
    description:
      "Address the probes are served on, `host:port` (the OpenTelemetry Collector's healthcheckextension default). On localhost unless configured: a kubelet probes the pod's IP, so in Kubernetes set `0.0.0.0:13133` (or the pod IP). Port 0 picks a free port.",
    check: (value) => (parseEndpoint(value) ? undefined : `${JSON.stringify(value)} is not host:port (e.g. localhost:13133 or 0.0.0.0:13133)`),
  }),
  stuck_after: s.duration({
    default: '1m',
    description:
      "An exporter whose sending queue holds requests and has delivered or dropped none of them for this long is stuck, and `/readyz` answers 503 naming it. Measured between probes. `0` turns the check off. Keep it below the exporter's `retry_on_failure.max_elapsed_time` (300s by default), after which a request is dropped and the queue moves again.",
  }),
});

export type HealthCheckConfig = Infer<typeof healthCheckConfigSchema>;
