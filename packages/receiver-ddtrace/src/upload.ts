/**
 * Turns the parts of one dd-trace upload into one ProfileBundle, checking everything first:
 * the event, the window, that every listed attachment is there, and that every attachment
 * decompresses (once, under the cap) and, for pprof attachments, decodes.
 *
 * Formats: v4 (`event` part, dd-trace-go ≥ 1.42, dd-trace-js ≥ 5.5), v3 (`version=3` field and
 * `data[<file>]` parts, dd-trace-go 1.29–1.41) and v1 (`recording-start`, `tags[]`,
 * `types[i]`, `data[i]`: dd-trace-go 1.23–1.28 and older dd-trace-js).
 */
import { MemoryBudgetError, type Attachment, type Profile, type ProfileBundle, type Reservation } from '@profcol/core';
import { DecodeWorkerError, sniffEncoding, stackFiltersFor, type DecodeOutcome, type DecodeRequest, type ProfileDecoder } from '@profcol/pprof';
import { UploadError } from './errors.js';
import { preview, type Part } from './multipart.js';
import { buildResource, parseTagList, splitTag, type RepeatedTag } from './tags.js';
import { parseRfc3339Nanos } from './time.js';
import { windowProblem, type WindowBounds } from './window.js';

export type UploadFormat = 'v4' | 'v3' | 'v1';

export interface InterpretOptions {
  /** The receiver's component id, the bundle's `source`. */
  source: string;
  keepAttachments: boolean;
  hostTag: 'upload' | 'receiver';
  receiverHost: string;
  /** `X-Datadog-Additional-Tags`, set by a Datadog agent that forwards the upload. */
  additionalTags?: string | undefined;
  /**
   * The receiver's clock and how far from it a window may lie. Without it only windows that
   * 64-bit Unix nanoseconds cannot represent are refused.
   */
  windowBounds?: WindowBounds | undefined;
}

export interface InterpretedUpload {
  format: UploadFormat;
  bundle: ProfileBundle;
  /** Attachment names not kept (`keep_attachments: false`). */
  dropped: string[];
  /** `runtime-id/profile_seq`, when both are known. */
  dedupKey: string | undefined;
  /** What the bundle holds, for the log line. */
  summary: { profiles: string[]; attachments: string[]; metrics: number; encodings: Record<string, string> };
}

/** One attachment of an upload, whatever the format called it. */
interface RawAttachment {
  /** The attachment name (`cpu.pprof`, `metrics.json`, `go.trace`). */
  name: string;
  data: Buffer;
  /** Legacy v1 only: the profile type guessed from `types[i]` or the filename. */
  legacyType?: string;
}

interface RawUpload {
  format: UploadFormat;
  start: { field: string; value: unknown };
  end: { field: string; value: unknown };
  tags: [string, string][];
  fields: { language?: string; runtime?: string; family?: string; runtime_version?: string };
  attachments: RawAttachment[];
}

/**
 * The profile type of a pprof attachment by its name; `delta-` names were already delta'd by the client.
 * This is profcol's one mapping from push-client profile names to profile types.
 */
const PROFILE_NAMES: Record<string, { type: string; delta?: boolean }> = {
  'cpu.pprof': { type: 'cpu' },
  'heap.pprof': { type: 'heap' },
  'delta-heap.pprof': { type: 'heap', delta: true },
  'block.pprof': { type: 'block' },
  'delta-block.pprof': { type: 'block', delta: true },
  'mutex.pprof': { type: 'mutex' },
  'delta-mutex.pprof': { type: 'mutex', delta: true },
  'goroutines.pprof': { type: 'goroutine' },
  'goroutineswait.pprof': { type: 'goroutineswait' },
  'goroutineleak.pprof': { type: 'goroutineleak' },
  'wall.pprof': { type: 'wall' },
  'space.pprof': { type: 'space' },
};

/** pprof attachments kept opaque: `events.pprof` is dd-trace-js's timeline of GC/fs/net events, not a sampled profile. */
const OPAQUE_PPROF = new Set(['events.pprof']);

