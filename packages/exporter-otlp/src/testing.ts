/**
 * A small OTLP/HTTP metrics receiver for tests: it accepts `POST /v1/metrics` in protobuf or
 * JSON (optionally gzip'd), decodes every point, and answers as a test tells it to (status,
 * `Retry-After`, delay). The protobuf decoder is written against the OTLP .proto field numbers
 * and shares no code with the exporter's serializer, so the tests check the wire format
 * independently.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export type AttributeValue = string | number | boolean | bigint | null | AttributeValue[] | { [key: string]: AttributeValue };

/** One data point as the backend received it, with everything around it. */
export interface ReceivedPoint {
  resource: Record<string, AttributeValue>;
  scope: { name: string; version: string };
  name: string;
  description: string;
  unit: string;
  type: 'gauge' | 'sum' | 'other';
  /** Sums only: 1 delta, 2 cumulative. */
  temporality?: number;
  monotonic?: boolean;
  attributes: Record<string, AttributeValue>;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  value: number;
}

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  contentType: string;
  /** Body size on the wire. */
  bytes: number;
  /** Status the stub answered. */
  status: number;
  points: ReceivedPoint[];
  /** Set when the body could not be decoded. */
  error?: string;
}

export interface StubReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Drop the connection without answering (after reading the body). */
  destroy?: boolean;
}

export interface OtlpStubOptions {
  port?: number;
  /** Serve HTTPS with these PEMs; `ca` + `requestCert` asks for a client certificate. */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean };
  /** Decides the answer for each request (0-based index); default 200 with an empty success body. */
  reply?: (index: number, request: ReceivedRequest) => StubReply | undefined | Promise<StubReply | undefined>;
}

