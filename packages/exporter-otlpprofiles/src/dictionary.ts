/**
 * The `ProfilesDictionary` of one OTLP request, built while converting: every table starts with
 * its zero entry (the protocol reserves index 0 of each for "unset"), and equal entries are
 * stored once, so the profiles of one bundle (every sample type of every pprof) share their
 * strings, functions, locations, stacks and attributes.
 */
import { create } from '@bufbuild/protobuf';
import type { AnyValue } from './gen/opentelemetry/proto/common/v1/common_pb.js';
import { AnyValueSchema } from './gen/opentelemetry/proto/common/v1/common_pb.js';
import {
  FunctionSchema,
  KeyValueAndUnitSchema,
  LineSchema,
  LinkSchema,
  LocationSchema,
  MappingSchema,
  ProfilesDictionarySchema,
  StackSchema,
  type ProfilesDictionary,
} from './gen/opentelemetry/proto/profiles/v1development/profiles_pb.js';

/** An attribute value as the converter makes them. */
export type AttributeValue =
  | { kind: 'string'; value: string }
  | { kind: 'int'; value: bigint }
  | { kind: 'bool'; value: boolean }
  | { kind: 'strings'; value: string[] };

export interface LineInput {
  functionIndex: number;
  line: bigint;
  column: bigint;
}

export class DictionaryBuilder {
  readonly dictionary: ProfilesDictionary;
  private readonly strings = new Map<string, number>();
  private readonly attributes = new Map<string, number>();
  private readonly functions = new Map<string, number>();
  private readonly mappings = new Map<string, number>();
  private readonly locations = new Map<string, number>();
  private readonly stacks = new Map<string, number>();

  constructor() {
    this.dictionary = create(ProfilesDictionarySchema, {
      stringTable: [''],
      attributeTable: [create(KeyValueAndUnitSchema)],
      functionTable: [create(FunctionSchema)],
      mappingTable: [create(MappingSchema)],
      locationTable: [create(LocationSchema)],
      stackTable: [create(StackSchema)],
      // The protocol asks for 16 and 8 zero bytes rather than empty ones, for strict codecs.
      linkTable: [create(LinkSchema, { traceId: new Uint8Array(16), spanId: new Uint8Array(8) })],
    });
    this.strings.set('', 0);
  }

  string(value: string): number {
    let index = this.strings.get(value);
    if (index === undefined) {
      index = this.dictionary.stringTable.push(value) - 1;
      this.strings.set(value, index);
    }
    return index;
  }

  attribute(key: string, value: AttributeValue, unit = ''): number {
    const id = `${key}\u0000${unit}\u0000${value.kind}\u0000${value.kind === 'strings' ? JSON.stringify(value.value) : String(value.value)}`;
    let index = this.attributes.get(id);
    if (index === undefined) {
      index =
        this.dictionary.attributeTable.push(
          create(KeyValueAndUnitSchema, { keyStrindex: this.string(key), unitStrindex: unit === '' ? 0 : this.string(unit), value: anyValue(value) }),
        ) - 1;
      this.attributes.set(id, index);
    }
    return index;
  }

  function(name: string, systemName: string, filename: string, startLine: bigint): number {
    const nameIndex = this.string(name);
    const systemIndex = this.string(systemName);
    const fileIndex = this.string(filename);
    const id = `${nameIndex},${systemIndex},${fileIndex},${startLine}`;
    let index = this.functions.get(id);
    if (index === undefined) {
      index =
        this.dictionary.functionTable.push(
          create(FunctionSchema, { nameStrindex: nameIndex, systemNameStrindex: systemIndex, filenameStrindex: fileIndex, startLine }),
        ) - 1;
      this.functions.set(id, index);
    }
    return index;
  }

  mapping(memoryStart: bigint, memoryLimit: bigint, fileOffset: bigint, filename: string, attributeIndices: number[]): number {
    const fileIndex = this.string(filename);
    const id = `${memoryStart},${memoryLimit},${fileOffset},${fileIndex},${attributeIndices.join(' ')}`;
    let index = this.mappings.get(id);
    if (index === undefined) {
      index =
        this.dictionary.mappingTable.push(create(MappingSchema, { memoryStart, memoryLimit, fileOffset, filenameStrindex: fileIndex, attributeIndices })) - 1;
      this.mappings.set(id, index);
    }
    return index;
  }

  location(mappingIndex: number, address: bigint, lines: readonly LineInput[], attributeIndices: number[]): number {
    const id = `${mappingIndex},${address},${attributeIndices.join(' ')},${lines.map((l) => `${l.functionIndex}:${l.line}:${l.column}`).join(';')}`;
    let index = this.locations.get(id);
    if (index === undefined) {
      index =
        this.dictionary.locationTable.push(
          create(LocationSchema, {
            mappingIndex,
            address,
            attributeIndices,
            lines: lines.map((l) => create(LineSchema, { functionIndex: l.functionIndex, line: l.line, column: l.column })),
          }),
        ) - 1;
      this.locations.set(id, index);
    }
    return index;
  }

  stack(locationIndices: number[]): number {
    const id = locationIndices.join(',');
    let index = this.stacks.get(id);
    if (index === undefined) {
      index = this.dictionary.stackTable.push(create(StackSchema, { locationIndices })) - 1;
      this.stacks.set(id, index);
    }
    return index;
  }
}

function anyValue(value: AttributeValue): AnyValue {
  switch (value.kind) {
    case 'string':
      return create(AnyValueSchema, { value: { case: 'stringValue', value: value.value } });
    case 'int':
      return create(AnyValueSchema, { value: { case: 'intValue', value: value.value } });
    case 'bool':
      return create(AnyValueSchema, { value: { case: 'boolValue', value: value.value } });
    case 'strings':
      return create(AnyValueSchema, {
        value: { case: 'arrayValue', value: { values: value.value.map((v) => create(AnyValueSchema, { value: { case: 'stringValue', value: v } })) } },
      });
  }
}
