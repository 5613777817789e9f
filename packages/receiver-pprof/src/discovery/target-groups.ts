/**
 * Prometheus target groups — the list of `{targets: ["host:port", ...], labels: {...}}` that
 * file_sd files and HTTP SD endpoints hold — and how a discovered target's labels become a
 * scrape target: keep/drop rules, then `labels_to` for service/env/version, the other labels
 * as tags.
 */
import { ProfcolError } from '@profcol/core';
import { anchoredRegex, checkLabelName } from './config.js';
import type { PprofReceiverConfig, PprofTargetConfig } from '../config.js';

export type Labels = Record<string, string>;

/** Targets found together, each a label set holding at least `__address__`. */
export interface TargetGroup {
  /** Where they came from (a file path, a URL, a DNS name), for logs. */
  source: string;
  targets: Labels[];
}

/** Why a discovery read failed: the `reason` label of `profcol_receiver_discovery_failures_total`. */
export type DiscoveryFailureReason =
  | 'read'
  | 'parse'
  | 'invalid'
  | 'watch'
  | 'connect'
  | 'reset'
  | 'timeout'
  | 'http_status'
  | 'content_type'
  | 'too_large'
  | 'dns'
  | 'network';

export class DiscoveryError extends ProfcolError {
  constructor(
    readonly reason: DiscoveryFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('discovery', message, options);
  }
}

/**
 * The target groups of a parsed file_sd file or HTTP SD answer, each target's labels being the
 * group's labels plus `__address__` and `meta`. Throws `DiscoveryError('invalid')` naming the
 * first problem's place (`[2].labels.team`) so the author can find it.
 */
export function targetGroupsOf(document: unknown, source: string, meta: Labels): TargetGroup[] {
  const where = (path: string) => `${source}: ${path}`;
  if (document === null || document === undefined) return [];
  if (!Array.isArray(document))
    throw new DiscoveryError('invalid', `${source}: expected a list of target groups ({targets: ["host:port", ...], labels: {...}}), got ${kindOf(document)}`);
  return document.map((group: unknown, i): TargetGroup => {
    if (group === null || typeof group !== 'object' || Array.isArray(group))
      throw new DiscoveryError('invalid', `${where(`[${i}]`)}: expected a map with targets and labels, got ${kindOf(group)}`);
    const { targets, labels = {}, ...rest } = group as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0)
      throw new DiscoveryError('invalid', `${where(`[${i}]`)}: unknown key ${JSON.stringify(unknown[0])} (a target group has targets and labels)`);
    if (!Array.isArray(targets)) throw new DiscoveryError('invalid', `${where(`[${i}].targets`)}: expected a list of "host:port", got ${kindOf(targets)}`);
    if (labels === null || typeof labels !== 'object' || Array.isArray(labels))
      throw new DiscoveryError('invalid', `${where(`[${i}].labels`)}: expected a map of label names to strings, got ${kindOf(labels)}`);
    const groupLabels: Labels = {};
    for (const [name, value] of Object.entries(labels as Record<string, unknown>)) {
      const badName = checkLabelName(name);
      if (badName) throw new DiscoveryError('invalid', `${where(`[${i}].labels`)}: ${badName}`);
      if (typeof value !== 'string')
        throw new DiscoveryError(
          'invalid',
          `${where(`[${i}].labels.${name}`)}: expected a string, got ${kindOf(value)} (Prometheus label values are strings: quote it)`,
        );
      groupLabels[name] = value;
    }
    return {
      source,
      targets: targets.map((address: unknown, j) => {
        if (typeof address !== 'string' || address.trim() === '')
          throw new DiscoveryError('invalid', `${where(`[${i}].targets[${j}]`)}: expected "host:port", got ${kindOf(address)}`);
        return { ...groupLabels, ...meta, __address__: address.trim() };
      }),
    };
  });
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${JSON.stringify(value)}`;
}

export type RelabelRule = PprofReceiverConfig['relabel'][number];

/** Compiled keep/drop rules: whether a target's labels survive them, and which rule dropped it. */
export function compileRules(rules: readonly RelabelRule[]): (labels: Labels) => number | undefined {
  const compiled = rules.map((rule) => ({ ...rule, re: anchoredRegex(rule.regex) }));
  return (labels) => {
    for (const [i, rule] of compiled.entries()) {
      const value = rule.source_labels.map((name) => labels[name] ?? '').join(rule.separator);
      const matches = rule.re.test(value);
      if (rule.action === 'keep' ? !matches : matches) return i;
    }
    return undefined;
  };
}

/**
 * The scrape target a discovered label set stands for: `<__scheme__>://<__address__>`, the
 * `labels_to` labels as service/env/version, every other label not starting with `__` as a tag
 * (Prometheus drops the `__` labels after relabelling too). Throws a message for an address
 * that is no `host:port`.
 */
export function targetConfigOf(labels: Labels, labelsTo: PprofReceiverConfig['labels_to']): PprofTargetConfig {
  const address = labels.__address__ ?? '';
  const scheme = labels.__scheme__ ?? 'http';
  if (scheme !== 'http' && scheme !== 'https') throw new Error(`__scheme__ ${JSON.stringify(scheme)} is neither http nor https`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address))
    throw new Error(`address ${JSON.stringify(address)} has a scheme; write "host:port" (the scheme comes from the discovery's scheme or a __scheme__ label)`);
  let url: URL;
  try {
    url = new URL(`${scheme}://${address}`);
  } catch {
    throw new Error(`address ${JSON.stringify(address)} is not "host:port"`);
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || !url.hostname) throw new Error(`address ${JSON.stringify(address)} is not "host:port"`);
  const used = new Set<string>([labelsTo.service, labelsTo.env, labelsTo.version]);
  const tags: Labels = {};
  for (const [name, value] of Object.entries(labels)) if (!name.startsWith('__') && !used.has(name)) tags[name] = value;
  return {
    url: `${scheme}://${address}`,
    service: labels[labelsTo.service] ?? '',
    env: labels[labelsTo.env] ?? '',
    version: labels[labelsTo.version] ?? '',
    tags,
    // Discovered targets take the receiver-level settings of these.
    enabled_types: undefined,
    path_prefix: undefined,
    bearer_token: undefined,
    bearer_token_file: undefined,
    memstats: undefined,
  };
}
