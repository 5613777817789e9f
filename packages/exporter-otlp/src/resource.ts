/**
 * profcol's resource keys (what a dd-trace upload or a pulled target says about the
 * profiled program) mapped to OpenTelemetry semantic conventions. The resource describes
 * the profiled application, never profcol itself: profcol is named in the instrumentation
 * scope instead.
 */
import { isCanonicalLanguage, resolveLanguage, type Language } from '@profcol/core';

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

/** profcol's canonical language names (@profcol/core) → the `telemetry.sdk.language` values of the semantic conventions. */
const SEMCONV_LANGUAGES: Readonly<Record<Exclude<Language, 'unknown'>, string>> = {
  golang: 'go',
  java: 'java',
  python: 'python',
  nodejs: 'nodejs',
  dotnet: 'dotnet',
  ruby: 'ruby',
  php: 'php',
  cpp: 'cpp',
  rust: 'rust',
};

/**
 * A resource's `language` as a `telemetry.sdk.language` value. Receivers already store canonical
 * names; anything else (a resource built by hand or by another plugin) goes through core's alias
 * table first, and what that does not know is kept, lowercased (`erlang`, `swift`, `unknown`).
 */
export function sdkLanguage(value: string): string {
  const canonical = isCanonicalLanguage(value) ? value : resolveLanguage(value);
  return canonical === 'unknown' ? value.trim().toLowerCase() : SEMCONV_LANGUAGES[canonical];
}

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
    out[target] = key === 'language' ? sdkLanguage(value) : value;
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
