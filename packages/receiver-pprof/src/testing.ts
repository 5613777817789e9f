/**
 * An in-process stand-in for a Go program serving `net/http/pprof`, for tests of the
 * receiver and of pipelines using it: a Node HTTP server answering configured paths with
 * configured bytes, recording every request, able to misbehave (hang, send garbage).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeReply {
  status?: number;
  body: Uint8Array | string;
  headers?: Record<string, string>;
  /**
   * Send the headers (with the whole body's Content-Length) and this many bytes of the body,
   * then close the connection: a target that dies while answering.
   */
  closeAfterBytes?: number;
}

/** What to answer on a path (without the query): fixed bytes, or a function of the request. */
export type FakeRoute =
  | Uint8Array
  | string
  | FakeReply
  | ((request: FakeRequest) => FakeReply | Uint8Array | string | Promise<FakeReply | Uint8Array | string>);

export interface FakeRequest {
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** How many times this path was requested before, this one excluded. */
  count: number;
}

export interface FakeTargetOptions {
  routes: Record<string, FakeRoute>;
  /** `hang`: accept, then never answer; `garbage`: answer 200 with non-pprof bytes on every path. */
  mode?: 'normal' | 'hang' | 'garbage';
  host?: string;
}

export interface FakeTarget {
  url: string;
  /** Every request, in arrival order, as `path?query`. */
  readonly requests: string[];
  /** Requests per path (without the query). */
  count(path: string): number;
  /** Requests being served right now, and the most there ever were at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** TCP connections accepted so far, and those still open. */
  readonly connections: number;
  readonly openConnections: number;
  routes: Record<string, FakeRoute>;
  mode: 'normal' | 'hang' | 'garbage';
  /**
   * The process dies: every open connection is closed without an answer (requests waiting for
   * one, such as a CPU profile being recorded, see the connection close) and nothing listens
   * on the port any more.
   */
  kill(): Promise<void>;
  close(): Promise<void>;
}

export async function startFakePprofTarget(options: FakeTargetOptions): Promise<FakeTarget> {
  const requests: string[] = [];
  const counts = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  let inFlight = 0;
  let maxInFlight = 0;
  let connections = 0;
  let openConnections = 0;
  const target = {
    requests,
    routes: options.routes,
    mode: options.mode ?? 'normal',
    count: (path: string) => counts.get(path) ?? 0,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get connections() {
      return connections;
    },
    get openConnections() {
      return openConnections;
    },
  } as FakeTarget;

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push(url.pathname + url.search);
    const count = counts.get(url.pathname) ?? 0;
    counts.set(url.pathname, count + 1);
    if (target.mode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const done = () => {
      inFlight--;
    };
    if (target.mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end('<html><body>this is not a profile</body></html>', done);
      return;
    }
    const route = target.routes[url.pathname];
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'x-go-pprof': '1' });
      res.end('Unknown profile\n', done);
      return;
    }
    Promise.resolve(typeof route === 'function' ? route({ path: url.pathname, query: url.searchParams, headers: req.headers, count }) : route)
      .then((reply) => {
        const r: FakeReply = typeof reply === 'string' || reply instanceof Uint8Array ? { body: reply } : reply;
        if (r.closeAfterBytes !== undefined) {
          const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
          res.writeHead(r.status ?? 200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length), ...r.headers });
          res.write(body.subarray(0, r.closeAfterBytes), () => {
            done();
            req.socket.destroy();
          });
          return;
        }
        res.writeHead(r.status ?? 200, { 'content-type': 'application/octet-stream', ...r.headers });
        res.end(r.body, done);
      })
      .catch((error: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(error.message, done);
      });
  });
  server.on('connection', (socket) => {
    connections++;
    openConnections++;
    socket.on('close', () => openConnections--);
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const { port, address } = server.address() as AddressInfo;
  target.url = `http://${address}:${port}`;
  let closed: Promise<void> | undefined;
  target.kill = () => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
    });
    return closed;
  };
  target.close = async () => {
    if (closed) return closed;
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return target;
}
