/**
 * The configuration of target discovery, in the shapes Prometheus users already write:
 * `file_sd` (file_sd_configs), `http_sd` (http_sd_configs), `dns_sd` (dns_sd_configs), and a
 * relabel-lite of keep/drop rules plus `labels_to`, which names the labels that become the
 * resource's service, env and version.
 */
import { basename, extname } from 'node:path';
import { checkHttpUrl, s } from '@profcol/core';

const scheme = () =>
  s.enum(['http', 'https'] as const, {
    default: 'http',
    description: "Scheme of the discovered targets' URLs (`<scheme>://<__address__>`); a target group label `__scheme__` overrides it, as in Prometheus.",
  });

/**
 * Prometheus' rule for file_sd patterns (discovery/file/file.go): a path ending in .json, .yml or
 * .yaml whose last element may hold `*` wildcards; the directories are taken literally.
 */
export function checkFilePattern(pattern: string): string | undefined {
  const extension = extname(pattern);
  if (!['.json', '.yml', '.yaml'].includes(extension))
    return `${JSON.stringify(pattern)} must end in .json, .yml or .yaml (the extension says how the file is read)`;
  const directory = pattern.slice(0, pattern.length - basename(pattern).length);
  if (/[*?[\]]/.test(directory))
    return `${JSON.stringify(pattern)}: only the file name may hold a wildcard (\`*\`), as in Prometheus; write the directories out`;
  if (/[?[\]]/.test(basename(pattern))) return `${JSON.stringify(pattern)}: the only wildcard is \`*\` (any run of characters), as in Prometheus`;
  return undefined;
}

/** A DNS server as `setServers` takes it: an IPv4 or IPv6 address, optionally with a port. */
export function checkDnsServer(server: string): string | undefined {
  const ipv4 = /^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/;
  const ipv6 = /^(\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$/;
  return ipv4.test(server) || ipv6.test(server)
    ? undefined
    : `${JSON.stringify(server)} is not a DNS server address (expected an IP with an optional port: 10.0.0.2, 127.0.0.1:5353, [::1]:53)`;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function checkLabelName(name: string): string | undefined {
  return LABEL_NAME.test(name) ? undefined : `${JSON.stringify(name)} is not a label name (letters, digits and _, not starting with a digit)`;
}

/** The regular expression of a rule, anchored at both ends as Prometheus anchors its RE2 expressions. */
export function anchoredRegex(regex: string): RegExp {
  return new RegExp(`^(?:${regex})$`, 'u');
}

function checkRegex(regex: string): string | undefined {
  try {
    anchoredRegex(regex);
    return undefined;
  } catch (error) {
    return `${JSON.stringify(regex)} is not a valid regular expression: ${(error as Error).message}`;
  }
}

export const discoveryShape = {
  file_sd: s.array(
    s.object({
      files: s.array(s.string({ check: checkFilePattern }), {
        minItems: 1,
        description:
          'Prometheus `file_sd_configs` files: paths ending in .json, .yml or .yaml whose file name may hold `*` (`targets/*.json`), relative to the working directory. Each holds a list of `{targets: ["host:port", ...], labels: {...}}`.',
      }),
      refresh_interval: s.duration({
        default: '5m',
        min: '1s',
        description: 'The files are watched (`fs.watch`) and, since watches miss events on some filesystems, also re-read this often, as Prometheus does.',
      }),
      scheme: scheme(),
    }),
    {
      default: [],
      description:
        'Targets from files (Prometheus `file_sd_configs`). A file that cannot be read or parsed keeps its previous targets (counted, logged); a deleted file removes its targets.',
    },
  ),
  http_sd: s.array(
    s.object({
      url: s.string({
        description: 'URL answering GET with the Prometheus HTTP SD JSON: a list of `{targets: [...], labels: {...}}` (`Content-Type: application/json`).',
        check: (value) => checkHttpUrl(value, { example: 'http://localhost:8000/targets' }),
      }),
      refresh_interval: s.duration({ default: '60s', min: '1s', description: "Time between two GETs (Prometheus' default: 60s)." }),
      scheme: scheme(),
    }),
    {
      default: [],
      description:
        'Targets from an HTTP endpoint (Prometheus `http_sd_configs`). A failed GET keeps the last good list (counted, logged). Each request is bounded by `timeout` and `max_body_bytes`.',
    },
  ),
  dns_sd: s.array(
    s.object({
      names: s.array(s.string(), { minItems: 1, description: 'DNS names to query (`_pprof._tcp.example.com` for SRV).' }),
      type: s.enum(['SRV', 'A', 'AAAA'] as const, {
        default: 'SRV',
        description: 'Record type: `SRV` (target and port from each record), `A` or `AAAA` (each address with `port`).',
      }),
      port: s.optional(s.integer({ min: 1, max: 65535, description: 'Port of the targets found by `A`/`AAAA` queries (required for them).' })),
      refresh_interval: s.duration({ default: '30s', min: '1s', description: "Time between two queries (Prometheus' default: 30s)." }),
      servers: s.array(s.string({ check: checkDnsServer }), {
        default: [],
        description: "DNS servers to ask (`10.0.0.2`, `127.0.0.1:5353`); empty: the system resolver's (`/etc/resolv.conf`).",
      }),
      scheme: scheme(),
    }),
    {
      default: [],
      description:
        "Targets from DNS (Prometheus `dns_sd_configs`), through `node:dns`. A name with no records has no targets; a failed query keeps that name's last answer (counted, logged).",
    },
  ),
  relabel: s.array(
    s.object({
      action: s.enum(['keep', 'drop'] as const, { description: '`keep`: only targets whose value matches stay; `drop`: targets whose value matches go.' }),
      source_labels: s.array(s.string({ check: checkLabelName }), {
        minItems: 1,
        description:
          "Labels whose values, joined by `separator`, are matched: any target group label, `__address__`, `__scheme__`, and each mechanism's `__meta_*` labels.",
      }),
      separator: s.string({ default: ';', description: 'Joins the values of `source_labels`.' }),
      regex: s.string({
        default: '(.*)',
        check: checkRegex,
        description: 'A JavaScript regular expression, anchored at both ends as Prometheus anchors its own.',
      }),
    }),
    {
      default: [],
      description:
        'Keep/drop rules applied in order to every discovered target (not to static `targets`), like Prometheus `relabel_configs` with `action: keep|drop`.',
    },
  ),
  labels_to: s.object(
    {
      service: s.string({ default: 'service', check: checkLabelName, description: 'Label whose value becomes the resource `service`.' }),
      env: s.string({ default: 'env', check: checkLabelName, description: 'Label whose value becomes the resource `env`.' }),
      version: s.string({ default: 'version', check: checkLabelName, description: 'Label whose value becomes the resource `version`.' }),
    },
    { default: {}, description: 'Which labels of a discovered target become service/env/version; its other labels (except `__*`) become tags.' },
  ),
};
