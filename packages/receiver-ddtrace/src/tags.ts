/** Upload tags → a bundle's resource and tags; the language is resolved with core's alias table. */
import { resolveLanguage } from '@profcol/core';

/** Splits `k:v` at the first `:` (values may hold `:`, e.g. git URLs). A bare `k` has the value ''. */
export function splitTag(item: string): [string, string] | undefined {
  const trimmed = item.trim();
  if (trimmed === '') return undefined;
  const colon = trimmed.indexOf(':');
  if (colon === -1) return [trimmed, ''];
  const key = trimmed.slice(0, colon).trim();
  if (key === '') return undefined;
  return [key, trimmed.slice(colon + 1).trim()];
}

/** A comma-joined `tags_profiler` string as `[key, value]` pairs, in order. */
export function parseTagList(text: string | undefined): [string, string][] {
  if (!text) return [];
  return text
    .split(',')
    .map(splitTag)
    .filter((t): t is [string, string] => t !== undefined);
}

/** Upload tag keys that become resource keys (tag key → resource key). */
export const RESOURCE_TAGS: Record<string, string> = {
  service: 'service',
  env: 'env',
  version: 'version',
  host: 'host',
  runtime: 'runtime',
  runtime_version: 'runtime_version',
  'runtime-id': 'runtime_id',
  profile_seq: 'profile_seq',
  process_id: 'process_id',
};

export interface ResourceInputs {
  /** Every `k:v` of the upload in order (`tags_profiler`, or legacy `tags[]`); later wins. */
  tags: [string, string][];
  /** Top-level fields that describe the process (legacy `runtime`, `language`, …; v4 `family`). */
  fields: { language?: string | undefined; runtime?: string | undefined; family?: string | undefined; runtime_version?: string | undefined };
  /** Tags added by a Datadog agent in front of profcol (`X-Datadog-Additional-Tags`); they only fill gaps. */
  additional?: [string, string][];
  hostTag: 'upload' | 'receiver';
  receiverHost: string;
}

/** A key the upload's tags carry more than once with different values: the last value is kept. */
export interface RepeatedTag {
  key: string;
  /** How many earlier, different values the last one replaced. */
  replaced: number;
}

/**
 * Splits upload tags into the bundle's resource and its remaining tags. A key given twice keeps
 * its last value (as dd-trace's own agent does); `repeated` lists the keys whose earlier values
 * were replaced by a different one, so the receiver can say so.
 */
export function buildResource(input: ResourceInputs): { resource: Record<string, string>; tags: Record<string, string>; repeated: RepeatedTag[] } {
  const all = new Map<string, string>();
  const replaced = new Map<string, number>();
  for (const [key, value] of input.tags) {
    const earlier = all.get(key);
    if (earlier !== undefined && earlier !== value) replaced.set(key, (replaced.get(key) ?? 0) + 1);
    all.set(key, value);
  }
  const repeated = [...replaced].map(([key, count]) => ({ key, replaced: count }));
  for (const [key, value] of input.additional ?? []) if (!all.has(key)) all.set(key, value);

  const resource: Record<string, string> = {};
  const tags: Record<string, string> = {};
  let languageTag: string | undefined;
  for (const [key, value] of all) {
    if (key === 'language') {
      languageTag = value;
      continue;
    }
    const resourceKey = RESOURCE_TAGS[key];
    if (resourceKey === undefined) tags[key] = value;
    else if (value !== '') resource[resourceKey] = value;
  }
  if (resource.runtime === undefined && input.fields.runtime) resource.runtime = input.fields.runtime;
  if (resource.runtime_version === undefined && input.fields.runtime_version) resource.runtime_version = input.fields.runtime_version;
  // The `language` tag (or field) wins, then `runtime`, then the event's `family`.
  resource.language = resolveLanguage(languageTag ?? input.fields.language, all.get('runtime') ?? input.fields.runtime, input.fields.family);
  if (input.hostTag === 'receiver') resource.host = input.receiverHost;
  return { resource, tags, repeated };
}
