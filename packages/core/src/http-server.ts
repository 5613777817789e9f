/**
 * A small HTTP server on a configured `host:port`, as the components that serve a page or a
 * probe need it (status page, health probes, own metrics): listening before `start` resolves,
 * so a taken port fails the start, and the URL a person can open.
 */
import http from 'node:http';
import { parseEndpoint } from './units.js';

export interface HttpListener {
  server: http.Server;
  /** `http://host:port/` as bound (port 0 resolved); a wildcard host (`0.0.0.0`, `::`) shown as `localhost`. */
  url: string;
  /** Closes idle keep-alive connections at once, then waits for the server to close. */
  close(): Promise<void>;
}

/** Listens on `endpoint` (`host:port`, `:port` or `[v6]:port`); rejects with the listen error (EADDRINUSE, ...). */
export async function listenHttp(endpoint: string, handler: http.RequestListener): Promise<HttpListener> {
  const parsed = parseEndpoint(endpoint);
  if (!parsed) throw new Error(`"${endpoint}" is not a listen address (expected host:port, :port or [v6]:port)`);
  const { host, port } = parsed;
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
  const bound = server.address() as { address: string; port: number };
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : bound.address.includes(':') ? `[${bound.address}]` : bound.address;
  return {
    server,
    url: `http://${shownHost}:${bound.port}/`,
    close: () => {
      server.closeIdleConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
