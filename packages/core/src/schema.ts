/**
 * A small configuration schema language. One schema is the single source of a component's
 * defaults, its TypeScript type (`Infer<typeof schema>`), its validation errors and the
 * table in its README (`describeSchema`).
 */
import { formatBytes, formatDurationMs, parseBytes, parseDurationMs } from './units.js';

export interface SchemaIssue {
  /** Keys from the schema's root down to the offending value. */
  path: string[];
  message: string;
}

export interface ParseContext {
  issues: SchemaIssue[];
}

export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

export interface SchemaOptions<T> {
  description?: string;
  /** The default, written as a user would write it in YAML (`'10s'`, `'32MiB'`). */
  default?: unknown;
  /** Checks the parsed value; returns a message when it is wrong. */
  check?: (value: T) => string | undefined;
  /** A credential (API key, token): no message ever shows what was written. */
  secret?: boolean;
}

export abstract class Schema<T> {
  readonly description: string | undefined;
  readonly defaultInput: unknown;
  readonly hasDefault: boolean;
  readonly isOptional: boolean;
  readonly isSecret: boolean;
  // `any` keeps schemas of different value types assignable to Schema<unknown>.
  protected readonly checkValue: ((value: any) => string | undefined) | undefined;

  constructor(options: SchemaOptions<T> & { optional?: boolean } = {}) {
    this.description = options.description;
    this.defaultInput = options.default;
    this.hasDefault = 'default' in options && options.default !== undefined;
    this.isOptional = options.optional ?? false;
    this.isSecret = options.secret ?? false;
    this.checkValue = options.check;
  }

  /** The type as shown in documentation (`duration`, `string[]`). */
  abstract get typeName(): string;

  protected abstract parseValue(input: unknown, ctx: ParseContext, path: string[]): T | Invalid;

  /** Parses `input` (undefined when the key is absent), recording problems in `ctx`. */
  parseAt(input: unknown, ctx: ParseContext, path: string[]): T | Invalid {
    if (!this.isSecret) return this.parseShown(input, ctx, path);
    const first = ctx.issues.length;
    try {
      return this.parseShown(input, ctx, path);
    } finally {
      const texts = stringsIn(input);
      for (const issue of ctx.issues.slice(first)) issue.message = redactValues(issue.message, texts, 'a secret (not shown)');
    }
  }

  private parseShown(input: unknown, ctx: ParseContext, path: string[]): T | Invalid {
    if (input === undefined || input === null) {
      if (this.hasDefault) input = structuredClone(this.defaultInput);
      else if (this.isOptional) return undefined as T;
      else if (this.implicitDefault() !== undefined) input = this.implicitDefault();
      else {
        ctx.issues.push({ path, message: 'is required' });
        return INVALID;
      }
    }
    const value = this.parseValue(input, ctx, path);
    if (value === INVALID || !this.checkValue) return value;
    const problem = this.checkValue(value);
    if (problem) {
      ctx.issues.push({ path, message: problem });
      return INVALID;
    }
    return value;
  }

  /** Objects and arrays fall back to their empty form when every field can. */
  protected implicitDefault(): unknown {
    return undefined;
  }

  /** Parses a whole value; throws nothing, returns the value or the issues. */
  parse(input: unknown): { ok: true; value: T } | { ok: false; issues: SchemaIssue[] } {
    const ctx: ParseContext = { issues: [] };
    const value = this.parseAt(input, ctx, []);
    if (value === INVALID || ctx.issues.length > 0) return { ok: false, issues: ctx.issues };
    return { ok: true, value };
  }

  /** The default as a user reads it in the docs. */
  get defaultText(): string {
    if (!this.hasDefault) {
      const implicit = this.implicitDefault();
      if (implicit !== undefined) return Object.keys(implicit as object).length === 0 && !(this instanceof ObjectSchema) ? '{}' : '';
      return this.isOptional ? '' : 'required';
    }
    return JSON.stringify(this.defaultInput);
  }
}

type Infer<S> = S extends Schema<infer T> ? T : never;
export type { Infer };

