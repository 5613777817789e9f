/** A small HTTP(S) GET with a deadline, a body cap and typed failures. */
import { request as httpRequest, type Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ProfcolError } from '@profcol/core';
import { systemClock, type Clock } from './clock.js';

export type ScrapeFailureReason =
  | 'connect' // refused, unreachable, DNS, TLS handshake: no connection to send the request on
  | 'reset' // the connection was up, then closed or reset before the response was complete (a target dying mid-round)
  | 'timeout'
  | 'http_status'
  | 'too_large'
  | 'decompress'
  | 'pprof'
  | 'memory_budget' // service.limits.memory was exhausted while the profile decompressed
  | 'decoder_failed' // a decode worker died; the next round gets a new one
  | 'unexpected_profile'
  | 'memstats'
  | 'auth'
  | 'network'
  | 'internal'; // a bug: the round threw outside any request (counted with type `round`)

/** One request of a scrape failed; `reason` is the counter label. */
export class ScrapeError extends ProfcolError {
  constructor(
    readonly reason: ScrapeFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('scrape', message, options);
  }
}

export interface TlsSettings {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

export interface GetOptions {
  timeoutMs: number;
  maxBytes: number;
  headers: Record<string, string>;
  tls?: TlsSettings;
  signal?: AbortSignal;
  /** Runs the `timeoutMs` deadline (default: the system clock). */
  clock?: Clock;
  /** What `timeout` failures say the limit was (default: `within <timeoutMs> ms`). */
  deadlineText?: string;
  /**
   * Awaited once the response headers are in, before the body is read (the socket stays
   * paused meanwhile); the deadline keeps running. Its signal aborts when the request
   * fails first. The receiver takes a download slot here.
   */
  beforeBody?: (signal: AbortSignal) => Promise<void>;
  /**
   * Send the request over this agent's kept-alive connection (queued behind the agent's
   * other requests when it allows one socket). Default: a connection of its own, closed
   * after the response.
   */
  agent?: HttpAgent;
}

export interface GetResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** Codes that mean the connection (or its TLS handshake) never came up. */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPROTO',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
/** Codes of a connection that was up and went away: the peer closed or reset it. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * The counter reason of a request error. ECONNRESET is `connect` only while connecting: once
 * the request is on an established connection, a reset (Node's "socket hang up" when the peer
 * closes before the headers, as a Go program killed during `?seconds=N` does) is `reset`, so a
 * dying target is not mistaken for one that is not listening.
 */
function requestErrorReason(error: NodeJS.ErrnoException, connected: boolean): ScrapeFailureReason {
  const code = error.code ?? '';
  if (CONNECT_CODES.has(code) || /certificate|self.signed|TLS|SSL/i.test(error.message)) return 'connect';
  if (RESET_CODES.has(code)) return connected ? 'reset' : 'connect';
  return 'network';
}

/**
 * GETs `url`. Fails with `timeout` when the whole exchange (connect, headers, body) takes
 * longer than `timeoutMs`, `too_large` as soon as the body passes `maxBytes`, `connect` for
 * refused/unreachable/TLS failures, `reset` when an established connection is closed or reset
 * before the response is complete. Without `agent`, one connection for the request, closed
 * after it.
 */
export function httpGet(url: URL, options: GetOptions): Promise<GetResult> {
  const clock = options.clock ?? systemClock;
  return new Promise((resolve, reject) => {
    let settled = false;
    const failed = new AbortController();
    const finish = (error: Error | undefined, result?: GetResult) => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        req.destroy();
        failed.abort(error);
        reject(error);
      } else resolve(result!);
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, {
      method: 'GET',
      agent: options.agent ?? false,
      headers: { 'user-agent': 'profcol-pprof-receiver', accept: '*/*', ...(options.agent ? {} : { connection: 'close' }), ...options.headers },
      ...(url.protocol === 'https:' && options.tls ? options.tls : {}),
    });
    // Attached first: destroying the request (timeout, abort) emits 'error', which must never go unhandled.
    let connected = false;
    req.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? '';
      const reason = requestErrorReason(error, connected);
      const what = reason === 'reset' ? 'the target closed the connection before answering: ' : '';
      finish(new ScrapeError(reason, `${what}${code ? `${code}: ` : ''}${error.message}`, { cause: error }));
    });
    // A kept-alive socket is connected already; a new one once its TCP connect (and, for https,
    // its TLS handshake) is done.
    req.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => (connected = true));
    });
    const timer = clock.setTimeout(
      () => finish(new ScrapeError('timeout', `no complete response ${options.deadlineText ?? `within ${options.timeoutMs} ms`}`)),
      Math.max(0, options.timeoutMs),
    );
    const onAbort = () => finish(new ScrapeError('network', 'the scrape was cancelled (receiver shutting down)'));
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort);
    req.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        finish(new ScrapeError('too_large', `the response declares ${declared} bytes, more than max_body_bytes (${options.maxBytes})`));
        return;
      }
      if (options.beforeBody) {
        res.pause();
        options.beforeBody(failed.signal).then(
          () => (settled ? res.destroy() : readBody(res)),
          (error: unknown) => finish(error instanceof Error ? error : new ScrapeError('network', String(error))),
        );
      } else readBody(res);
    });
    const readBody = (res: IncomingMessage) => {
      const declared = Number(res.headers['content-length']);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          finish(new ScrapeError('too_large', `the response body passed max_body_bytes (${options.maxBytes} bytes)`));
          return;
        }
        chunks.push(chunk);
      });
      // The connection closed or was reset mid-body (Node emits 'aborted', then 'error' ECONNRESET).
      const brokeOff = (error?: Error) => {
        const declaredText = Number.isFinite(declared) ? ` of ${declared}` : '';
        finish(
          new ScrapeError(
            'reset',
            `the connection was closed after ${size}${declaredText} body bytes (HTTP ${res.statusCode ?? 0})`,
            error ? { cause: error } : undefined,
          ),
        );
      };
      res.on('error', brokeOff);
      res.on('aborted', () => brokeOff());
      res.on('end', () => {
        const body = Buffer.concat(chunks, size);
        finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) });
      });
      res.resume();
    };
    req.end();
  });
}
