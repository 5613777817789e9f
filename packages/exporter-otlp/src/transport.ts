/**
 * One OTLP/HTTP attempt, no retries: the SDK's own transport retries up to five times inside
 * one call with a fixed backoff and then forgets the status and `Retry-After`, which would
 * hide what `retry_on_failure` needs. This transport reports every answer as it is, and the
 * exporter's retry loop decides.
 */
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ExportResponse, IExporterTransport } from '@opentelemetry/otlp-exporter-base';
import { OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import { parseRetryAfter } from '@profcol/core';

const gzip = promisify(zlib.gzip);

/** Why an attempt failed, with what the retry loop needs to decide. */
export class OtlpSendError extends OTLPExporterError {
  /** A short word for counting: `http_400`, `timeout`, `ECONNREFUSED`, ... */
  readonly reason: string;
  readonly retryable: boolean;
  /** From the backend's `Retry-After`. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { reason: string; retryable: boolean; status?: number; body?: string; retryAfterMs?: number }) {
    super(message, options.status, options.body);
    this.reason = options.reason;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export interface TransportOptions {
  url: string;
  headers: Record<string, string>;
  contentType: 'application/x-protobuf' | 'application/json';
  compression: 'gzip' | 'none';
  agent: http.Agent;
  retryableStatusCodes: readonly number[];
  userAgent: string;
}

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'EADDRNOTAVAIL',
  'UND_ERR_SOCKET',
]);

/** The `message` of a protobuf `google.rpc.Status` (field 2), if the bytes are one. */
export function decodeStatusMessage(bytes: Uint8Array): string | undefined {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) throw new Error('truncated');
      const b = bytes[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  };
  try {
    while (pos < bytes.length) {
      const tag = varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) varint();
      else if (wire === 2) {
        const length = varint();
        const value = bytes.subarray(pos, pos + length);
        pos += length;
        if (field === 2) return new TextDecoder('utf-8', { fatal: true }).decode(value);
      } else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else return undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** What an OTLP backend said in an error answer, readable: the Status message of a protobuf error body, the `message` of a JSON one, else the text, shortened. */
export function describeOtlpErrorBody(body: Buffer, contentType: string | undefined): string {
  if (body.length === 0) return '';
  if (contentType?.includes('protobuf')) {
    const message = decodeStatusMessage(body);
    if (message !== undefined) return message;
  }
  let text = body.toString('utf8');
  if (contentType?.includes('json')) {
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === 'string') text = parsed.message;
    } catch {
      // keep the text
    }
  }
  text = text.trim();
  return text.length > 1024 ? `${text.slice(0, 1024)}…` : text;
}

export class HttpTransport implements IExporterTransport {
  private readonly active = new Set<{ req: http.ClientRequest; fail: (error: OtlpSendError) => void }>();
  /** Called with the body of every 2xx answer (for partial success). */
  onSuccessBody: ((body: Uint8Array) => void) | undefined;

  constructor(private readonly options: TransportOptions) {}

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    const { options } = this;
    let body: Uint8Array = data;
    const headers: Record<string, string> = { ...options.headers, 'Content-Type': options.contentType, 'User-Agent': options.userAgent };
    if (options.compression === 'gzip') {
      body = await gzip(data);
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = String(body.byteLength);
    const url = new URL(options.url);
    const request = url.protocol === 'https:' ? https.request : http.request;

    return new Promise<ExportResponse>((resolve) => {
      let settled = false;
      const finish = (response: ExportResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.active.delete(entry);
        resolve(response);
      };
      const fail = (error: OtlpSendError) =>
        finish(
          error.retryable
            ? { status: 'retryable', error, ...(error.retryAfterMs !== undefined ? { retryInMillis: error.retryAfterMs } : {}) }
            : { status: 'failure', error },
        );

      const req = request(url, { method: 'POST', headers, agent: options.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        res.on('error', (error) => fail(this.networkError(error)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const responseBody = Buffer.concat(chunks);
          if (status >= 200 && status < 300) {
            this.onSuccessBody?.(responseBody);
            finish({ status: 'success', data: responseBody });
            return;
          }
          const said = describeOtlpErrorBody(responseBody, res.headers['content-type']);
          const retryable = options.retryableStatusCodes.includes(status);
          const retryAfterMs = parseRetryAfter(res.headers['retry-after'] as string | undefined);
          const message = `${options.url} answered ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}${said ? `: ${said}` : ''}`;
          fail(
            new OtlpSendError(message, { reason: `http_${status}`, retryable, status, body: said, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }),
          );
        });
      });
      const entry = { req, fail };
      this.active.add(entry);
      const timer = setTimeout(() => {
        fail(new OtlpSendError(`${options.url} did not answer within ${timeoutMillis} ms`, { reason: 'timeout', retryable: true }));
        req.destroy();
      }, timeoutMillis);
      req.on('error', (error) => fail(this.networkError(error)));
      req.end(body);
    });
  }

  private networkError(error: Error & { code?: string }): OtlpSendError {
    // Like the Collector, any failure below HTTP is worth retrying (nothing is lost by
    // waiting); the error code (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT, ...) is the reason,
    // so a certificate misconfiguration is visible in the counters and logs.
    const reason = typeof error.code === 'string' && /^[A-Z0-9_]+$/.test(error.code) ? error.code : 'network';
    return new OtlpSendError(`${this.options.url}: ${error.message}${NETWORK_ERROR_CODES.has(reason) ? '' : ` (${reason})`}`, { reason, retryable: true });
  }

  /** Ends every request in flight; they report `aborted`. */
  abortAll(): void {
    for (const entry of [...this.active]) {
      entry.fail(new OtlpSendError(`${this.options.url}: request aborted by shutdown`, { reason: 'aborted', retryable: true }));
      entry.req.destroy();
    }
  }

  shutdown(): void {
    this.abortAll();
    this.options.agent.destroy();
  }
}