/** Every string in a value, its numbers as written too: what a message about it might echo. */
function stringsIn(value: unknown, out: string[] = [], depth = 0): string[] {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number' || typeof value === 'bigint') out.push(String(value));
  else if (value !== null && typeof value === 'object' && depth < 8) for (const item of Object.values(value)) stringsIn(item, out, depth + 1);
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `message` with each of `texts` replaced by `mention`: quoted (`"TopSecret"`, as messages quote
 * strings) or bare. Bare texts shorter than 4 characters are left alone: replacing every `1`
 * would garble the rest of the message, and so short a value is no credential.
 */
export function redactValues(message: string, texts: readonly string[], mention: string): string {
  let out = message;
  for (const text of [...texts].sort((a, b) => b.length - a.length)) {
    if (text === '') continue;
    out = out.replaceAll(JSON.stringify(text), mention);
    if (text.length >= 4) out = out.replace(new RegExp(`(?<![\\w-])${escapeRegExp(text)}(?![\\w-])`, 'g'), mention);
  }
  return out;
}

function describeValue(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (Array.isArray(input)) return 'a list';
  if (input !== null && typeof input === 'object') return 'a map';
  return String(input);
}

export class StringSchema extends Schema<string> {
  readonly typeName: string = 'string';
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): string | Invalid {
    if (typeof input === 'string') return input;
    if (typeof input === 'number' || typeof input === 'boolean') return String(input);
    ctx.issues.push({ path, message: `expected a string, got ${describeValue(input)}` });
    return INVALID;
  }
}

export interface NumberOptions extends SchemaOptions<number> {
  min?: number;
  max?: number;
  integer?: boolean;
}

export class NumberSchema extends Schema<number> {
  readonly typeName: string;
  constructor(readonly options: NumberOptions = {}) {
    super(options);
    this.typeName = options.integer ? 'integer' : 'number';
  }
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): number | Invalid {
    // Strings are accepted because `${env:...}` expansion always yields text.
    const value = typeof input === 'string' && input.trim() !== '' ? Number(input) : input;
    if (typeof value !== 'number' || Number.isNaN(value)) {
      ctx.issues.push({ path, message: `expected a number, got ${describeValue(input)}` });
      return INVALID;
    }
    const { min, max, integer } = this.options;
    if (integer && !Number.isInteger(value)) return this.fail(ctx, path, `${value} is not a whole number`);
    if (min !== undefined && value < min) return this.fail(ctx, path, `${value} is below the minimum of ${min}`);
    if (max !== undefined && value > max) return this.fail(ctx, path, `${value} is above the maximum of ${max}`);
    return value;
  }
  private fail(ctx: ParseContext, path: string[], message: string): Invalid {
    ctx.issues.push({ path, message });
    return INVALID;
  }
}

export class BooleanSchema extends Schema<boolean> {
  readonly typeName: string = 'boolean';
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): boolean | Invalid {
    if (typeof input === 'boolean') return input;
    if (input === 'true' || input === 'false') return input === 'true';
    ctx.issues.push({ path, message: `expected true or false, got ${describeValue(input)}` });
    return INVALID;
  }
}

export interface DurationOptions extends SchemaOptions<number> {
  min?: string;
  max?: string;
}

/** A Go-style duration in YAML (`10s`), a number of milliseconds in code. */
export class DurationSchema extends Schema<number> {
  readonly typeName: string = 'duration';
  constructor(readonly options: DurationOptions = {}) {
    super(options);
  }
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): number | Invalid {
    let ms: number;
    try {
      if (typeof input !== 'string' && input !== 0) throw new Error(`expected a duration such as 10s, got ${describeValue(input)}`);
      ms = parseDurationMs(String(input));
    } catch (error) {
      ctx.issues.push({ path, message: (error as Error).message });
      return INVALID;
    }
    const { min, max } = this.options;
    if (min !== undefined && ms < parseDurationMs(min)) {
      ctx.issues.push({ path, message: `${input} is below the minimum of ${min}` });
      return INVALID;
    }
    if (max !== undefined && ms > parseDurationMs(max)) {
      ctx.issues.push({ path, message: `${input} is above the maximum of ${max}` });
      return INVALID;
    }
    return ms;
  }
  override get defaultText(): string {
    return typeof this.defaultInput === 'number' ? formatDurationMs(this.defaultInput) : super.defaultText.replaceAll('"', '');
  }
}

