/** Test helpers: a running receiver, raw HTTP requests, multipart bodies, the real fixtures. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { createLogger, type Consumer, type Logger, type ServiceLimits } from '@profcol/core';
import { CollectingConsumer, createTestSettings, type TestSettings } from '@profcol/core/testing';
import { ddtraceConfigSchema, ddtraceReceiverFactory, DdtraceReceiver } from '../src/index.js';

export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

export function fixture(relative: string): Buffer {
  return readFileSync(path.join(FIXTURES, relative));
}

export interface Running {
  receiver: DdtraceReceiver;
  settings: TestSettings;
  consumer: CollectingConsumer;
  url: string;
  port: number;
  /** The value of one of the receiver's own counters. */
  count(name: string, labels?: Record<string, string>): number;
  stop(): Promise<void>;
}

/** A logger that keeps its JSON lines, for tests that check what was said. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk, _encoding, done) => (lines.push(...String(chunk).split('\n').filter(Boolean)), done()) });
  return { logger: createLogger({ level: 'debug', format: 'json', destination }), lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Starts a receiver on a free port with `config` on top of the defaults. */
export async function startReceiver(
  config: Record<string, unknown> = {},
  next?: Consumer,
  options: { limits?: ServiceLimits; logger?: Logger; now?: () => number } = {},
): Promise<Running> {
  // PROFCOL_TEST_LOG=debug shows the receiver's log lines.
  const level = process.env.PROFCOL_TEST_LOG;
  const logger = options.logger ?? (level ? createLogger({ level, format: 'json', destination: process.stderr }) : undefined);
  const settings = createTestSettings({
    id: 'ddtrace',
    kind: 'receiver',
    ...(logger ? { logger } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const parsed = ddtraceConfigSchema.parse({ endpoint: '127.0.0.1:0', ...config });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const consumer = new CollectingConsumer();
  // Through the factory as the host does; directly only when a test gives it a clock.
  const receiver = options.now
    ? new DdtraceReceiver(settings, parsed.value, next ?? consumer, { now: options.now })
    : (ddtraceReceiverFactory.create(settings, parsed.value, next ?? consumer) as DdtraceReceiver);
  await receiver.start(settings.host);
  return {
    receiver,
    settings,
    consumer,
    url: receiver.url!,
    port: receiver.address!.port,
    count: (name, labels = {}) => settings.registry.value(name, labels),
    stop: () => Promise.resolve(receiver.shutdown()),
  };
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: { error?: string; reason?: string } & Record<string, unknown>;
  /** Whether a keep-alive connection from an earlier request carried this one. */
  reusedSocket: boolean;
}

/**
 * Sends a request with node:http. `body` chunks are written one by one; with `chunked`
 * (the dd-trace-js framing) there is no Content-Length.
 */
export function request(
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | Buffer[]; chunked?: boolean; agent?: http.Agent } = {},
): Promise<Response> {
  const chunks = options.body === undefined ? [] : Array.isArray(options.body) ? options.body : [options.body];
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const headers: Record<string, string> = { ...options.headers };
  if (options.chunked) headers['transfer-encoding'] = 'chunked';
  else if (options.method !== 'GET' && options.method !== 'HEAD') headers['content-length'] = String(length);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      { host: '127.0.0.1', port, method: options.method ?? 'POST', path: options.path ?? '/profiling/v1/input', headers, agent: options.agent ?? false },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let json = {};
          try {
            json = text ? JSON.parse(text) : {};
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json, reusedSocket: req.reusedSocket });
        });
        res.on('error', reject);
      },
    );
    // A server may answer before the body is sent and then stop reading; the answer is what counts.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    const writeNext = (i: number) => {
      if (req.destroyed) return;
      if (i >= chunks.length) {
        req.end();
        return;
      }
      req.write(chunks[i]!, () => setImmediate(() => writeNext(i + 1)));
    };
    writeNext(0);
  });
}

/** Writes raw bytes on a TCP connection and returns everything the server sent back until it closed or went quiet. */
export function rawExchange(port: number, bytes: Buffer, quietMs = 500): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(got).toString('latin1'));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    socket.on('data', (c) => {
      got.push(c);
      arm();
    });
    socket.on('close', done);
    socket.on('error', done);
    socket.write(bytes, arm);
  });
}

/** One raw HTTP/1.1 connection: send a request's bytes, get the next response back (head and Content-Length body). */
export async function rawConnection(
  port: number,
): Promise<{ exchange(bytes: Buffer): Promise<{ status: number; head: string; body: string }>; close(): void; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffered = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    buffered = Buffer.concat([buffered, c]);
    waiter?.();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  const nextResponse = async () => {
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end !== -1) {
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length >= end + 4 + length) {
          const body = buffered.subarray(end + 4, end + 4 + length).toString('utf8');
          buffered = buffered.subarray(end + 4 + length);
          return { status: Number(head.split(' ')[1]), head, body };
        }
      }
      await new Promise<void>((resolve, reject) => {
        waiter = resolve;
        socket.once('close', () => reject(new Error(`connection closed; got ${JSON.stringify(buffered.toString('latin1').slice(0, 200))}`)));
      });
    }
  };
  return {
    exchange: (bytes) => {
      socket.write(bytes);
      return nextResponse();
    },
    close: () => socket.destroy(),
    closed,
  };
}

