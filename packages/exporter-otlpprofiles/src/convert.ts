/**
 * pprof → OTLP profiles (`profiles/v1development`, opentelemetry-proto v1.11.0): one
 * `ExportProfilesServiceRequest` per bundle, its messages built with the code generated from
 * the official .proto files (src/gen, `@bufbuild/protobuf`).
 *
 * A pprof profile has several sample types (a heap profile: alloc_objects, alloc_space,
 * inuse_objects, inuse_space); an OTLP profile has one. So each pprof becomes one OTLP profile
 * per sample type, all in the same order, each with every sample of the pprof (zeros included,
 * so sample counts match) and sharing one dictionary of strings, functions, locations, stacks
 * and attributes.
 */
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { ProfileBundle, Profile as BundleProfile } from '@profcol/core';
import { mapResource } from '@profcol/exporter-otlp';
import type { Profile as Pprof } from 'pprof-format';
import { DictionaryBuilder, type AttributeValue, type LineInput } from './dictionary.js';
import {
  ExportProfilesServiceRequestSchema,
  type ExportProfilesServiceRequest,
} from './gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.js';
import { AnyValueSchema, InstrumentationScopeSchema, KeyValueSchema } from './gen/opentelemetry/proto/common/v1/common_pb.js';
import {
  ProfileSchema,
  ResourceProfilesSchema,
  SampleSchema,
  ScopeProfilesSchema,
  ValueTypeSchema,
  type Profile,
  type Sample,
} from './gen/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { ResourceSchema } from './gen/opentelemetry/proto/resource/v1/resource_pb.js';
import { SCOPE_NAME, SCOPE_VERSION } from './version.js';

/** Profile attributes profcol sets (besides the bundle's tags), so a consumer knows what each OTLP profile came from. */
export const PROFILE_ATTRIBUTES = {
  /** The bundle's profile type: cpu, heap, goroutine, mutex, block, ... */
  type: 'profcol.profile.type',
  /** The name the pprof arrived under (`delta-heap.pprof`, `/debug/pprof/heap`). */
  name: 'profcol.profile.name',
  /** True when profcol turned cumulative values into this window's delta. */
  delta: 'profcol.profile.delta',
  /** The pprof's comments. */
  comments: 'pprof.profile.comments',
} as const;

/** Mapping attribute: pprof's `build_id` of the mapped binary. */
export const MAPPING_BUILD_ID = 'pprof.mapping.build_id';
/** Location attribute of the semantic conventions: the kind of frame (`go` for a Go program's). */
export const FRAME_TYPE = 'profile.frame.type';

export interface ConvertOptions {
  /** Resource keys left out (`resource_drop`). */
  resourceDrop?: readonly string[];
  /** A fresh 16-byte id per OTLP profile; random by default. */
  profileId?: () => Uint8Array;
}

export interface ConvertedBundle {
  request: ExportProfilesServiceRequest;
  /** OTLP profiles made (one per sample type of each pprof). */
  profiles: number;
  /** pprof samples converted (each appears once per sample type). */
  samples: number;
  /** Labels left out because the sample already had a label with that key (OTLP keys are unique per sample). */
  duplicateLabels: number;
}

/** One profile of a bundle with its decoded pprof. */
export interface DecodedInput {
  profile: BundleProfile;
  pprof: Pprof;
}

const num = (value: number | bigint): bigint => (typeof value === 'bigint' ? value : BigInt(Math.trunc(value)));

/** The resource of a bundle as OTLP attributes, with the same semantic-convention names the `otlp` exporter gives metrics. */
export function resourceAttributes(resource: Record<string, string>, drop: readonly string[]) {
  return Object.entries(mapResource(resource, drop)).map(([key, value]) =>
    create(KeyValueSchema, { key, value: create(AnyValueSchema, { value: { case: 'stringValue', value } }) }),
  );
}

/** Converts the decoded profiles of one bundle into one OTLP request. */
export function convertBundle(bundle: ProfileBundle, inputs: readonly DecodedInput[], options: ConvertOptions = {}): ConvertedBundle {
  const dict = new DictionaryBuilder();
  const newId = options.profileId ?? (() => new Uint8Array(randomBytes(16)));
  const goFrames = bundle.resource['language'] === 'golang' || bundle.resource['language'] === 'go';
  const profiles: Profile[] = [];
  let samples = 0;
  let duplicateLabels = 0;

  for (const { profile, pprof } of inputs) {
    const converted = convertPprof(dict, pprof, { goFrames });
    duplicateLabels += converted.duplicateLabels;
    samples += pprof.sample.length;
    const window = profile.window ?? bundle.window;
    const timeNanos = num(pprof.timeNanos) !== 0n ? num(pprof.timeNanos) : window.startNanos;
    const durationNanos = num(pprof.durationNanos) !== 0n || num(pprof.timeNanos) !== 0n ? num(pprof.durationNanos) : window.endNanos - window.startNanos;
    const attributes = profileAttributes(dict, bundle, profile, pprof);
    const strings = pprof.stringTable.strings;
    const periodType = pprof.periodType
      ? create(ValueTypeSchema, {
          typeStrindex: dict.string(strings[Number(pprof.periodType.type)] ?? ''),
          unitStrindex: dict.string(strings[Number(pprof.periodType.unit)] ?? ''),
        })
      : undefined;
    pprof.sampleType.forEach((sampleType, t) => {
      profiles.push(
        create(ProfileSchema, {
          sampleType: { typeStrindex: dict.string(strings[Number(sampleType.type)] ?? ''), unitStrindex: dict.string(strings[Number(sampleType.unit)] ?? '') },
          samples: converted.samplesOf(t),
          timeUnixNano: timeNanos,
          durationNano: durationNanos < 0n ? 0n : durationNanos,
          ...(periodType ? { periodType } : {}),
          period: num(pprof.period),
          profileId: newId(),
          attributeIndices: attributes,
        }),
      );
    });
  }

  const request = create(ExportProfilesServiceRequestSchema, {
    resourceProfiles: [
      create(ResourceProfilesSchema, {
        resource: create(ResourceSchema, { attributes: resourceAttributes(bundle.resource, options.resourceDrop ?? []) }),
        scopeProfiles: [create(ScopeProfilesSchema, { scope: create(InstrumentationScopeSchema, { name: SCOPE_NAME, version: SCOPE_VERSION }), profiles })],
      }),
    ],
    dictionary: dict.dictionary,
  });
  return { request, profiles: profiles.length, samples, duplicateLabels };
}