/** How an attachment name is handled: a profile (typed), runtime metrics, or an opaque attachment. */
export function classifyAttachment(name: string): { kind: 'profile'; type: string; delta: boolean } | { kind: 'metrics' } | { kind: 'opaque'; pprof: boolean } {
  if (name === 'metrics.json') return { kind: 'metrics' };
  if (OPAQUE_PPROF.has(name)) return { kind: 'opaque', pprof: true };
  const known = PROFILE_NAMES[name];
  if (known) return { kind: 'profile', type: known.type, delta: known.delta ?? false };
  const match = /^(delta-)?([A-Za-z0-9_.-]+)\.pprof$/.exec(name);
  if (match) return { kind: 'profile', type: match[2]!, delta: match[1] !== undefined };
  return { kind: 'opaque', pprof: false };
}

/**
 * An upload whose event, tags and window were read and checked, but whose attachments are not
 * decompressed yet. The de-duplication key is known at this point, so a retried copy of an
 * upload already accepted costs no decompression.
 */
export interface ReadUpload {
  format: UploadFormat;
  resource: ProfileBundle['resource'];
  /** `runtime-id/profile_seq`, when both are known. */
  dedupKey: string | undefined;
  /** Tag keys the upload gives twice with different values (the last value is kept). */
  repeatedTags: RepeatedTag[];
  /**
   * Decompresses and checks every attachment (as one job on the decode workers, under
   * `service.limits.max_decompressed_bytes`, charged to `reservation`) and builds the bundle;
   * throws `UploadError`.
   */
  inflate(decoder: ProfileDecoder, options?: { signal?: AbortSignal; reservation?: Reservation }): Promise<InterpretedUpload>;
}

/** Reads one upload up to its attachments (format, event, tags, window); throws `UploadError` naming what is wrong. */
export function readUpload(parts: Part[], options: InterpretOptions): ReadUpload {
  const raw = readFormat(parts);
  const window = parseWindow(raw, options.windowBounds);
  const { resource, tags, repeated } = buildResource({
    tags: raw.tags,
    fields: raw.fields,
    additional: options.additionalTags ? parseTagList(options.additionalTags) : [],
    hostTag: options.hostTag,
    receiverHost: options.receiverHost,
  });
  const dedupKey = resource.runtime_id !== undefined && resource.profile_seq !== undefined ? `${resource.runtime_id}/${resource.profile_seq}` : undefined;
  return {
    format: raw.format,
    resource,
    dedupKey,
    repeatedTags: repeated,
    inflate: (decoder, inflateOptions = {}) => inflateUpload(raw, { resource, tags, window, dedupKey }, options, decoder, inflateOptions),
  };
}

/** Interprets and checks one upload completely; throws `UploadError` naming what is wrong. */
export function interpretUpload(parts: Part[], options: InterpretOptions, decoder: ProfileDecoder): Promise<InterpretedUpload> {
  return readUpload(parts, options).inflate(decoder);
}

/** An attachment that is neither a profile, nor runtime metrics, nor a pprof kept opaque (`events.pprof`). */
function isDroppedOpaque(name: string): boolean {
  const kind = classifyAttachment(name);
  return kind.kind === 'opaque' && !kind.pprof;
}

function zip<A, B>(as: readonly A[], bs: readonly B[]): [A, B][] {
  return as.map((a, i) => [a, bs[i]!]);
}

/** What the decoder is asked for each attachment: legacy v1 attachments are told apart by their content. */
function decodeRequest(attachment: RawAttachment): DecodeRequest {
  if (attachment.legacyType) {
    return attachment.legacyType === 'metrics'
      ? { bytes: attachment.data, summarize: 'none' }
      : { bytes: attachment.data, summarize: 'pprof_unless_json', stackFilters: stackFiltersFor(attachment.legacyType) };
  }
  const kind = classifyAttachment(attachment.name);
  if (kind.kind === 'profile') return { bytes: attachment.data, summarize: 'pprof', stackFilters: stackFiltersFor(kind.type) };
  return { bytes: attachment.data, summarize: kind.kind === 'opaque' && kind.pprof ? 'pprof' : 'none' };
}