/** The bytes of an HTTP/1.1 POST with a Content-Length body. */
export function rawPost(path: string, headers: Record<string, string>, body: Buffer): Buffer {
  const head = [
    `POST ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${body.length}`,
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer | string;
}

/** A multipart/form-data body as dd-trace clients write it. */
export function multipart(boundary: string, parts: FormPart[], options: { close?: boolean } = {}): Buffer {
  const out: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.contentType) head += `Content-Type: ${part.contentType}\r\n`;
    out.push(Buffer.from(`${head}\r\n`, 'latin1'), Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data), Buffer.from('\r\n'));
  }
  if (options.close !== false) out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

/** zstd outputs by input, so that tests building many uploads from the same fixtures spawn zstd once per attachment. */
const zstdCache = new Map<string, Buffer>();

export function zstd(data: Buffer, args: string[] = []): Buffer {
  const key = `${args.join(' ')}:${createHash('sha256').update(data).digest('hex')}`;
  const cached = zstdCache.get(key);
  if (cached) return cached;
  const compressed = zstdUncached(data, args);
  zstdCache.set(key, compressed);
  return compressed;
}

function zstdUncached(data: Buffer, args: string[]): Buffer {
  // Through stdin, like a streaming encoder: the frame carries no content size.
  const result = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 512 * 1024 * 1024 });
  if (result.error || result.status !== 0) throw new Error(`zstd failed (apt-get install -y zstd): ${result.error?.message ?? result.stderr.toString()}`);
  return result.stdout;
}

export function lz4(data: Buffer): Buffer {
  const result = spawnSync('lz4', ['-q', '-c'], { input: data, maxBuffer: 512 * 1024 * 1024 });
  if (result.error || result.status !== 0) throw new Error(`lz4 failed (apt-get install -y lz4): ${result.error?.message ?? result.stderr.toString()}`);
  return result.stdout;
}

export function gzip(data: Buffer): Buffer {
  return gzipSync(data);
}

/** The real dd-trace-js upload (event first, gzip attachments). */
export function jsFixture(): { headers: Record<string, string>; body: Buffer; boundary: string } {
  return capturedUpload('ddtrace-js/upload-gzip');
}

/** A captured real upload: `<stem>.headers.txt` (request line, then headers) and `<stem>.body.bin`. */
export function capturedUpload(stem: string): { headers: Record<string, string>; body: Buffer; boundary: string } {
  const lines = fixture(`${stem}.headers.txt`).toString('utf8').split(/\r?\n/).slice(1);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const boundary = /boundary=([^;]+)/.exec(headers['content-type']!)![1]!;
  return { headers, body: fixture(`${stem}.body.bin`), boundary };
}

/** One attachment of the real dd-trace-js upload, bytes as sent (gzip). */
export function jsAttachment(name: string): Buffer {
  const { body } = jsFixture();
  const start = body.indexOf(`name="${name}"`);
  const dataStart = body.indexOf('\r\n\r\n', start) + 4;
  return body.subarray(dataStart, body.indexOf('\r\n--', dataStart));
}

export const GO_BOUNDARY = 'f1e2d3c4b5a6978899aabbccddeeff00112233445566778899aabbccddee';

/** The attachments of the real dd-trace-go upload in test/fixtures/ddtrace-go (uncompressed). */
export const GO_ATTACHMENTS = ['metrics.json', 'delta-heap.pprof', 'delta-block.pprof', 'delta-mutex.pprof', 'goroutines.pprof', 'cpu.pprof'];

export const GO_TAGS =
  'process_id:4242,team:profcol,git.repository_url:https://github.com/example/app,profiler_version:v2.12.0,runtime_version:1.26.8,runtime_compiler:gc,runtime_arch:amd64,runtime_os:linux,runtime-id:5e4b3c1a-0000-4000-8000-000000000001,version:1.2.3,service:my-svc,profile_seq:7,runtime:go,_dd.profiler.go_execution_trace_enabled:true,pgo:false,env:dev,host:my-host';

/**
 * A dd-trace-go shaped upload built from the real attachments: each attachment as a file part
 * (`application/octet-stream`), the `event` part LAST with a trailing newline, a 60-hex boundary.
 */
export function goUpload(
  options: { compress?: (name: string, data: Buffer) => Buffer; event?: Record<string, unknown>; attachments?: string[]; extraParts?: FormPart[] } = {},
): { body: Buffer; headers: Record<string, string>; event: Record<string, unknown> } {
  const names = options.attachments ?? GO_ATTACHMENTS;
  const compress = options.compress ?? ((_name: string, data: Buffer) => zstd(data));
  const event = {
    start: '2026-08-21T15:40:00.000123456Z',
    end: '2026-08-21T17:41:00.000123457+02:00',
    attachments: names,
    tags_profiler: GO_TAGS,
    family: 'go',
    version: '4',
    ...options.event,
  };
  const parts: FormPart[] = names.map((name) => ({
    name,
    filename: name,
    contentType: 'application/octet-stream',
    data: compress(name, fixture(`ddtrace-go/${name}`)),
  }));
  parts.push(...(options.extraParts ?? []));
  parts.push({ name: 'event', filename: 'event.json', contentType: 'application/json', data: `${JSON.stringify(event)}\n` });
  return { body: multipart(GO_BOUNDARY, parts), headers: { 'content-type': `multipart/form-data; boundary=${GO_BOUNDARY}` }, event };
}

/** Splits a buffer into chunks of `size` bytes. */
export function chunksOf(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}