function profileAttributes(dict: DictionaryBuilder, bundle: ProfileBundle, profile: BundleProfile, pprof: Pprof): number[] {
  // Keys are unique within one attribute list: profcol's own keys win over a tag of the same name.
  const byKey = new Map<string, number>();
  for (const [key, value] of Object.entries(bundle.tags)) byKey.set(key, dict.attribute(key, { kind: 'string', value }));
  byKey.set(PROFILE_ATTRIBUTES.type, dict.attribute(PROFILE_ATTRIBUTES.type, { kind: 'string', value: profile.type }));
  byKey.set(PROFILE_ATTRIBUTES.name, dict.attribute(PROFILE_ATTRIBUTES.name, { kind: 'string', value: profile.name }));
  if (profile.delta) byKey.set(PROFILE_ATTRIBUTES.delta, dict.attribute(PROFILE_ATTRIBUTES.delta, { kind: 'bool', value: true }));
  const comments = pprof.comment.map((i) => pprof.stringTable.strings[Number(i)] ?? '');
  if (comments.length > 0) byKey.set(PROFILE_ATTRIBUTES.comments, dict.attribute(PROFILE_ATTRIBUTES.comments, { kind: 'strings', value: comments }));
  return [...byKey.values()];
}

/**
 * The samples of one pprof, per sample type, with its functions, mappings and locations added
 * to the dictionary. pprof ids are looked up by value (they need not be 1..n).
 */
function convertPprof(dict: DictionaryBuilder, pprof: Pprof, options: { goFrames: boolean }) {
  const strings = pprof.stringTable.strings;
  const str = (index: number | bigint): string => strings[Number(index)] ?? '';
  const functions = new Map<string, number>();
  for (const fn of pprof.function) functions.set(String(fn.id), dict.function(str(fn.name), str(fn.systemName), str(fn.filename), num(fn.startLine)));
  const mappings = new Map<string, number>();
  for (const m of pprof.mapping) {
    const buildId = str(m.buildId);
    const attributes = buildId ? [dict.attribute(MAPPING_BUILD_ID, { kind: 'string', value: buildId })] : [];
    mappings.set(String(m.id), dict.mapping(num(m.memoryStart), num(m.memoryLimit), num(m.fileOffset), str(m.filename), attributes));
  }
  const frameAttributes = options.goFrames ? [dict.attribute(FRAME_TYPE, { kind: 'string', value: 'go' })] : [];
  const locations = new Map<string, number>();
  for (const loc of pprof.location) {
    const lines: LineInput[] = loc.line.map((line) => ({
      functionIndex: functions.get(String(line.functionId)) ?? 0,
      line: num(line.line),
      column: num(line.column),
    }));
    locations.set(String(loc.id), dict.location(mappings.get(String(loc.mappingId)) ?? 0, num(loc.address), lines, frameAttributes));
  }

  const types = pprof.sampleType.length;
  const perType: Sample[][] = Array.from({ length: types }, () => []);
  let duplicateLabels = 0;
  const seen = new Set<string>();
  for (const sample of pprof.sample) {
    const stackIndex = dict.stack(sample.locationId.map((id) => locations.get(String(id)) ?? 0));
    const attributeIndices: number[] = [];
    seen.clear();
    for (const label of sample.label) {
      const key = str(label.key);
      if (seen.has(key)) {
        duplicateLabels++;
        continue;
      }
      seen.add(key);
      const value: AttributeValue = num(label.str) !== 0n ? { kind: 'string', value: str(label.str) } : { kind: 'int', value: num(label.num) };
      attributeIndices.push(dict.attribute(key, value, value.kind === 'int' ? str(label.numUnit) : ''));
    }
    for (let t = 0; t < types; t++) {
      perType[t]!.push(create(SampleSchema, { stackIndex, attributeIndices, values: [num(sample.value[t] ?? 0)] }));
    }
  }
  return { samplesOf: (t: number) => perType[t]!, duplicateLabels };
}
