import { s, type Infer } from '@profcol/core';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function nonEmptyKeys(record: Record<string, string>): string | undefined {
  return Object.keys(record).some((key) => key.trim() === '') ? 'tag names must not be empty' : undefined;
}

export const TagsConfig = s.object({
  match: s.object(
    {
      service: s.optional(s.array(s.string(), { minItems: 1, description: 'Only bundles and points whose `service` is one of these.' })),
      env: s.optional(s.array(s.string(), { minItems: 1, description: 'Only bundles and points whose `env` is one of these.' })),
    },
    { default: {}, description: 'Which bundles and points the rules apply to (default: all). Both keys given: both must match.' },
  ),
  set: s.record(s.string(), {
    default: {},
    check: nonEmptyKeys,
    description: 'Static tags, `name: value`. Values may use `${env:VAR}` (expanded when the configuration is loaded).',
  }),
  from_env: s.record(s.string(), {
    default: {},
    check: (record) =>
      nonEmptyKeys(record) ??
      Object.values(record)
        .map((name) => (ENV_NAME.test(name) ? undefined : `"${name}" is not an environment variable name (letters, digits, _)`))
        .find(Boolean),
    description:
      'Tags from environment variables of the collector, `tag: VARIABLE`, read once at start. An unset or empty variable sets nothing (logged and counted).',
  }),
  from_resource: s.record(s.string(), {
    default: {},
    check: nonEmptyKeys,
    description: 'Tags copied from the resource of each bundle or point, `tag: resource_key` (e.g. `instance: instance`). An absent key sets nothing.',
  }),
  rename: s.record(s.string({ check: (to) => (to.trim() === '' ? 'the new name must not be empty' : undefined) }), {
    default: {},
    description: 'Renames received tags, `old: new`, in the order written.',
  }),
  drop: s.array(s.string(), { default: [], description: 'Received tags to remove.' }),
  keep: s.optional(
    s.array(s.string(), {
      description: 'When set, received tags not listed here are removed (an allow list). Tags this processor adds are always kept.',
    }),
  ),
  detect_host: s.boolean({
    default: false,
    description: "Add `host` (this machine's hostname) and `ip` (its first non-loopback IPv4 address, else IPv6), detected once at start.",
  }),
  override: s.boolean({
    default: false,
    description: 'What wins when a tag this processor adds (or a rename target) already exists: `false` keeps the existing value, `true` replaces it.',
  }),
  apply_to: s.array(s.enum(['bundles', 'metrics'] as const), {
    default: ['bundles', 'metrics'],
    minItems: 1,
    description: '`bundles`: the tags of profile bundles. `metrics`: the attributes of metric points.',
  }),
});

export type TagsConfig = Infer<typeof TagsConfig>;
