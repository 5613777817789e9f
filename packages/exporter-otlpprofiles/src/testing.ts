/**
 * The way back, for tests: OTLP profiles → pprof. What profcol sends (or what the Collector's
 * file exporter wrote, parsed from its OTLP JSON) is turned back into one multi-valued pprof per
 * source profile, so tests can compare it with the pprof profcol received using the ordinary
 * pprof tools (`summarizePprof`, `decodePprof`).
 */
import { fromBinary, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { Function as PprofFunction, Label, Line, Location, Mapping, Profile as Pprof, Sample as PprofSample, StringTable, ValueType } from 'pprof-format';
import { MAPPING_BUILD_ID, PROFILE_ATTRIBUTES } from './convert.js';
import {
  ExportProfilesServiceRequestSchema,
  type ExportProfilesServiceRequest,
} from './gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.js';
import type { AnyValue, KeyValue } from './gen/opentelemetry/proto/common/v1/common_pb.js';
import type { Profile, ProfilesDictionary } from './gen/opentelemetry/proto/profiles/v1development/profiles_pb.js';

export { ExportProfilesServiceRequestSchema, type ExportProfilesServiceRequest };

/** A request as sent on the wire. */
export function decodeRequest(body: Uint8Array): ExportProfilesServiceRequest {
  return fromBinary(ExportProfilesServiceRequestSchema, body);
}

/** One line of the Collector file exporter's `format: json` output (the OTLP JSON mapping). */
export function parseCollectorJson(line: string | JsonValue): ExportProfilesServiceRequest {
  return fromJson(ExportProfilesServiceRequestSchema, typeof line === 'string' ? (JSON.parse(line) as JsonValue) : line);
}

/**
 * A plain JS value of an OTLP AnyValue. Strings may be references into the dictionary's string
 * table (`string_value_strindex`, `key_strindex`): the Collector (pdata v1.71) writes resource
 * attributes of profiles that way.
 */
export function plainValue(value: AnyValue | undefined, strings: readonly string[]): unknown {
  const v = value?.value;
  if (v === undefined || v.case === undefined) return undefined;
  switch (v.case) {
    case 'arrayValue':
      return v.value.values.map((item) => plainValue(item, strings));
    case 'kvlistValue':
      return keyValues(v.value.values, strings);
    case 'intValue':
      return Number(v.value);
    case 'stringValueStrindex':
      return stringAt(strings, v.value);
    default:
      return v.value;
  }
}

/** OTLP KeyValues (keys given as strings or as string table references) by key. */
export function keyValues(kvs: readonly KeyValue[], strings: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(kvs.map((kv) => [kv.key !== '' ? kv.key : stringAt(strings, kv.keyStrindex), plainValue(kv.value, strings)]));
}

function stringAt(strings: readonly string[], index: number): string {
  const value = strings[index];
  if (value === undefined) throw new Error(`string index ${index} is past the string table (${strings.length} entries)`);
  return value;
}

/** The attributes `indices` point at, by key. */
export function attributesAt(dictionary: ProfilesDictionary, indices: readonly number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const i of indices) {
    const attribute = dictionary.attributeTable[i];
    if (!attribute) throw new Error(`attribute index ${i} is past the attribute table (${dictionary.attributeTable.length} entries)`);
    out[dictionary.stringTable[attribute.keyStrindex] ?? ''] = plainValue(attribute.value, dictionary.stringTable);
  }
  return out;
}

/** One source profile rebuilt from the OTLP profiles (one per sample type) it became. */
export interface RebuiltProfile {
  resource: Record<string, unknown>;
  scope: { name: string; version: string };
  /** The profile-level attributes (profcol.profile.type, ..., the bundle's tags). */
  attributes: Record<string, unknown>;
  /** The OTLP profiles it was rebuilt from, in order. */
  otlp: Profile[];
  pprof: Pprof;
}

/**
 * Groups the profiles of each scope by source (profiles made from one pprof share their
 * attributes and time) and rebuilds each group as one pprof, its sample types in order.
 */
export function requestToPprof(request: ExportProfilesServiceRequest): RebuiltProfile[] {
  const dictionary = request.dictionary;
  if (!dictionary) throw new Error('the request has no dictionary');
  const out: RebuiltProfile[] = [];
  for (const rp of request.resourceProfiles) {
    const resource = keyValues(rp.resource?.attributes ?? [], dictionary.stringTable);
    for (const sp of rp.scopeProfiles) {
      const groups = new Map<string, Profile[]>();
      for (const profile of sp.profiles) {
        const key = `${profile.attributeIndices.join(',')}|${profile.timeUnixNano}`;
        let group = groups.get(key);
        if (!group) groups.set(key, (group = []));
        group.push(profile);
      }
      for (const group of groups.values()) {
        out.push({
          resource,
          scope: { name: sp.scope?.name ?? '', version: sp.scope?.version ?? '' },
          attributes: attributesAt(dictionary, group[0]!.attributeIndices),
          otlp: group,
          pprof: groupToPprof(dictionary, group),
        });
      }
    }
  }
  return out;
}

