/**
 * profcol's resource keys (what a dd-trace upload or a pulled target says about the
 * profiled program) mapped to OpenTelemetry semantic conventions. The resource describes
 * the profiled application, never profcol itself: profcol is named in the instrumentation
 * scope instead.
 */

/** Key renames. Anything not listed is exported under its own name. */
export const RESOURCE_KEY_MAP: Readonly<Record<string, string>> = {
  service: 'service.name',
  version: 'service.version',
  env: 'deployment.environment.name',
  host: 'host.name',
  language: 'telemetry.sdk.language',
  runtime: 'process.runtime.name',
  runtime_version: 'process.runtime.version',
  runtime_id: 'service.instance.id',
  process_id: 'process.pid',
};

/** dd-trace and pprof language names → the `telemetry.sdk.language` enum of the semantic conventions. */
const LANGUAGES: Readonly<Record<string, string>> = {
  golang: 'go',
  go: 'go',
  nodejs: 'nodejs',
  node: 'nodejs',
  javascript: 'nodejs',
  jvm: 'java',
  java: 'java',
  python: 'python',
  ruby: 'ruby',
  php: 'php',
  dotnet: 'dotnet',
  '.net': 'dotnet',
  rust: 'rust',
  cpp: 'cpp',
  'c++': 'cpp',
  erlang: 'erlang',
  swift: 'swift',
};

/**
 * Maps one profcol resource to OTel resource attributes.
 *
 * - `language` is normalised (`golang` → `go`) because the semantic conventions fix its values.
 * - `instance` (the URL of a pulled target) becomes `service.instance.id` when the program did not
 *   name its own instance (`runtime_id`), as the Collector's Prometheus receiver does with the
 *   `instance` label; otherwise it is kept as `instance`.
 * - A Go program without an explicit `runtime` gets `process.runtime.name: go` from its language.
 * - Keys in `drop` are left out.
 */
export function mapResource(resource: Record<string, string>, drop: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (drop.includes(key) || value === '') continue;
    if (key === 'instance') continue;
    const target = RESOURCE_KEY_MAP[key] ?? key;
    out[target] = key === 'language' ? (LANGUAGES[value.toLowerCase()] ?? value.toLowerCase()) : value;
  }
  const instance = resource['instance'];
  if (instance && !drop.includes('instance')) {
    if (out['service.instance.id'] === undefined) out['service.instance.id'] = instance;
    else out['instance'] = instance;
  }
  if (out['telemetry.sdk.language'] === 'go' && out['process.runtime.name'] === undefined) out['process.runtime.name'] = 'go';
  return out;
}

/** A stable key for grouping points of the same (mapped) resource. */
export function resourceKey(attributes: Record<string, string>): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
