/**
 * The `ddtrace` receiver: an HTTP endpoint dd-trace profilers upload to, as a Datadog agent
 * (or DataKit) would be. Each upload is read as a stream, checked completely, forwarded as one
 * ProfileBundle, and answered 200 only once the pipeline took it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import {
  defaultServiceLimits,
  formatDurationMs,
  MemoryBudgetError,
  ProfcolError,
  readTlsFiles,
  type Consumer,
  type Counter,
  type CreateSettings,
  type Gauge,
  type Histogram,
  type Host,
  type Logger,
  type MemoryBudget,
  type Receiver,
  type Reservation,
  parseEndpoint,
} from '@profcol/core';
import { DecodeWorkerError, ProfileDecoder } from '@profcol/pprof';
import { fastify, LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { DdtraceConfig } from './config.js';
import { ClientGoneError, UploadError, type RefusalReason } from './errors.js';
import { boundaryOf, mediaTypeOf, MultipartError, MultipartParser, type Part } from './multipart.js';
import { readUpload, type InterpretedUpload } from './upload.js';
import { RecentUploads } from './dedup.js';
import type { RepeatedTag } from './tags.js';
import { BodyRateGuard, type BodyRateReport } from './body-rate.js';

/** Collapses duplicate slashes, drops the query and a trailing slash: `//profiling/v1/input/?x` → `/profiling/v1/input`. */
export function normalisePath(url: string): string {
  const pathname = url.split('?', 1)[0]!.split('#', 1)[0]!;
  const collapsed = `/${pathname}`.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 && collapsed.endsWith('/') ? collapsed.slice(0, -1) : collapsed;
}

/**
 * A refused body is still read (and thrown away) up to this many times `max_request_bytes`, so
 * that the client, still busy sending, can read the refusal on a connection that stays open;
 * past it the refusal is sent at once and the connection closed (see LINGER_MS).
 */
const DRAIN_FACTOR = 4;

/**
 * After a refusal sent with `Connection: close` while the client is still sending, how long the
 * rest is read and thrown away before the connection is dropped (nginx's lingering close): a
 * socket closed with unread input sends a reset, and a reset can make the client discard the
 * answer it has not read yet. The client closing its side ends it sooner.
 */
const LINGER_MS = 2000;

/** Refusals answered at once, without reading the rest of the body, and followed by closing the connection. */
const ANSWER_AT_ONCE: ReadonlySet<RefusalReason> = new Set(['request_too_large', 'slow_body']);

/** What the receiver knows about the body of one upload request while it is read or drained. */
interface BodyState {
  guard: BodyRateGuard;
  /** Set once the body fell behind `min_body_rate`. */
  slow?: BodyRateReport;
  /** Called when the body fell behind, or a drain passed its byte cap: stop waiting for its end. */
  giveUp?: () => void;
}

/** How many times its size a body is charged to the memory budget while it is read and parsed. */
const BODY_COPIES = 2;

