/**
 * One OTLP/HTTP protobuf POST of an encoded `ExportProfilesServiceRequest`, no retries: the
 * exporter helper (@profcol/core) retries, so every failure is thrown as it reads them —
 * `RetryableSendError` (429/502/503/504 by default, timeouts, network errors, with the backend's
 * `Retry-After`) or `PermanentSendError` (any other status).
 */
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { fromBinary } from '@bufbuild/protobuf';
import { PermanentSendError, parseRetryAfter, RetryableSendError } from '@profcol/core';
import { describeOtlpErrorBody } from '@profcol/exporter-otlp';
import { ExportProfilesServiceResponseSchema } from './gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.js';

const gzip = promisify(zlib.gzip);
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface SenderOptions {
  url: string;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  agent: http.Agent;
  retryableStatusCodes: readonly number[];
  userAgent: string;
}

/** What a 2xx answer said about profiles it did not take (partial success). */
export interface PartialSuccess {
  rejectedProfiles: number;
  message: string;
}

export class ProfilesSender {
  constructor(private readonly options: SenderOptions) {}

  /** Sends `body` once; resolves with the partial success the backend reported, if any. */
  async send(body: Uint8Array, signal: AbortSignal): Promise<PartialSuccess | undefined> {
    const { options } = this;
    const headers: Record<string, string> = { ...options.headers, 'Content-Type': 'application/x-protobuf', 'User-Agent': options.userAgent };
    let payload = body;
    if (options.compression === 'gzip') {
      payload = await gzip(body);
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = String(payload.byteLength);
    const url = new URL(options.url);
    const request = url.protocol === 'https:' ? https.request : http.request;
    const { status, statusMessage, contentType, retryAfter, answer } = await new Promise<{
      status: number;
      statusMessage: string;
      contentType: string;
      retryAfter: string | undefined;
      answer: Buffer;
    }>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers, agent: options.agent, signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        res.on('error', (error) => reject(this.networkError(error)));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            contentType: String(res.headers['content-type'] ?? ''),
            retryAfter: res.headers['retry-after'] as string | undefined,
            answer: Buffer.concat(chunks),
          }),
        );
      });
      req.on('error', (error) => reject(signal.aborted ? signal.reason : this.networkError(error)));
      req.end(payload);
    });
    if (status >= 200 && status < 300) return partialSuccess(answer, contentType);
    const said = describeOtlpErrorBody(answer, contentType);
    const message = `${options.url} answered ${status}${statusMessage ? ` ${statusMessage}` : ''}${said ? `: ${said}` : ''}`;
    if (!options.retryableStatusCodes.includes(status)) throw new PermanentSendError(message, { reason: `http_${status}`, status });
    throw new RetryableSendError(message, { reason: `http_${status}`, status, retryAfterMs: parseRetryAfter(retryAfter) });
  }

  private networkError(error: Error & { code?: string }): RetryableSendError {
    // As the Collector does, any failure below HTTP is retried; its code (ECONNREFUSED,
    // DEPTH_ZERO_SELF_SIGNED_CERT, ...) is the counted reason, so a TLS mistake shows in the counters.
    const reason = typeof error.code === 'string' && /^[A-Z0-9_]+$/.test(error.code) ? error.code : 'network';
    return new RetryableSendError(`${this.options.url}: ${error.message}`, { reason, cause: error });
  }
}

function partialSuccess(answer: Buffer, contentType: string): PartialSuccess | undefined {
  if (answer.length === 0 || !contentType.includes('protobuf')) return undefined;
  try {
    const response = fromBinary(ExportProfilesServiceResponseSchema, answer);
    const rejected = Number(response.partialSuccess?.rejectedProfiles ?? 0n);
    const message = response.partialSuccess?.errorMessage ?? '';
    return rejected > 0 || message ? { rejectedProfiles: rejected, message } : undefined;
  } catch {
    return undefined;
  }
}
