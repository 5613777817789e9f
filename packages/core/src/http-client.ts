/**
 * What every exporter that sends over HTTP needs the same way: the connection agent its `tls`
 * section describes, and the server's `Retry-After` as a delay.
 */
import http from 'node:http';
import https from 'node:https';
import type { Logger } from './logger.js';
import { readTlsFiles, type TlsFileOptions } from './tls.js';

export interface HttpAgentOptions {
  /** The endpoint the agent will serve: its scheme decides http or https. */
  url: string;
  /** The component's `tls` section. */
  tls: TlsFileOptions & { insecure_skip_verify?: boolean | undefined };
  /** `CreateSettings.baseDir`: the PEM files are relative to it. */
  baseDir: string;
  /** The section's configuration path, for errors: `exporters::otlp/eu::tls`. */
  where: string;
  /** Sockets kept per host (the sending queue's consumers, at least). */
  maxSockets: number;
  logger: Logger;
}

/**
 * A keep-alive agent for `url`: for https, with the CA, client certificate and verification the
 * `tls` section sets; for http, a plain one (TLS settings given for an http:// endpoint are
 * ignored, and that is logged once).
 */
export async function createHttpAgent(options: HttpAgentOptions): Promise<http.Agent> {
  const { tls, url } = options;
  const { ca, cert, key } = await readTlsFiles(options.baseDir, tls, options.where);
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets };
  if (new URL(url).protocol === 'https:') {
    return new https.Agent({
      ...agentOptions,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      rejectUnauthorized: !tls.insecure_skip_verify,
    });
  }
  if (ca || cert || tls.insecure_skip_verify) options.logger.warn({ url }, 'tls settings are ignored for an http:// endpoint');
  return new http.Agent(agentOptions);
}

/** `Retry-After` as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