/** A size in YAML (`32MiB`), a number of bytes in code. */
export class BytesSchema extends Schema<number> {
  readonly typeName: string = 'size';
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): number | Invalid {
    try {
      if (typeof input !== 'string' && typeof input !== 'number') throw new Error(`expected a size such as 32MiB, got ${describeValue(input)}`);
      return parseBytes(input);
    } catch (error) {
      ctx.issues.push({ path, message: (error as Error).message });
      return INVALID;
    }
  }
  override get defaultText(): string {
    return typeof this.defaultInput === 'number' ? formatBytes(this.defaultInput) : super.defaultText.replaceAll('"', '');
  }
}

export class EnumSchema<T extends string> extends Schema<T> {
  readonly typeName: string;
  constructor(
    readonly values: readonly T[],
    options: SchemaOptions<T> = {},
  ) {
    super(options);
    this.typeName = values.map((v) => JSON.stringify(v)).join(' \\| ');
  }
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): T | Invalid {
    if (typeof input === 'string' && (this.values as readonly string[]).includes(input)) return input as T;
    ctx.issues.push({ path, message: `${describeValue(input)} is not one of ${this.values.map((v) => JSON.stringify(v)).join(', ')}` });
    return INVALID;
  }
}

export interface ArrayOptions<T> extends SchemaOptions<T[]> {
  minItems?: number;
}

export class ArraySchema<T> extends Schema<T[]> {
  constructor(
    readonly item: Schema<T>,
    readonly options: ArrayOptions<T> = {},
  ) {
    super(options);
  }
  get typeName(): string {
    return `${this.item.typeName}[]`;
  }
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): T[] | Invalid {
    if (!Array.isArray(input)) {
      ctx.issues.push({ path, message: `expected a list, got ${describeValue(input)}` });
      return INVALID;
    }
    if (this.options.minItems !== undefined && input.length < this.options.minItems) {
      ctx.issues.push({ path, message: `needs at least ${this.options.minItems} ${this.options.minItems === 1 ? 'item' : 'items'}` });
      return INVALID;
    }
    const out: T[] = [];
    let failed = false;
    input.forEach((element, index) => {
      const value = this.item.parseAt(element, ctx, [...path, String(index)]);
      if (value === INVALID) failed = true;
      else out.push(value);
    });
    return failed ? INVALID : out;
  }
}

export class RecordSchema<V> extends Schema<Record<string, V>> {
  constructor(
    readonly value: Schema<V>,
    options: SchemaOptions<Record<string, V>> = {},
  ) {
    super(options);
  }
  get typeName(): string {
    return `map of ${this.value.typeName}`;
  }
  protected override implicitDefault(): unknown {
    return {};
  }
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): Record<string, V> | Invalid {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      ctx.issues.push({ path, message: `expected a map, got ${describeValue(input)}` });
      return INVALID;
    }
    const out: Record<string, V> = {};
    let failed = false;
    for (const [key, raw] of Object.entries(input)) {
      const value = this.value.parseAt(raw, ctx, [...path, key]);
      if (value === INVALID) failed = true;
      else out[key] = value;
    }
    return failed ? INVALID : out;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Shape = Record<string, Schema<any>>;
type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

export interface ObjectOptions<T> extends SchemaOptions<T> {
  /** Keys that used to exist, each with where its setting went; writing one is an error saying so. */
  moved?: Record<string, string>;
}

