/**
 * A JSON Schema (draft 2020-12) of the whole configuration, built from the same component
 * schemas that validate it, for editors: with a `# yaml-language-server: $schema=…` line,
 * VS Code's YAML extension completes keys, shows descriptions and defaults, and flags typos.
 *
 * It describes what a file may contain, not every check `validate` makes: `${env:VAR}` may
 * stand for any scalar, and checks written as code (a listen address, a minimum interval)
 * stay with `validate`.
 */
import type { ComponentKind } from './component.js';
import { ServiceConfig } from './graph.js';
import type { ComponentRegistry } from './plugin.js';
import {
  ArraySchema,
  BooleanSchema,
  BytesSchema,
  DurationSchema,
  EnumSchema,
  NumberSchema,
  ObjectSchema,
  RecordSchema,
  StringSchema,
  type Schema,
} from './schema.js';

export type JsonSchema = { [key: string]: unknown };

/** `${env:VAR}` (or `${VAR}`) anywhere in a string: substituted before validation. */
const ENV_REFERENCE = { type: 'string', pattern: '\\$\\{' };
/** What parseDurationMs accepts: `0` or Go-style units (`10s`, `1m30s`). */
const DURATION_PATTERN = '^(0|(\\d+(\\.\\d+)?(ns|us|µs|ms|s|m|h))+)$';
/** What parseBytes accepts: a number of bytes or one with a unit (`32MiB`, `1GB`). */
const BYTES_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([bB]|[kKmMgG][bB]|[kKmMgG]i[bB])?\\s*$';

function annotate(schema: Schema<unknown>, json: JsonSchema): JsonSchema {
  if (schema.description) json.description = schema.description;
  if (schema.hasDefault) json.default = schema.defaultInput;
  return json;
}

/** A scalar that may also be written as an `${env:…}` reference. */
function scalar(json: JsonSchema): JsonSchema {
  return { anyOf: [json, ENV_REFERENCE] };
}

/** The JSON Schema of one configuration schema (a component's `config`, or a part of it). */
export function jsonSchemaOf(schema: Schema<unknown>): JsonSchema {
  if (schema instanceof ObjectSchema) {
    const properties: JsonSchema = {};
    const required: string[] = [];
    for (const [key, field] of Object.entries(schema.shape as Record<string, Schema<unknown>>)) {
      properties[key] = jsonSchemaOf(field);
      if (field.defaultText === 'required') required.push(key); // no default, not optional, no implicit default
    }
    return annotate(schema, { type: 'object', properties, ...(required.length > 0 ? { required } : {}), additionalProperties: false });
  }
  if (schema instanceof RecordSchema) return annotate(schema, { type: 'object', additionalProperties: jsonSchemaOf(schema.value as Schema<unknown>) });
  if (schema instanceof ArraySchema) {
    const { minItems } = schema.options;
    return annotate(schema, { type: 'array', items: jsonSchemaOf(schema.item as Schema<unknown>), ...(minItems !== undefined ? { minItems } : {}) });
  }
  if (schema instanceof EnumSchema) return annotate(schema, { enum: [...schema.values] });
  if (schema instanceof StringSchema) return annotate(schema, { type: 'string' });
  if (schema instanceof BooleanSchema) return annotate(schema, scalar({ type: 'boolean' }));
  if (schema instanceof NumberSchema) {
    const { min, max, integer } = schema.options;
    return annotate(
      schema,
      scalar({ type: integer ? 'integer' : 'number', ...(min !== undefined ? { minimum: min } : {}), ...(max !== undefined ? { maximum: max } : {}) }),
    );
  }
  if (schema instanceof DurationSchema) return annotate(schema, { anyOf: [{ type: 'string', pattern: DURATION_PATTERN }, { const: 0 }, ENV_REFERENCE] });
  if (schema instanceof BytesSchema)
    return annotate(schema, { anyOf: [{ type: 'string', pattern: BYTES_PATTERN }, { type: 'integer', minimum: 0 }, ENV_REFERENCE] });
  return annotate(schema, {});
}

const SECTIONS: [string, ComponentKind][] = [
  ['receivers', 'receiver'],
  ['processors', 'processor'],
  ['exporters', 'exporter'],
  ['extensions', 'extension'],
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The schema of a whole configuration file: `plugins`, each component section with one entry
 * per registered type (ids `type` or `type/name`), and `service`. Pass the registry of the
 * configuration (built-ins plus the plugins it names) to cover third-party components too.
 */
export function configJsonSchema(registry: ComponentRegistry, options: { id?: string } = {}): JsonSchema {
  const sections: JsonSchema = {};
  for (const [section, kind] of SECTIONS) {
    const patternProperties: JsonSchema = {};
    const properties: JsonSchema = {};
    for (const { factory } of registry.list()) {
      if (factory.kind !== kind) continue;
      const component = jsonSchemaOf(factory.config);
      if (factory.description && !component.description) component.description = factory.description;
      // The bare type as a property (so editors offer it), and `type/name` by pattern.
      properties[factory.type] = component;
      patternProperties[`^${escapeRegExp(factory.type)}/[^/\\s]+$`] = component;
    }
    sections[section] = {
      type: 'object',
      description: `${kind[0]!.toUpperCase()}${kind.slice(1)}s by id: \`type\` or \`type/name\`.`,
      properties,
      patternProperties,
      additionalProperties: false,
    };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    ...(options.id ? { $id: options.id } : {}),
    title: 'profcol configuration',
    type: 'object',
    properties: {
      plugins: { type: 'array', items: { type: 'string' }, description: 'Packages (names or paths) whose components this configuration uses.' },
      ...sections,
      service: jsonSchemaOf(ServiceConfig as unknown as Schema<unknown>),
    },
    additionalProperties: false,
  };
}