/** Tracer requests answered 200 so the tracer stays quiet (profcol ignores their content). */
const QUIET_PATHS = [/^\/v0\.\d\/traces$/, /^\/v0\.\d\/stats$/, /^\/telemetry\/proxy\//, /^\/dogstatsd\//];

interface Telemetry {
  accepted: Counter;
  refused: Counter;
  duplicates: Counter;
  aborted: Counter;
  droppedAttachments: Counter;
  receivedBytes: Counter;
  otherRequests: Counter;
  repeatedTags: Counter;
  inFlight: Gauge;
  duration: Histogram;
}

/** How many services the once-per-service warning about repeated tag keys remembers. */
const MAX_WARNED_SERVICES = 10_000;

export class DdtraceReceiver implements Receiver {
  private app: FastifyInstance | undefined;
  private closing = false;
  /** Uploads being received or processed (the in-flight gauge). */
  private inFlight = 0;
  /** Uploads holding a `max_concurrent_uploads` slot: their body is read, they are decoded or in the pipeline. */
  private processing = 0;
  /** Open client connections, so a shutdown can serve them for `shutdown_grace` before closing idle ones. */
  private readonly connections = new Set<Duplex>();
  private connectionsChanged: (() => void) | undefined;
  /** The request being answered on each connection, so a parse error on the bytes after it waits for its answer. */
  private readonly answering = new WeakMap<object, { req: IncomingMessage; res: http.ServerResponse }>();
  private readonly bodies = new WeakMap<IncomingMessage, BodyState>();
  private readonly endpoints: string[];
  private readonly dedup: RecentUploads;
  private readonly logger: Logger;
  private readonly telemetry: Telemetry;
  private readonly apiKeyHashes: Buffer[];
  private readonly receiverHost = os.hostname();
  /** The one decode entry point (service.limits: decode workers, cap, memory budget). */
  private readonly decoder: ProfileDecoder;
  private readonly budget: MemoryBudget;
  /** The receiver's clock (Unix ms), for the window bounds. */
  private readonly now: () => number;
  /** Services already told about repeated tag keys (once each). */
  private readonly warnedRepeatedTags = new Set<string>();
  /** Where it listens once started: `http://127.0.0.1:9529`. */
  url: string | undefined;
  address: { host: string; port: number } | undefined;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: DdtraceConfig,
    private readonly next: Consumer,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.logger = settings.logger;
    this.endpoints = [...new Set(config.endpoints.map(normalisePath))];
    this.dedup = new RecentUploads(config.dedup_window, config.dedup_max_entries);
    this.apiKeyHashes = config.api_keys.map(sha256);
    this.decoder = ProfileDecoder.for(settings);
    this.budget = (settings.limits ?? defaultServiceLimits()).budget;
    const t = settings.telemetry;
    this.telemetry = {
      accepted: t.counter('profcol_receiver_accepted_uploads_total', 'dd-trace uploads accepted by the pipeline, by format (v4, v3, v1).'),
      refused: t.counter('profcol_receiver_refused_uploads_total', 'dd-trace uploads refused, by reason (see the receiver README).'),
      duplicates: t.counter(
        'profcol_receiver_duplicate_uploads_total',
        'Retried dd-trace uploads (same runtime-id and profile_seq) answered 200 without being forwarded again.',
      ),
      aborted: t.counter('profcol_receiver_aborted_uploads_total', 'Uploads whose client closed the connection before the body was complete.'),
      droppedAttachments: t.counter(
        'profcol_receiver_dropped_attachments_total',
        'Non-profile attachments (go.trace, events.pprof, ...) dropped because keep_attachments is false.',
      ),
      receivedBytes: t.counter('profcol_receiver_received_bytes_total', 'Upload body bytes received.'),
      otherRequests: t.counter(
        'profcol_receiver_other_requests_total',
        'Requests to paths other than the upload endpoints (tracer traffic), by status answered.',
      ),
      repeatedTags: t.counter(
        'profcol_receiver_repeated_tag_values_total',
        'Upload tag values replaced by a later, different value of the same key (k:1,k:2 keeps k:2).',
      ),
      inFlight: t.gauge('profcol_receiver_uploads_in_flight', 'Uploads being received or waiting for the pipeline.'),
      duration: t.histogram(
        'profcol_receiver_upload_duration_seconds',
        "Time from an upload's headers to its answer (body, decoding, pipeline), for uploads past the header checks, in seconds.",
        { unit: 's' },
      ),
    };
  }

  async start(_host?: Host): Promise<void> {
    if (this.app) return;
    this.decoder.warm();
    const listen = parseEndpoint(this.config.endpoint);
    if (!listen) throw new ProfcolError('config', `receiver ${this.settings.id}: endpoint ${JSON.stringify(this.config.endpoint)} is not host:port`);
    const tls = this.config.tls ? await readTlsFiles(this.settings.baseDir, this.config.tls, `receivers::${this.settings.id}::tls`) : undefined;
    const serverOptions = {
      maxHeaderSize: this.config.max_header_bytes,
      // How often Node checks request_timeout (its default, 30 s, would let a slow upload overstay by that much).
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(this.config.request_timeout / 4))),
    };
    const app = fastify({
      loggerInstance: this.logger as unknown as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      return503OnClosing: false,
      forceCloseConnections: 'idle',
      serverFactory: (handler) => {
        const server = tls ? (https.createServer({ ...serverOptions, ...tls }, handler) as unknown as http.Server) : http.createServer(serverOptions, handler);
        server.requestTimeout = this.config.request_timeout;
        server.keepAliveTimeout = 72_000;
        server.headersTimeout = Math.min(this.config.request_timeout, 60_000);
        server.on('connection', (socket: Duplex) => {
          this.connections.add(socket);
          socket.once('close', () => {
            this.connections.delete(socket);
            this.connectionsChanged?.();
          });
        });
        return server;
      },
      clientErrorHandler: (error, socket) => this.onClientError(error as NodeJS.ErrnoException, socket),
    });
    // The body is read by the handler itself, as a stream: no content type parser consumes it.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    app.setErrorHandler((error, request, reply) => this.onFastifyError(error as Error, request, reply));
    app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '*', handler: (request, reply) => this.route(request, reply) });
    try {
      await app.listen({ host: listen.host, port: listen.port });
    } catch (error) {
      await app.close().catch(() => {});
      throw new ProfcolError('listen', `receiver ${this.settings.id}: cannot listen on ${this.config.endpoint}: ${(error as Error).message}`, { cause: error });
    }
    this.app = app;
    const address = app.server.address() as AddressInfo;
    this.address = { host: address.address, port: address.port };
    const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = `${tls ? 'https' : 'http'}://${urlHost}:${address.port}`;
    this.logger.info({ receiver: this.settings.id, url: this.url, endpoints: this.endpoints }, `ddtrace receiver listening on ${this.url}${this.endpoints[0]}`);
  }

  async shutdown(): Promise<void> {
    this.closing = true;
    const app = this.app;
    this.app = undefined;
    if (app) {
      // Stop listening now (a client that reconnects gets a refused connection, which it knows
      // was not sent), but keep serving the open connections for shutdown_grace: a request on an
      // idle keep-alive connection gets 503 with Connection: close instead of the reset that
      // closing the connection under it would cause. Node's server.close() closes idle
      // connections at once, so that step is held back on this server until the grace is over.
      const server = app.server;
      server.closeIdleConnections = () => {};
      const closed = app.close();
      try {
        await this.serveShutdownGrace();
      } finally {
        delete (server as { closeIdleConnections?: unknown }).closeIdleConnections;
      }
      // Connections with no request being answered: idle keep-alive ones, and ones that never
      // sent a request, which server.close() would wait for without end (it stops the header
      // timeout checks). Then it resolves once the uploads in flight are answered.
      for (const socket of this.connections) if (!this.answering.has(socket)) socket.destroy();
      await closed;
    }
    this.dedup.clear();
    await this.decoder.close();
  }

  /** Resolves after `shutdown_grace`, or sooner once every connection has closed. */
  private serveShutdownGrace(): Promise<void> {
    const graceMs = this.config.shutdown_grace;
    if (graceMs <= 0 || this.connections.size === 0) return Promise.resolve();
    this.logger.info(
      { connections: this.connections.size, grace_ms: graceMs },
      `ddtrace receiver stopping: answering requests on ${this.connections.size} open connection(s) 503 shutting_down for up to ${formatDurationMs(graceMs)}`,
    );
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.connectionsChanged = undefined;
        resolve();
      };
      const timer = setTimeout(done, graceMs);
      this.connectionsChanged = () => {
        if (this.connections.size === 0) done();
      };
    });
  }

  private isUploadPath(pathname: string): boolean {
    // An exact endpoint, or one behind a path prefix (dd-trace-go keeps the agent URL's path).
    return this.endpoints.some((endpoint) => pathname === endpoint || pathname.endsWith(endpoint));
  }

  private async route(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const socket = request.raw.socket;
    if (socket) {
      const current = { req: request.raw, res: reply.raw };
      this.answering.set(socket, current);
      reply.raw.once('close', () => {
        if (this.answering.get(socket) === current) this.answering.delete(socket);
      });
    }
    // While stopping, every answer closes its connection.
    if (this.closing) reply.header('connection', 'close');
    const pathname = normalisePath(request.url);
    if (!this.isUploadPath(pathname)) return this.answerOther(request, reply, pathname);
    if (request.method !== 'POST') {
      reply.header('allow', 'POST');
      return this.refuse(request, reply, new UploadError('method_not_allowed', `${request.method} ${pathname}: uploads are POSTed`));
    }
    return this.receiveUpload(request, reply, pathname);
  }

  private answerOther(request: FastifyRequest, reply: FastifyReply, pathname: string): FastifyReply {
    const quiet = (request.method === 'POST' || request.method === 'PUT') && QUIET_PATHS.some((re) => re.test(pathname));
    this.telemetry.otherRequests.add(1, { status: quiet ? '200' : '404' });
    this.logger.debug({ method: request.method, path: pathname }, `ddtrace receiver: ${quiet ? 'ignored' : 'unknown'} request ${request.method} ${pathname}`);
    if (quiet) {
      if (/\/traces$/.test(pathname)) return reply.code(200).type('application/json').send('{"rate_by_service":{}}');
      return reply.code(200).send();
    }
    return reply
      .code(404)
      .type('application/json; charset=utf-8')
      .send(
        JSON.stringify({
          error: `no such endpoint: ${request.method} ${pathname}; profile uploads go to POST ${this.endpoints.join(', ')}`,
          reason: 'not_found',
        }),
      );
  }

  private async receiveUpload(request: FastifyRequest, reply: FastifyReply, pathname: string): Promise<FastifyReply> {
    const req = request.raw;
    this.watchBody(req);
    if (this.closing) {
      reply.header('connection', 'close');
      return this.refuse(
        request,
        reply,
        new UploadError('shutting_down', 'the receiver is shutting down; retry against the restarted collector'),
        this.retryAfterSeconds(),
      );
    }
    if (this.apiKeyHashes.length > 0) {
      const key = request.headers['dd-api-key'];
      if (typeof key !== 'string' || key === '')
        return this.refuse(request, reply, new UploadError('unauthorized', 'the DD-API-KEY header is missing; this receiver requires one of its api_keys'));
      if (!this.keyMatches(key))
        return this.refuse(request, reply, new UploadError('unauthorized', 'the DD-API-KEY header is not one of the api_keys of this receiver'));
    }
    const contentType = request.headers['content-type'];
    if (mediaTypeOf(contentType) !== 'multipart/form-data') {
      return this.refuse(
        request,
        reply,
        new UploadError(
          'unsupported_media_type',
          `Content-Type ${contentType ? JSON.stringify(contentType.slice(0, 100)) : 'is missing'}${contentType ? ' is not multipart/form-data' : ''}: dd-trace profile uploads are multipart/form-data`,
        ),
      );
    }
    const boundary = boundaryOf(contentType!);
    if ('problem' in boundary) return this.refuse(request, reply, new UploadError('bad_boundary', boundary.problem));
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (declared > this.config.max_request_bytes) {
      return this.refuse(
        request,
        reply,
        new UploadError(
          'request_too_large',
          `the upload declares ${declared} bytes (Content-Length), more than max_request_bytes (${this.config.max_request_bytes} bytes)`,
        ),
      );
    }
    // Every slot taken: refused before the body is read. A slot itself is taken only once the
    // body is read, so that clients still sending (or trickling) hold none.
    if (this.processing >= this.config.max_concurrent_uploads) return this.refuseTooMany(request, reply);

    // The body is charged to the memory budget before a byte of it is read: its Content-Length
    // now, or (chunked) as it arrives. Its decompressed attachments join the same reservation,
    // which is given back once the upload is answered.
    // Twice the body: the multipart parser holds a part's socket chunks until it joins them.
    const reservation = this.budget.tryReserve(Number.isFinite(declared) ? BODY_COPIES * declared : 0);
    if (!reservation) return this.refuseBudget(request, reply, `the upload's ${declared} bytes (charged twice while parsed) do not fit`);

    this.inFlight++;
    this.telemetry.inFlight.set(this.inFlight);
    const started = performance.now();
    // Reaches the decode job: a client that hangs up is not decoded for.
    const abandon = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) abandon.abort(new ClientGoneError('the client closed the connection while its upload was being decoded'));
    };
    reply.raw.once('close', onClose);
    let holdsSlot = false;
    try {
      const parts = await this.readParts(req, new MultipartParser(boundary.boundary), Number.isFinite(declared) ? undefined : reservation);
      if (this.processing >= this.config.max_concurrent_uploads) return await this.refuseTooMany(request, reply);
      this.processing++;
      holdsSlot = true;
      const read = readUpload(parts, {
        source: this.settings.id,
        keepAttachments: this.config.keep_attachments,
        hostTag: this.config.host_tag,
        receiverHost: this.receiverHost,
        additionalTags: headerText(request.headers['x-datadog-additional-tags']),
        windowBounds: { nowMs: this.now(), maxFutureMs: this.config.max_clock_skew, maxAgeMs: this.config.max_window_age },
      });
      if (read.repeatedTags.length > 0) this.noteRepeatedTags(read.resource.service, read.repeatedTags);
      const who = { service: read.resource.service, runtime_id: read.resource.runtime_id, profile_seq: read.resource.profile_seq, format: read.format };

      // Claimed before any attachment is decompressed: a retry of an upload already accepted
      // (or still in the pipeline and then accepted) is answered without inflating it again.
      const claim = read.dedupKey ? await this.dedup.claim(read.dedupKey) : { duplicate: false as const, settle: () => {} };
      if (claim.duplicate) {
        this.telemetry.duplicates.add(1);
        this.logger.debug(who, `ddtrace upload ${read.dedupKey} was already accepted; answered 200 without decompressing or forwarding it again`);
        return reply.code(200).send();
      }
      // A malformed attachment or a pipeline refusal releases the key, so a good retry is forwarded.
      let upload: InterpretedUpload;
      try {
        upload = await read.inflate(this.decoder, { signal: abandon.signal, reservation });
      } catch (error) {
        claim.settle(false);
        throw error;
      }
      try {
        await this.next.consume({ bundles: [upload.bundle], metrics: [] });
        claim.settle(true);
      } catch (error) {
        claim.settle(false);
        return this.refusePipeline(request, reply, error);
      }
      const { bundle } = upload;
      if (upload.dropped.length > 0) this.telemetry.droppedAttachments.add(upload.dropped.length);
      this.telemetry.accepted.add(1, { format: upload.format });
      // Debug, not info: at fleet rates one line per upload costs the event loop more than the
      // upload itself; profcol_receiver_accepted_uploads_total counts them.
      if (this.logger.isLevelEnabled('debug')) {
        this.logger.debug(
          {
            ...who,
            bytes: parts.reduce((n, p) => n + p.data.length, 0),
            profiles: upload.summary.profiles,
            metrics: upload.summary.metrics,
            attachments: upload.summary.attachments,
            dropped: upload.dropped,
            encodings: upload.summary.encodings,
            ms: Math.round(performance.now() - started),
          },
          `accepted ddtrace upload from ${bundle.resource.service ?? 'an unnamed service'} (${upload.summary.profiles.join(', ') || 'no profiles'})`,
        );
      }
      return reply.code(200).send();
    } catch (error) {
      if (error instanceof UploadError) return this.refuse(request, reply, error, error.reason === 'memory_budget' ? 1 : undefined);
      if (error instanceof MemoryBudgetError) return this.refuseBudget(request, reply, `its attachments need more: ${error.message}`);
      if (error instanceof DecodeWorkerError) {
        return this.refuse(
          request,
          reply,
          new UploadError('decoder_failed', `decoding the upload failed: ${error.message}; retry`, { cause: error }),
          this.retryAfterSeconds(),
        );
      }
      if (error instanceof ClientGoneError) {
        this.telemetry.aborted.add(1);
        this.logger.warn({ path: pathname, remote: req.socket?.remoteAddress }, `ddtrace upload abandoned: ${error.message}`);
        // Nobody is left to answer.
        reply.hijack();
        req.socket?.destroy();
        return reply;
      }
      this.logger.error({ err: error, path: pathname }, `ddtrace receiver failed on an upload: ${(error as Error).message}`);
      return this.refuse(request, reply, new UploadError('internal_error', `the receiver failed: ${(error as Error).message}`, { cause: error }));
    } finally {
      reply.raw.off('close', onClose);
      reservation.release();
      if (holdsSlot) this.processing--;
      this.inFlight--;
      this.telemetry.inFlight.set(this.inFlight);
      this.telemetry.duration.record((performance.now() - started) / 1000);
    }
  }

  private refuseTooMany(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    return this.refuse(
      request,
      reply,
      new UploadError(
        'too_many_uploads',
        `${this.processing} uploads are already being decoded or forwarded (max_concurrent_uploads ${this.config.max_concurrent_uploads}); retry later`,
      ),
      this.retryAfterSeconds(),
    );
  }

  /** Starts checking the request's body against min_body_rate until it is complete. */
  private watchBody(req: IncomingMessage): void {
    const state: BodyState = {
      guard: new BodyRateGuard({ minBytesPerSecond: this.config.min_body_rate, graceMs: this.config.body_timeout }, (report) => {
        state.slow = report;
        state.giveUp?.();
      }),
    };
    this.bodies.set(req, state);
    const stop = () => state.guard.stop();
    if (req.complete) stop();
    req.once('end', stop);
    req.once('close', stop);
  }

  private slowBodyError(req: IncomingMessage, report: BodyRateReport): UploadError {
    const declared = req.headers['content-length'];
    const of = declared !== undefined ? `${report.received} of ${declared} bytes` : `${report.received} bytes so far`;
    return new UploadError(
      'slow_body',
      `the body arrived at ${report.bytesPerSecond} bytes/s (${of}), slower than min_body_rate (${this.config.min_body_rate} bytes/s) after body_timeout (${formatDurationMs(this.config.body_timeout)})`,
    );
  }

  /** Counts tag values replaced by a repeated key, and says so once per service. */
  private noteRepeatedTags(service: string | undefined, repeated: RepeatedTag[]): void {
    this.telemetry.repeatedTags.add(repeated.reduce((n, r) => n + r.replaced, 0));
    const name = service ?? '';
    if (this.warnedRepeatedTags.has(name) || this.warnedRepeatedTags.size >= MAX_WARNED_SERVICES) return;
    this.warnedRepeatedTags.add(name);
    const keys = repeated.map((r) => r.key);
    // Keys only: tag values may hold what an operator would not want in a log.
    this.logger.warn(
      { service, keys },
      `ddtrace uploads from ${service ?? 'an unnamed service'} give tag ${keys.map((k) => JSON.stringify(k)).join(', ')} more than once with different values; the last value is kept (said once per service, counted in profcol_receiver_repeated_tag_values_total)`,
    );
  }

  /** 503 with Retry-After: the process-wide memory budget has no room now. */
  private refuseBudget(request: FastifyRequest, reply: FastifyReply, detail: string): Promise<FastifyReply> {
    const budget = this.budget;
    return this.refuse(
      request,
      reply,
      new UploadError(
        'memory_budget',
        `the memory budget for uploads in flight is used up (${budget.usedBytes} of ${budget.limitBytes} bytes, service::limits::memory): ${detail}; retry later`,
      ),
      1,
    );
  }

  /**
   * Reads the body through the multipart parser. On the first problem the promise rejects, but
   * the rest of the body is still read and discarded (see DRAIN_FACTOR), so that the client can
   * read the answer before the connection ends.
   */
  private readParts(req: IncomingMessage, parser: MultipartParser, chunkedReservation?: Reservation): Promise<Part[]> {
    const max = this.config.max_request_bytes;
    const body = this.bodies.get(req);
    return new Promise((resolve, reject) => {
      let received = 0;
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        reject(error instanceof MultipartError ? new UploadError(error.reason, error.message) : error);
      };
      if (body) body.giveUp = () => fail(this.slowBodyError(req, body.slow!));
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        body?.guard.add(chunk.length);
        this.telemetry.receivedBytes.add(chunk.length);
        if (settled) {
          // A refused body being drained (see drain): past the cap, the refusal goes out at once.
          if (received > DRAIN_FACTOR * max) body?.giveUp?.();
          return;
        }
        if (received > max) {
          fail(new UploadError('request_too_large', `the upload is larger than max_request_bytes (${max} bytes)`));
          return;
        }
        if (chunkedReservation && !chunkedReservation.grow(BODY_COPIES * chunk.length)) {
          const budget = this.budget;
          fail(
            new UploadError(
              'memory_budget',
              `the memory budget for uploads in flight is used up (${budget.usedBytes} of ${budget.limitBytes} bytes, service::limits::memory) after ${received} bytes of a chunked upload; retry later`,
            ),
          );
          return;
        }
        try {
          parser.write(chunk);
        } catch (error) {
          fail(error);
        }
      });
      req.on('end', () => {
        if (settled) return;
        try {
          const parts = parser.end();
          settled = true;
          resolve(parts);
        } catch (error) {
          fail(error);
        }
      });
      req.on('error', (error) => fail(new ClientGoneError(`the connection failed after ${received} bytes: ${error.message}`, { cause: error })));
      req.on('close', () => {
        if (!req.complete)
          fail(
            new ClientGoneError(
              `the client closed the connection after ${received} bytes${parser.currentPartLabel ? `, inside ${parser.currentPartLabel}` : ''}, before the upload was complete`,
            ),
          );
      });
    });
  }

  /** Maps a pipeline rejection to 429 / 503 (retry later) or 400 (never). */
  private refusePipeline(request: FastifyRequest, reply: FastifyReply, error: unknown): Promise<FastifyReply> {
    const kind = (error as { kind?: string }).kind;
    const message = (error as Error).message ?? String(error);
    if (kind === 'backpressure') {
      const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
      const seconds = retryAfterMs !== undefined ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : this.retryAfterSeconds();
      const reason: RefusalReason = this.closing
        ? 'shutting_down'
        : (error as { reason?: unknown }).reason === 'memory_limit'
          ? 'memory_limit'
          : 'backpressure';
      return this.refuse(request, reply, new UploadError(reason, `the pipeline is full: ${message}`, { cause: error }), seconds);
    }
    if (kind === 'permanent') {
      return this.refuse(request, reply, new UploadError('pipeline_rejected', `the pipeline rejected the upload: ${message}`, { cause: error }));
    }
    this.logger.error({ err: error }, `ddtrace receiver: the pipeline failed on an upload: ${message}`);
    return this.refuse(
      request,
      reply,
      new UploadError(this.closing ? 'shutting_down' : 'pipeline_error', `the pipeline failed: ${message}`, { cause: error }),
      this.retryAfterSeconds(),
    );
  }

  private async refuse(request: FastifyRequest, reply: FastifyReply, error: UploadError, retryAfterSeconds?: number): Promise<FastifyReply> {
    this.telemetry.refused.add(1, { reason: error.reason });
    const context = {
      reason: error.reason,
      status: error.status,
      method: request.method,
      path: normalisePath(request.url),
      remote: request.raw.socket?.remoteAddress,
      origin: headerText(request.headers['dd-evp-origin']),
    };
    if (error.status >= 500) this.logger.error(context, `refused ddtrace upload: ${error.message}`);
    else this.logger.warn(context, `refused ddtrace upload: ${error.message}`);
    const req = request.raw;
    // Answer once the client has sent its whole body, so the connection stays usable: a client
    // still writing (or one that sent `Connection: close`) would otherwise see its connection
    // reset instead of the answer. A body over the limit, a trickling one, or one too large to
    // drain is answered at once instead, and the connection closed after the answer.
    const atOnce = !req.complete && ANSWER_AT_ONCE.has(error.reason);
    const drained = atOnce ? false : await this.drain(req);
    if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
    const body = JSON.stringify({ error: error.message, reason: error.reason });
    if (!drained && !req.complete && !req.destroyed) return this.answerAndClose(reply, error.status, body);
    if (!drained || this.closing) reply.header('connection', 'close');
    return reply.code(error.status).type('application/json; charset=utf-8').send(body);
  }

  /**
   * Sends a refusal while the client is still sending its body, then closes the connection
   * without a reset: the rest is read and thrown away until the client closes its side, for at
   * most LINGER_MS and DRAIN_FACTOR × `max_request_bytes` more bytes.
   */
  private answerAndClose(reply: FastifyReply, status: number, body: string): FastifyReply {
    const req = reply.request.raw;
    const socket = req.socket;
    reply.hijack();
    const headers = {
      ...reply.getHeaders(),
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    const head = [
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`),
    ].join('\r\n');
    let discarded = 0;
    const limit = DRAIN_FACTOR * this.config.max_request_bytes;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > limit) socket.destroy();
    });
    req.on('data', () => {});
    req.resume();
    socket.end(`${head}\r\n\r\n${body}`);
    return reply;
  }

  /**
   * Reads the rest of a refused request's body and throws it away. Resolves true once it was read
   * to its end, false when the connection ended, the body fell behind `min_body_rate`, or it
   * passed DRAIN_FACTOR × `max_request_bytes` (the refusal is then sent at once; see answerAndClose).
   */
  private drain(req: IncomingMessage): Promise<boolean> {
    if (req.complete) return Promise.resolve(true);
    if (req.destroyed) return Promise.resolve(false);
    const body = this.bodies.get(req);
    if (body?.slow) return Promise.resolve(false);
    return new Promise((resolve) => {
      if (body) body.giveUp = () => resolve(false);
      if (req.listenerCount('data') === 0) {
        // Not read yet (refused on its headers): read it now, counting.
        let discarded = 0;
        req.on('data', (chunk: Buffer) => {
          discarded += chunk.length;
          body?.guard.add(chunk.length);
          if (discarded > DRAIN_FACTOR * this.config.max_request_bytes) resolve(false);
        });
        req.on('error', () => resolve(false));
      }
      req.once('end', () => resolve(true));
      req.once('close', () => resolve(req.complete));
    });
  }

  private retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.config.retry_after / 1000));
  }

  private keyMatches(key: string): boolean {
    const hash = sha256(key);
    return this.apiKeyHashes.some((candidate) => timingSafeEqual(candidate, hash));
  }

  private onFastifyError(error: Error & { statusCode?: number; code?: string }, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const status = error.statusCode ?? 500;
    if (status === 415)
      return this.refuse(
        request,
        reply,
        new UploadError('unsupported_media_type', `Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')} cannot be parsed: ${error.message}`),
      );
    if (status >= 400 && status < 500) return this.refuse(request, reply, new UploadError('bad_http', error.message));
    this.logger.error({ err: error }, `ddtrace receiver: unexpected error: ${error.message}`);
    return this.refuse(request, reply, new UploadError('internal_error', `the receiver failed: ${error.message}`));
  }

  /** Errors Node's HTTP parser raises before there is a request: oversized headers, timeouts, garbage. */
  private onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    // A connection reset, a client hanging up mid-request (counted as an aborted upload by the
    // request itself), or a socket already answered: nothing to say.
    if (error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE' || socket.destroyed || answeredSockets.has(socket)) {
      socket.destroy();
      return;
    }
    answeredSockets.add(socket);
    // Bytes after a complete request (a Content-Length shorter than the body, pipelining): that
    // request is answered first, then this refusal, so the client gets both in order.
    const current = this.answering.get(socket);
    if (current && current.req.complete && !current.res.writableFinished && !socket.destroyed) {
      current.res.once('close', () => this.answerClientError(error, socket));
      return;
    }
    this.answerClientError(error, socket);
  }

  private answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    if (socket.destroyed) return;
    let reason: RefusalReason = 'bad_http';
    let message = `malformed HTTP request: ${error.message}`;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      reason = 'headers_too_large';
      message = `the request head is larger than max_header_bytes (${this.config.max_header_bytes} bytes)`;
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      reason = 'request_timeout';
      message = `the request was not received within request_timeout (${this.config.request_timeout} ms)`;
    }
    const status = reason === 'headers_too_large' ? 431 : reason === 'request_timeout' ? 408 : 400;
    this.telemetry.refused.add(1, { reason });
    this.logger.warn({ reason, status, code: error.code, remote: (socket as { remoteAddress?: string }).remoteAddress }, `refused ddtrace request: ${message}`);
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: message, reason });
    // End (not destroy) so the answer is flushed before the connection closes; destroy later regardless.
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.on('error', () => {});
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

/** Sockets already sent a refusal by onClientError. */
const answeredSockets = new WeakSet<object>();

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}