async function inflateUpload(
  raw: RawUpload,
  read: { resource: ProfileBundle['resource']; tags: ProfileBundle['tags']; window: ProfileBundle['window']; dedupKey: string | undefined },
  options: InterpretOptions,
  decoder: ProfileDecoder,
  inflateOptions: { signal?: AbortSignal; reservation?: Reservation },
): Promise<InterpretedUpload> {
  const profiles: Profile[] = [];
  const attachments: Attachment[] = [];
  const dropped: string[] = [];
  const encodings: Record<string, string> = {};
  let runtimeMetrics: Record<string, number> | undefined;
  // An opaque attachment that is dropped (go.trace, keep_attachments: false) is not decompressed:
  // nothing would read it, and dd-trace-go's execution trace costs more to inflate than all the
  // profiles of its upload together (measured on test/fixtures/ddtrace-go-v2).
  const skipped = (attachment: RawAttachment) => !options.keepAttachments && !attachment.legacyType && isDroppedOpaque(attachment.name);
  const toDecode = raw.attachments.filter((attachment) => !skipped(attachment));
  // One job for the whole upload: max_decompressed_bytes bounds all its attachments together.
  const outcomes = new Map(zip(toDecode, await decoder.decodeAll(toDecode.map(decodeRequest), inflateOptions)));
  raw.attachments.forEach((attachment) => {
    const { name, data } = attachment;
    const outcome = outcomes.get(attachment);
    if (!outcome) {
      encodings[name] = sniffEncoding(data);
      dropped.push(name);
      return;
    }
    encodings[name] = outcome.encoding;
    if (!outcome.ok) throw attachmentError(name, data, outcome, decoder.maxDecompressedBytes);
    const plain = outcome.plain;
    const kind = attachment.legacyType ? legacyKind(attachment.legacyType, plain) : classifyAttachment(name);
    if (kind.kind === 'metrics') {
      if (runtimeMetrics) throw new UploadError('duplicate_part', `the upload carries runtime metrics twice (second: ${JSON.stringify(name)})`);
      runtimeMetrics = parseRuntimeMetrics(name, plain);
    } else if (kind.kind === 'profile') {
      profiles.push({ type: kind.type, name, data, decoded: outcome.decoded!, ...(kind.delta ? { delta: true } : {}) });
    } else {
      if (options.keepAttachments) attachments.push({ name, data });
      else dropped.push(name);
    }
  });

  const bundle: ProfileBundle = {
    source: options.source,
    resource: read.resource,
    tags: read.tags,
    window: read.window,
    profiles,
    ...(runtimeMetrics ? { runtimeMetrics } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
  };
  return {
    format: raw.format,
    bundle,
    dropped,
    dedupKey: read.dedupKey,
    summary: {
      profiles: profiles.map((p) => p.name),
      attachments: attachments.map((a) => a.name),
      metrics: Object.keys(runtimeMetrics ?? {}).length,
      encodings,
    },
  };
}

/** The refusal for an attachment the decoder could not decompress or decode. */
function attachmentError(name: string, data: Buffer, outcome: Extract<DecodeOutcome, { ok: false }>, maxBytes: number): Error {
  const { error, encoding, decompressedBefore: used } = outcome;
  const kind = (error as { kind?: string }).kind;
  const what = `attachment ${JSON.stringify(name)} (${encoding}, ${data.length} bytes)`;
  if (kind === 'too_large') {
    return new UploadError(
      'decompressed_too_large',
      used === 0
        ? `${what} decompresses to more than service::limits::max_decompressed_bytes (${maxBytes} bytes)`
        : `${what} takes the upload past service::limits::max_decompressed_bytes (${maxBytes} bytes for all attachments of one upload): the attachments before it already decompressed to ${used} bytes, and it needs more than the ${maxBytes - used} left`,
      { cause: error },
    );
  }
  if (kind === 'pprof') {
    const codec = encoding === 'none' ? 'uncompressed' : `${encoding}-decompressed`;
    return new UploadError(
      'bad_attachment',
      `attachment ${JSON.stringify(name)} is not a valid pprof profile (${codec}, ${outcome.plainBytes ?? 0} bytes): ${error.message}`,
      { cause: error },
    );
  }
  if (kind === 'decompress') return new UploadError('bad_attachment', `${what} cannot be decompressed: ${error.message}`, { cause: error });
  // memory_budget, a dead worker: not the upload's fault; the receiver answers 503 to retry.
  if (error instanceof MemoryBudgetError || error instanceof DecodeWorkerError) return error;
  return new UploadError('internal_error', `${what} could not be decoded: ${error.message}`, { cause: error });
}

/** dd-trace-go's `metrics.json`: `[["go_num_goroutine", 26], …]` (a `{name: number}` map is accepted too). */
export function parseRuntimeMetrics(name: string, plain: Uint8Array): Record<string, number> {
  const text = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UploadError('bad_metrics', `attachment ${JSON.stringify(name)} is not JSON (${(error as Error).message}); it begins "${preview(plain)}"`);
  }
  const out: Record<string, number> = {};
  const what = (entry: unknown) => JSON.stringify(entry)?.slice(0, 60);
  if (Array.isArray(value)) {
    value.forEach((entry: unknown, index) => {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
        throw new UploadError('bad_metrics', `attachment ${JSON.stringify(name)}: entry ${index} is ${what(entry)}; expected a [name, number] pair`);
      }
      out[entry[0]] = entry[1];
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [key, number] of Object.entries(value)) {
      if (typeof number !== 'number')
        throw new UploadError('bad_metrics', `attachment ${JSON.stringify(name)}: ${JSON.stringify(key)} is ${what(number)}; expected a number`);
      out[key] = number;
    }
  } else {
    throw new UploadError('bad_metrics', `attachment ${JSON.stringify(name)} must be a JSON list of [name, number] pairs; got ${what(value)}`);
  }
  return out;
}