export class ObjectSchema<S extends Shape> extends Schema<ObjectOf<S>> {
  readonly typeName: string = 'map';
  readonly moved: Record<string, string>;
  constructor(
    readonly shape: S,
    options: ObjectOptions<ObjectOf<S>> = {},
  ) {
    super(options);
    this.moved = options.moved ?? {};
  }
  protected override implicitDefault(): unknown {
    // An absent section is its defaults, as long as nothing inside it is required.
    const allDefaulted = Object.values(this.shape).every((f) => f.hasDefault || f.isOptional || f instanceof ObjectSchema || f instanceof RecordSchema);
    return allDefaulted ? {} : undefined;
  }
  protected parseValue(input: unknown, ctx: ParseContext, path: string[]): ObjectOf<S> | Invalid {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      ctx.issues.push({ path, message: `expected a map, got ${describeValue(input)}` });
      return INVALID;
    }
    const record = input as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let failed = false;
    for (const key of Object.keys(record)) {
      if (!(key in this.shape) && Object.hasOwn(this.moved, key)) {
        ctx.issues.push({ path: [...path, key], message: `"${key}" is no longer an option here: ${this.moved[key]}` });
        failed = true;
      } else if (!(key in this.shape)) {
        const hint = closestWord(key, Object.keys(this.shape));
        ctx.issues.push({ path: [...path, key], message: `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}` });
        failed = true;
      }
    }
    for (const [key, field] of Object.entries(this.shape)) {
      const value = field.parseAt(record[key], ctx, [...path, key]);
      if (value === INVALID) failed = true;
      else if (value !== undefined) out[key] = value;
    }
    return failed ? INVALID : (out as ObjectOf<S>);
  }
}

export class AnySchema extends Schema<unknown> {
  readonly typeName: string = 'any';
  protected parseValue(input: unknown): unknown {
    return input;
  }
}

/** Marks a field as optional: absent means `undefined`, with no default. */
function optional<T>(schema: Schema<T>): Schema<T | undefined> {
  Object.defineProperty(schema, 'isOptional', { value: true });
  return schema as Schema<T | undefined>;
}

/** The candidate closest to a mistyped `word`, when one is close enough to be what was meant. */
export function closestWord(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The schema builders: `s.object({ endpoint: s.string({ default: 'localhost:9529' }) })`. */
export const s = {
  string: (options?: SchemaOptions<string>) => new StringSchema(options),
  number: (options?: NumberOptions) => new NumberSchema(options),
  integer: (options?: NumberOptions) => new NumberSchema({ ...options, integer: true }),
  boolean: (options?: SchemaOptions<boolean>) => new BooleanSchema(options),
  duration: (options?: DurationOptions) => new DurationSchema(options),
  bytes: (options?: SchemaOptions<number>) => new BytesSchema(options),
  enum: <T extends string>(values: readonly T[], options?: SchemaOptions<T>) => new EnumSchema<T>(values, options),
  array: <T>(item: Schema<T>, options?: ArrayOptions<T>) => new ArraySchema<T>(item, options),
  record: <V>(value: Schema<V>, options?: SchemaOptions<Record<string, V>>) => new RecordSchema<V>(value, options),
  object: <S extends Shape>(shape: S, options?: ObjectOptions<ObjectOf<S>>) => new ObjectSchema<S>(shape, options),
  any: (options?: SchemaOptions<unknown>) => new AnySchema(options),
  optional,
};

export interface SchemaRow {
  path: string;
  type: string;
  default: string;
  description: string;
}

/** Flattens a schema into documentation rows (`targets[].url`, `string`, `required`, `...`). */
export function describeSchema(schema: Schema<unknown>, prefix = ''): SchemaRow[] {
  const rows: SchemaRow[] = [];
  if (schema instanceof ObjectSchema) {
    for (const [key, field] of Object.entries(schema.shape as Shape)) {
      const path = prefix ? `${prefix}.${key}` : key;
      rows.push({ path, type: field.typeName, default: field.defaultText, description: field.description ?? '' });
      rows.push(...describeSchema(field, path));
    }
  } else if (schema instanceof ArraySchema && schema.item instanceof ObjectSchema) {
    rows.push(...describeSchema(schema.item as Schema<unknown>, `${prefix}[]`));
  } else if (schema instanceof RecordSchema && schema.value instanceof ObjectSchema) {
    rows.push(...describeSchema(schema.value as Schema<unknown>, `${prefix}.<name>`));
  }
  return rows;
}

/** The rows of `describeSchema` as a Markdown table, for package READMEs. */
export function renderSchemaMarkdown(schema: Schema<unknown>): string {
  const lines = ['| key | type | default | description |', '| --- | --- | --- | --- |'];
  for (const row of describeSchema(schema)) {
    lines.push(`| \`${row.path}\` | ${row.type} | ${row.default ? `\`${row.default}\`` : ''} | ${row.description} |`);
  }
  return lines.join('\n');
}
