/**
 * Decodes an OTLP ExportMetricsServiceRequest in protobuf, written against the field numbers of
 * opentelemetry-proto (`metrics/v1/metrics.proto`, `common/v1/common.proto`) with
 * @bufbuild/protobuf's wire reader: it shares no code with the exporter's serializer, so a test
 * reading it checks what went over the wire.
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export interface DecodedPoint {
  attributes: Record<string, string | number | boolean>;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  value?: number;
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
}

export interface DecodedMetric {
  resource: Record<string, string | number | boolean>;
  scope: string;
  name: string;
  description: string;
  unit: string;
  type: 'gauge' | 'sum' | 'histogram';
  /** 1 delta, 2 cumulative (sums and histograms). */
  temporality?: number;
  monotonic?: boolean;
  points: DecodedPoint[];
}

function fields(bytes: Uint8Array, each: (field: number, wire: WireType, reader: BinaryReader) => void): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    const before = reader.pos;
    each(field, wire, reader);
    if (reader.pos === before) reader.skip(wire, field);
  }
}

function keyValue(bytes: Uint8Array): [string, string | number | boolean] {
  let key = '';
  let value: string | number | boolean = '';
  fields(bytes, (field, _wire, r) => {
    if (field === 1) key = r.string();
    else if (field === 2) {
      fields(r.bytes(), (f, _w, v) => {
        if (f === 1) value = v.string();
        else if (f === 2) value = v.bool();
        else if (f === 3) value = Number(v.int64());
        else if (f === 4) value = v.double();
      });
    }
  });
  return [key, value];
}

function packedOrSingle<T>(wire: WireType, r: BinaryReader, read: (r: BinaryReader) => T): T[] {
  if (wire !== WireType.LengthDelimited) return [read(r)];
  const inner = new BinaryReader(r.bytes());
  const out: T[] = [];
  while (inner.pos < inner.len) out.push(read(inner));
  return out;
}

function point(bytes: Uint8Array, histogram: boolean): DecodedPoint {
  const p: DecodedPoint = { attributes: {}, startTimeUnixNano: 0n, timeUnixNano: 0n };
  fields(bytes, (field, wire, r) => {
    if (field === (histogram ? 9 : 7)) {
      const [k, v] = keyValue(r.bytes());
      p.attributes[k] = v;
    } else if (field === 2) p.startTimeUnixNano = BigInt(r.fixed64());
    else if (field === 3) p.timeUnixNano = BigInt(r.fixed64());
    else if (!histogram && field === 4) p.value = r.double();
    else if (!histogram && field === 6) p.value = Number(r.sfixed64());
    else if (histogram && field === 4) p.count = Number(r.fixed64());
    else if (histogram && field === 5) p.sum = r.double();
    else if (histogram && field === 6) (p.bucketCounts ??= []).push(...packedOrSingle(wire, r, (x) => Number(x.fixed64())));
    else if (histogram && field === 7) (p.explicitBounds ??= []).push(...packedOrSingle(wire, r, (x) => x.double()));
  });
  return p;
}

function metric(bytes: Uint8Array, resource: DecodedMetric['resource'], scope: string): DecodedMetric {
  const m: DecodedMetric = { resource, scope, name: '', description: '', unit: '', type: 'gauge', points: [] };
  fields(bytes, (field, _wire, r) => {
    if (field === 1) m.name = r.string();
    else if (field === 2) m.description = r.string();
    else if (field === 3) m.unit = r.string();
    else if (field === 5 || field === 7 || field === 9) {
      m.type = field === 5 ? 'gauge' : field === 7 ? 'sum' : 'histogram';
      fields(r.bytes(), (f, _w, d) => {
        if (f === 1) m.points.push(point(d.bytes(), field === 9));
        else if (f === 2) m.temporality = d.int32();
        else if (f === 3) m.monotonic = d.bool();
      });
    }
  });
  return m;
}

/** Every metric of an ExportMetricsServiceRequest, with its resource and scope name. */
export function decodeMetricsRequest(body: Uint8Array): DecodedMetric[] {
  const out: DecodedMetric[] = [];
  fields(body, (field, _wire, r) => {
    if (field !== 1) return;
    const resource: DecodedMetric['resource'] = {};
    const scopes: Uint8Array[] = [];
    fields(r.bytes(), (f, _w, rm) => {
      if (f === 1) {
        fields(rm.bytes(), (rf, _rw, res) => {
          if (rf === 1) {
            const [k, v] = keyValue(res.bytes());
            resource[k] = v;
          }
        });
      } else if (f === 2) scopes.push(rm.bytes());
    });
    for (const scopeBytes of scopes) {
      let scope = '';
      const metrics: Uint8Array[] = [];
      fields(scopeBytes, (sf, _sw, sm) => {
        if (sf === 1) fields(sm.bytes(), (nf, _nw, n) => (nf === 1 ? (scope = n.string()) : undefined));
        else if (sf === 2) metrics.push(sm.bytes());
      });
      for (const m of metrics) out.push(metric(m, resource, scope));
    }
  });
  return out;
}