function parseWindow(raw: RawUpload, bounds: WindowBounds | undefined): { startNanos: bigint; endNanos: bigint } {
  const read = ({ field, value }: { field: string; value: unknown }): bigint => {
    if (value === undefined || value === null) throw new UploadError('bad_window', `${field} is missing: every upload needs its start and end time`);
    if (typeof value !== 'string') throw new UploadError('bad_window', `${field} must be an RFC 3339 string, got ${JSON.stringify(value)}`);
    const parsed = parseRfc3339Nanos(value);
    if ('problem' in parsed) throw new UploadError('bad_window', `${field}: ${parsed.problem}`);
    return parsed.nanos;
  };
  const startNanos = read(raw.start);
  const endNanos = read(raw.end);
  if (endNanos < startNanos) {
    throw new UploadError('bad_window', `${raw.end.field} (${String(raw.end.value)}) is before ${raw.start.field} (${String(raw.start.value)})`);
  }
  const problem = windowProblem(
    { field: raw.start.field, text: String(raw.start.value), nanos: startNanos },
    { field: raw.end.field, text: String(raw.end.value), nanos: endNanos },
    bounds,
  );
  if (problem) throw new UploadError('window_out_of_range', problem);
  return { startNanos, endNanos };
}

function fieldsOf(parts: Part[]): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const part of parts) {
    if (part.filename !== undefined) continue;
    const values = fields.get(part.name) ?? [];
    values.push(part.data.toString('utf8'));
    fields.set(part.name, values);
  }
  return fields;
}