export interface OtlpStub {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Points of the requests answered with a 2xx, in arrival order. */
  readonly accepted: ReceivedPoint[];
  /** Every request received (status included), and how many attempts arrived. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  waitForAccepted(points: number, timeoutMs?: number): Promise<void>;
  reply: OtlpStubOptions['reply'];
  close(): Promise<void>;
}

export async function startOtlpStub(options: OtlpStubOptions = {}): Promise<OtlpStub> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const stub: OtlpStub = {
    url: '',
    port: 0,
    requests,
    get accepted() {
      return requests.filter((r) => r.status >= 200 && r.status < 300).flatMap((r) => r.points);
    },
    reply: options.reply,
    async waitFor(predicate, timeoutMs = 10_000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline)
          throw new Error(
            `OTLP stub: waited ${timeoutMs} ms for ${what}; ${requests.length} requests so far (statuses ${requests.map((r) => r.status).join(',')})`,
          );
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    waitForAccepted(points, timeoutMs = 10_000) {
      return stub.waitFor(() => stub.accepted.length >= points, timeoutMs, `${points} accepted points (have ${stub.accepted.length})`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const contentType = String(req.headers['content-type'] ?? '');
      const received: ReceivedRequest = { path: req.url ?? '', headers: req.headers, contentType, bytes: raw.length, status: 0, points: [] };
      try {
        const body = req.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw) : raw;
        received.points = contentType.includes('json') ? decodeJsonRequest(body.toString('utf8')) : decodeProtobufRequest(body);
      } catch (error) {
        received.error = (error as Error).message;
      }
      const index = requests.length;
      requests.push(received);
      const reply = (await stub.reply?.(index, received)) ?? (received.error ? { status: 400, body: `cannot decode: ${received.error}` } : {});
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
      if (reply.destroy) {
        received.status = -1;
        req.socket.destroy();
        return;
      }
      received.status = reply.status ?? 200;
      const json = contentType.includes('json');
      const body = reply.body ?? (received.status < 300 ? (json ? '{}' : new Uint8Array()) : `stub answered ${received.status}`);
      res.writeHead(received.status, { 'Content-Type': received.status < 300 ? contentType || 'application/x-protobuf' : 'text/plain', ...reply.headers });
      res.end(body);
    });
  };

  const server = options.tls
    ? https.createServer(
        {
          key: options.tls.key,
          cert: options.tls.cert,
          ...(options.tls.ca ? { ca: options.tls.ca } : {}),
          requestCert: options.tls.requestCert ?? false,
          rejectUnauthorized: options.tls.requestCert ?? false,
        },
        handler,
      )
    : http.createServer(handler);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  stub.port = port;
  stub.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return stub;
}

// ---- JSON ------------------------------------------------------------------------------

interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
  kvlistValue?: { values?: JsonKeyValue[] };
  bytesValue?: string;
}
interface JsonKeyValue {
  key: string;
  value?: JsonAnyValue;
}
interface JsonPoint {
  attributes?: JsonKeyValue[];
  startTimeUnixNano?: string | number;
  timeUnixNano?: string | number;
  asDouble?: number;
  asInt?: string | number;
}
interface JsonMetric {
  name: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints?: JsonPoint[] };
  sum?: { dataPoints?: JsonPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
}

function jsonValue(value: JsonAnyValue | undefined): AttributeValue {
  if (!value) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return BigInt(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(jsonValue);
  if (value.kvlistValue) return jsonAttributes(value.kvlistValue.values);
  if (value.bytesValue !== undefined) return value.bytesValue;
  return null;
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));
}

export function decodeJsonRequest(text: string): ReceivedPoint[] {
  const request = JSON.parse(text) as {
    resourceMetrics?: {
      resource?: { attributes?: JsonKeyValue[] };
      scopeMetrics?: { scope?: { name?: string; version?: string }; metrics?: JsonMetric[] }[];
    }[];
  };
  const out: ReceivedPoint[] = [];
  for (const rm of request.resourceMetrics ?? []) {
    const resource = jsonAttributes(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      const scope = { name: sm.scope?.name ?? '', version: sm.scope?.version ?? '' };
      for (const metric of sm.metrics ?? []) {
        const type = metric.gauge ? 'gauge' : metric.sum ? 'sum' : 'other';
        for (const dp of metric.gauge?.dataPoints ?? metric.sum?.dataPoints ?? []) {
          out.push({
            resource,
            scope,
            name: metric.name,
            description: metric.description ?? '',
            unit: metric.unit ?? '',
            type,
            ...(metric.sum ? { temporality: metric.sum.aggregationTemporality ?? 0, monotonic: metric.sum.isMonotonic ?? false } : {}),
            attributes: jsonAttributes(dp.attributes),
            startTimeUnixNano: BigInt(dp.startTimeUnixNano ?? 0),
            timeUnixNano: BigInt(dp.timeUnixNano ?? 0),
            value: dp.asDouble ?? Number(dp.asInt ?? 0),
          });
        }
      }
    }
  }
  return out;
}

// ---- protobuf --------------------------------------------------------------------------

type Field = { no: number; wire: number; varint?: bigint; bytes?: Uint8Array; fixed64?: Uint8Array; fixed32?: Uint8Array };

/** Splits one message into its fields (proto3 wire format). */
function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= bytes.length) throw new Error('truncated varint');
      const b = bytes[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) out.push({ no, wire, varint: varint() });
    else if (wire === 1) {
      out.push({ no, wire, fixed64: bytes.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 2) {
      const length = Number(varint());
      if (pos + length > bytes.length) throw new Error('truncated field');
      out.push({ no, wire, bytes: bytes.subarray(pos, pos + length) });
      pos += length;
    } else if (wire === 5) {
      out.push({ no, wire, fixed32: bytes.subarray(pos, pos + 4) });
      pos += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b ?? new Uint8Array());
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function pbAnyValue(bytes: Uint8Array): AttributeValue {
  for (const f of fields(bytes)) {
    switch (f.no) {
      case 1:
        return text(f.bytes);
      case 2:
        return f.varint !== 0n;
      case 3:
        return BigInt.asIntN(64, f.varint!);
      case 4:
        return view(f.fixed64!).getFloat64(0, true);
      case 5:
        return fields(f.bytes!)
          .filter((x) => x.no === 1)
          .map((x) => pbAnyValue(x.bytes!));
      case 6:
        return pbAttributes(fields(f.bytes!).filter((x) => x.no === 1));
      case 7:
        return Buffer.from(f.bytes!).toString('base64');
    }
  }
  return null;
}

function pbAttributes(keyValues: Field[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of keyValues) {
    const parts = fields(kv.bytes!);
    const key = text(parts.find((p) => p.no === 1)?.bytes);
    const value = parts.find((p) => p.no === 2);
    out[key] = value ? pbAnyValue(value.bytes!) : null;
  }
  return out;
}

/** Decodes an `ExportMetricsServiceRequest` (gauges and sums of number points). */
export function decodeProtobufRequest(bytes: Uint8Array): ReceivedPoint[] {
  const out: ReceivedPoint[] = [];
  for (const rm of fields(bytes).filter((f) => f.no === 1)) {
    const rmFields = fields(rm.bytes!);
    const resourceBytes = rmFields.find((f) => f.no === 1)?.bytes;
    const resource = resourceBytes ? pbAttributes(fields(resourceBytes).filter((f) => f.no === 1)) : {};
    for (const sm of rmFields.filter((f) => f.no === 2)) {
      const smFields = fields(sm.bytes!);
      const scopeFields = fields(smFields.find((f) => f.no === 1)?.bytes ?? new Uint8Array());
      const scope = { name: text(scopeFields.find((f) => f.no === 1)?.bytes), version: text(scopeFields.find((f) => f.no === 2)?.bytes) };
      for (const m of smFields.filter((f) => f.no === 2)) {
        const mf = fields(m.bytes!);
        const name = text(mf.find((f) => f.no === 1)?.bytes);
        const description = text(mf.find((f) => f.no === 2)?.bytes);
        const unit = text(mf.find((f) => f.no === 3)?.bytes);
        const gauge = mf.find((f) => f.no === 5);
        const sum = mf.find((f) => f.no === 7);
        const body = fields((gauge ?? sum)?.bytes ?? new Uint8Array());
        const sumInfo = sum
          ? { temporality: Number(body.find((f) => f.no === 2)?.varint ?? 0n), monotonic: (body.find((f) => f.no === 3)?.varint ?? 0n) !== 0n }
          : {};
        for (const dp of body.filter((f) => f.no === 1)) {
          const df = fields(dp.bytes!);
          const u64 = (no: number) => {
            const f = df.find((x) => x.no === no)?.fixed64;
            return f ? view(f).getBigUint64(0, true) : 0n;
          };
          const asDouble = df.find((x) => x.no === 4)?.fixed64;
          const asInt = df.find((x) => x.no === 6)?.fixed64;
          out.push({
            resource,
            scope,
            name,
            description,
            unit,
            type: gauge ? 'gauge' : sum ? 'sum' : 'other',
            ...sumInfo,
            attributes: pbAttributes(df.filter((x) => x.no === 7)),
            startTimeUnixNano: u64(2),
            timeUnixNano: u64(3),
            value: asDouble ? view(asDouble).getFloat64(0, true) : asInt ? Number(view(asInt).getBigInt64(0, true)) : 0,
          });
        }
      }
    }
  }
  return out;
}