function groupToPprof(dict: ProfilesDictionary, group: Profile[]): Pprof {
  const strings = new StringTable();
  const s = (index: number): number => strings.dedup(dict.stringTable[index] ?? '');
  const first = group[0]!;
  const count = first.samples.length;
  for (const p of group) if (p.samples.length !== count) throw new Error(`profiles of one source differ in sample count: ${count} and ${p.samples.length}`);

  const functions = new Map<number, PprofFunction>();
  const mappings = new Map<number, Mapping>();
  const locations = new Map<number, Location>();
  const fn = (i: number) => {
    if (!functions.has(i)) {
      const f = dict.functionTable[i]!;
      functions.set(
        i,
        new PprofFunction({ id: i, name: s(f.nameStrindex), systemName: s(f.systemNameStrindex), filename: s(f.filenameStrindex), startLine: f.startLine }),
      );
    }
    return i;
  };
  const mapping = (i: number) => {
    if (i !== 0 && !mappings.has(i)) {
      const m = dict.mappingTable[i]!;
      const buildId = attributesAt(dict, m.attributeIndices)[MAPPING_BUILD_ID];
      mappings.set(
        i,
        new Mapping({
          id: i,
          memoryStart: m.memoryStart,
          memoryLimit: m.memoryLimit,
          fileOffset: m.fileOffset,
          filename: s(m.filenameStrindex),
          buildId: typeof buildId === 'string' ? strings.dedup(buildId) : 0,
        }),
      );
    }
    return i;
  };
  const location = (i: number) => {
    if (!locations.has(i)) {
      const l = dict.locationTable[i]!;
      locations.set(
        i,
        new Location({
          id: i,
          mappingId: mapping(l.mappingIndex),
          address: l.address,
          line: l.lines.map((line) => new Line({ functionId: fn(line.functionIndex), line: line.line, column: line.column })),
        }),
      );
    }
    return i;
  };

  const samples: PprofSample[] = [];
  for (let i = 0; i < count; i++) {
    const sample = first.samples[i]!;
    const stack = dict.stackTable[sample.stackIndex];
    if (!stack) throw new Error(`stack index ${sample.stackIndex} is past the stack table (${dict.stackTable.length} entries)`);
    const labels = sample.attributeIndices.map((a) => {
      const attribute = dict.attributeTable[a]!;
      const value = attribute.value?.value;
      if (value?.case === 'stringValue') return new Label({ key: s(attribute.keyStrindex), str: strings.dedup(value.value) });
      if (value?.case === 'stringValueStrindex') return new Label({ key: s(attribute.keyStrindex), str: s(value.value) });
      if (value?.case === 'intValue')
        return new Label({ key: s(attribute.keyStrindex), num: value.value, numUnit: attribute.unitStrindex ? s(attribute.unitStrindex) : 0 });
      throw new Error(
        `sample attribute ${dict.stringTable[attribute.keyStrindex]} has a ${value?.case ?? 'missing'} value; pprof labels are strings or integers`,
      );
    });
    samples.push(
      new PprofSample({
        locationId: stack.locationIndices.map(location),
        value: group.map((p) => {
          const other = p.samples[i]!;
          if (other.stackIndex !== sample.stackIndex) throw new Error(`sample ${i} has different stacks in two sample types of one source`);
          return other.values[0] ?? 0n;
        }),
        label: labels,
      }),
    );
  }
  const comments = attributesAt(dict, first.attributeIndices)[PROFILE_ATTRIBUTES.comments];
  return new Pprof({
    sampleType: group.map((p) => new ValueType({ type: s(p.sampleType?.typeStrindex ?? 0), unit: s(p.sampleType?.unitStrindex ?? 0) })),
    sample: samples,
    mapping: [...mappings.values()],
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
    timeNanos: first.timeUnixNano,
    durationNanos: first.durationNano,
    ...(first.periodType ? { periodType: new ValueType({ type: s(first.periodType.typeStrindex), unit: s(first.periodType.unitStrindex) }) } : {}),
    period: first.period,
    comment: Array.isArray(comments) ? comments.map((c) => strings.dedup(String(c))) : [],
  });
}