function readFormat(parts: Part[]): RawUpload {
  const events = parts.filter((p) => p.name === 'event');
  if (events.length > 1)
    throw new UploadError('duplicate_part', `the upload has ${events.length} parts named "event" (parts ${events.map((p) => p.index).join(', ')})`);
  const fields = fieldsOf(parts);
  if (events[0]) return readV4(events[0], parts);
  const first = (name: string) => fields.get(name)?.[0];
  if (first('version') === '3') return readV3(parts, fields);
  if (fields.has('recording-start') || fields.has('tags[]')) return readV1(parts, fields);
  const names = parts.map((p) => JSON.stringify(p.name)).join(', ');
  throw new UploadError(
    'missing_event',
    `the upload has no "event" part (nor the legacy "version=3" or "recording-start"/"tags[]" fields), so it is not a dd-trace profile upload; parts: ${names || 'none'}`,
  );
}

function readV4(eventPart: Part, parts: Part[]): RawUpload {
  let event: unknown;
  try {
    event = JSON.parse(eventPart.data.toString('utf8'));
  } catch (error) {
    throw new UploadError('bad_event', `the "event" part is not valid JSON (${(error as Error).message}); it begins "${preview(eventPart.data)}"`);
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new UploadError('bad_event', `the "event" part must be a JSON object, got ${Array.isArray(event) ? 'a list' : JSON.stringify(event)?.slice(0, 40)}`);
  }
  const e = event as Record<string, unknown>;
  const optionalString = (key: string): string | undefined => {
    const value = e[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw new UploadError('bad_event', `event.${key} must be a string, got ${JSON.stringify(value).slice(0, 40)}`);
    return value;
  };
  const tagsProfiler = optionalString('tags_profiler');
  const family = optionalString('family');
  let listed: string[] = [];
  if (e.attachments !== undefined && e.attachments !== null) {
    if (!Array.isArray(e.attachments) || e.attachments.some((a) => typeof a !== 'string')) {
      throw new UploadError('bad_event', `event.attachments must be a list of attachment names, got ${JSON.stringify(e.attachments).slice(0, 60)}`);
    }
    listed = e.attachments as string[];
  }

  const files = new Map<string, Part>();
  for (const part of parts) {
    if (part === eventPart) continue;
    if (part.filename === undefined && !listed.includes(part.name)) continue; // a stray form field
    const existing = files.get(part.name);
    if (existing)
      throw new UploadError('duplicate_part', `the upload has two parts named ${JSON.stringify(part.name)} (parts ${existing.index} and ${part.index})`);
    files.set(part.name, part);
  }
  const byFilename = (name: string) => [...files.values()].find((p) => p.filename === name);
  const attachments: RawAttachment[] = [];
  const seen = new Set<string>();
  const present = [...files.keys()].map((n) => JSON.stringify(n)).join(', ') || 'none';
  for (const name of listed) {
    if (seen.has(name)) continue;
    seen.add(name);
    const part = files.get(name) ?? byFilename(name);
    if (!part) {
      throw new UploadError(
        'missing_attachment',
        `event.attachments lists ${JSON.stringify(name)}, but the upload has no part with that name (attachments present: ${present})`,
      );
    }
    attachments.push({ name, data: part.data });
    files.delete(part.name);
  }
  // Parts the event does not list are attachments too (a client may list fewer than it sends).
  for (const [name, part] of files) attachments.push({ name, data: part.data });

  return {
    format: 'v4',
    start: { field: 'event.start', value: e.start },
    end: { field: 'event.end', value: e.end },
    tags: parseTagList(tagsProfiler),
    fields: family !== undefined ? { family } : {},
    attachments,
  };
}

function legacyTags(fields: Map<string, string[]>): [string, string][] {
  return (fields.get('tags[]') ?? [])
    .flatMap((item) => item.split(','))
    .map(splitTag)
    .filter((t): t is [string, string] => t !== undefined);
}

function readV3(parts: Part[], fields: Map<string, string[]>): RawUpload {
  const attachments: RawAttachment[] = [];
  const names = new Map<string, Part>();
  for (const part of parts) {
    if (part.filename === undefined) continue;
    const name = /^data\[(.+)\]$/.exec(part.name)?.[1] ?? part.name;
    const existing = names.get(name);
    if (existing) throw new UploadError('duplicate_part', `the upload has two parts for ${JSON.stringify(name)} (parts ${existing.index} and ${part.index})`);
    names.set(name, part);
    attachments.push({ name, data: part.data });
  }
  const first = (name: string) => fields.get(name)?.[0];
  const family = first('family');
  return {
    format: 'v3',
    start: { field: 'field "start"', value: first('start') },
    end: { field: 'field "end"', value: first('end') },
    tags: legacyTags(fields),
    fields: family !== undefined ? { family } : {},
    attachments,
  };
}

function readV1(parts: Part[], fields: Map<string, string[]>): RawUpload {
  const first = (name: string) => fields.get(name)?.[0];
  const attachments: RawAttachment[] = [];
  const seen = new Map<string, Part>();
  for (const part of parts) {
    if (part.filename === undefined) continue;
    const existing = seen.get(part.name);
    if (existing)
      throw new UploadError('duplicate_part', `the upload has two parts named ${JSON.stringify(part.name)} (parts ${existing.index} and ${part.index})`);
    seen.set(part.name, part);
    const index = /^data\[(\d+)\]$/.exec(part.name)?.[1];
    const types = index !== undefined ? first(`types[${index}]`) : undefined;
    // dd-trace-js names the file `<type>.pb.gz`; dd-trace-go always `pprof-data`.
    const fromFilename = part.filename && part.filename !== 'pprof-data' ? /^([A-Za-z0-9_-]+)\.pb(?:\.gz)?$/.exec(part.filename)?.[1] : undefined;
    const legacyType = fromFilename ?? (types !== undefined ? legacyTypeOf(types) : 'unknown');
    const name = part.filename && part.filename !== 'pprof-data' ? part.filename : part.name;
    attachments.push({ name, data: part.data, legacyType });
  }
  const optional = (key: string) => {
    const value = first(key);
    return value !== undefined && value !== '' ? { [key]: value } : {};
  };
  const extra: [string, string][] = [];
  for (const key of ['profiler_version', 'format']) {
    const value = first(key);
    if (value) extra.push([key, value]);
  }
  return {
    format: 'v1',
    start: { field: 'field "recording-start"', value: first('recording-start') },
    end: { field: 'field "recording-end"', value: first('recording-end') },
    tags: [...extra, ...legacyTags(fields)],
    fields: { ...optional('language'), ...optional('runtime'), ...optional('runtime_version') },
    attachments,
  };
}

/**
 * The profile type of a legacy v1 `types[i]` value (comma-joined sample types). Old
 * dd-trace-go sent `samples,cpu`, `alloc_objects,alloc_space,inuse_objects,inuse_space`,
 * `contentions,delay` (block), `contentions,duration` (mutex), `goroutines` and `metrics`.
 */
export function legacyTypeOf(types: string): string {
  const set = new Set(types.split(',').map((t) => t.trim().toLowerCase().replaceAll('-', '_')));
  if (set.has('metrics')) return 'metrics';
  if (set.has('cpu')) return 'cpu';
  if (set.has('wall')) return 'wall';
  if (set.has('alloc_space') || set.has('alloc_objects') || set.has('inuse_space') || set.has('inuse_objects')) return 'heap';
  if (set.has('space') || set.has('objects')) return 'space';
  if (set.has('goroutines') || set.has('goroutine')) return 'goroutine';
  if (set.has('contentions') && set.has('duration')) return 'mutex';
  if (set.has('contentions') || set.has('delay')) return 'block';
  return [...set].join('_') || 'unknown';
}

function legacyKind(type: string, plain: Uint8Array): ReturnType<typeof classifyAttachment> {
  // A JSON list is dd-trace-go's metrics, whatever types[] said.
  if (type === 'metrics' || plain[0] === 0x5b /* [ */) return { kind: 'metrics' };
  return { kind: 'profile', type, delta: false };
}
