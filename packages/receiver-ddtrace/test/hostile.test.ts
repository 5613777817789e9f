/**
 * Hostile and broken clients at the socket level (issue 10): trickled bodies, bodies far over
 * the limit, a Content-Length shorter than the body, requests racing a shutdown. Real sockets
 * (node:net), since each of these bugs lived in the HTTP layer, not in the upload handling.
 */
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { capturingLogger, goUpload, jsFixture, rawConnection, rawPost, request, startReceiver, type Running } from './helpers.js';

const PATH = '/profiling/v1/input';

let running: Running[] = [];
let sockets: net.Socket[] = [];
async function start(config: Record<string, unknown> = {}, options: Parameters<typeof startReceiver>[2] = {}): Promise<Running> {
  const r = await startReceiver(config, undefined, options);
  running.push(r);
  return r;
}
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets = [];
  await Promise.all(running.map((r) => r.stop()));
  running = [];
});

/** A raw client connection that keeps everything the server sends and how the connection ended. */
async function rawClient(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  let error: NodeJS.ErrnoException | undefined;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on('data', (chunk: Buffer) => (chunks.push(chunk), wake()));
  socket.on('error', (e) => (error = e));
  const closed = new Promise<void>((resolve) => socket.once('close', () => (wake(), resolve())));
  const text = () => Buffer.concat(chunks).toString('latin1');
  return {
    socket,
    text,
    closed,
    get error() {
      return error;
    },
    /** Resolves with what the server sent once `test` holds for it, or rejects when the connection closed first. */
    async until(test: (text: string) => boolean, what: string): Promise<string> {
      for (;;) {
        if (test(text())) return text();
        if (socket.destroyed)
          throw new Error(`the connection closed (${error?.code ?? 'FIN'}) before ${what}; the server sent ${JSON.stringify(text().slice(0, 300))}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

/** The responses in a stream of HTTP/1.1 responses with Content-Length bodies. */
function responses(text: string): { status: number; head: string; json: { reason?: string; error?: string } }[] {
  const out = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return out;
    const head = rest.slice(0, end);
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (rest.length < end + 4 + length) return out;
    const body = rest.slice(end + 4, end + 4 + length);
    out.push({ status: Number(head.split(' ')[1]), head, json: body ? JSON.parse(body) : {} });
    rest = rest.slice(end + 4 + length);
  }
}
const complete = (count: number) => (text: string) => responses(text).length >= count;

/** Sends a request's head at once and its body one byte every `everyMs`, until the connection ends. */
async function trickle(port: number, bytes: Buffer, headLength: number, everyMs: number) {
  const client = await rawClient(port);
  client.socket.write(bytes.subarray(0, headLength));
  let sent = headLength;
  const timer = setInterval(() => {
    if (client.socket.destroyed || sent >= bytes.length) return clearInterval(timer);
    client.socket.write(bytes.subarray(sent, sent + 1));
    sent++;
  }, everyMs);
  void client.closed.then(() => clearInterval(timer));
  return Object.assign(client, { stop: () => (clearInterval(timer), client.socket.destroy()) });
}

describe('ddtrace receiver: slow bodies (issue 10.1)', () => {
  const upload = goUpload();
  const bytes = rawPost(PATH, upload.headers, upload.body);
  const headLength = bytes.indexOf('\r\n\r\n') + 4;

  it('eight clients trickling their bodies at 1 byte per 100 ms hold no upload slot: a whole upload meanwhile gets 200', async () => {
    // min_body_rate 0: nothing cuts the trickling clients off, so only the slot rule is tested.
    const r = await start({ max_concurrent_uploads: 8, min_body_rate: 0 });
    const tricklers = await Promise.all(Array.from({ length: 8 }, () => trickle(r.port, bytes, headLength, 100)));
    await vi.waitFor(() => expect(r.count('profcol_receiver_uploads_in_flight')).toBe(8));
    const legit = await request(r.port, goUpload());
    expect([legit.status, legit.json.reason]).toEqual([200, undefined]);
    expect(r.consumer.bundles).toHaveLength(1);
    expect(tricklers.map((t) => t.text())).toEqual(Array(8).fill(''));
    tricklers.forEach((t) => t.stop());
  });

  it('answers 408 slow_body at once (not after request_timeout) to a body slower than min_body_rate past body_timeout, counted and logged', async () => {
    const { logger, lines } = capturingLogger();
    const r = await start({ min_body_rate: '1KiB', body_timeout: '1s', request_timeout: '60s' }, { logger });
    const slow = await trickle(r.port, bytes, headLength, 100);
    const [answer] = responses(await slow.until(complete(1), 'the 408'));
    expect([answer!.status, answer!.json.reason]).toEqual([408, 'slow_body']);
    expect(answer!.json.error).toMatch(
      /^the body arrived at \d+ bytes\/s \(\d+ of \d+ bytes\), slower than min_body_rate \(1024 bytes\/s\) after body_timeout \(1s\)$/,
    );
    expect(answer!.head).toMatch(/\r\nconnection: close/i);
    await slow.closed;
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'slow_body' })).toBe(1);
    expect(lines().filter((l) => l.reason === 'slow_body')).toHaveLength(1);
    expect(r.count('profcol_receiver_uploads_in_flight')).toBe(0);
    expect((await request(r.port, goUpload())).status).toBe(200);
  });
});

describe('ddtrace receiver: a body far over max_request_bytes (issue 10.9)', () => {
  const MiB = 1024 * 1024;
  const head = (length: number) =>
    Buffer.from(
      `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${goUpload().headers['content-type']}\r\nContent-Length: ${length}\r\n\r\n`,
      'latin1',
    );

  it('answers 413 from the Content-Length alone, before a byte of the body is sent, then closes', async () => {
    const r = await start({ max_request_bytes: '1MiB', request_timeout: '2s' });
    const client = await rawClient(r.port);
    client.socket.write(head(200 * MiB));
    const [answer] = responses(await client.until(complete(1), 'the 413'));
    expect([answer!.status, answer!.json.reason]).toEqual([413, 'request_too_large']);
    expect(answer!.json.error).toBe(`the upload declares ${200 * MiB} bytes (Content-Length), more than max_request_bytes (${MiB} bytes)`);
    expect(answer!.head).toMatch(/\r\nconnection: close/i);
    await client.closed;
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'request_too_large' })).toBe(1);
  });

  it('a client sending such a body flat out reads the 413, not a connection reset', async () => {
    const r = await start({ max_request_bytes: '1MiB' });
    const client = await rawClient(r.port);
    client.socket.write(head(16 * MiB));
    const block = Buffer.alloc(64 * 1024, 0x61);
    let written = 0;
    // Writes as fast as the socket takes it, until answered or the connection fails.
    const writing = (async () => {
      while (written < 16 * MiB && !client.socket.destroyed && client.text() === '') {
        written += block.length;
        if (!client.socket.write(block))
          await new Promise((resolve) => {
            client.socket.once('drain', resolve);
            client.socket.once('close', resolve);
          });
      }
    })();
    const [answer] = responses(await client.until(complete(1), 'the 413'));
    await writing;
    expect([answer!.status, answer!.json.reason]).toEqual([413, 'request_too_large']);
  });
});

describe('ddtrace receiver: a Content-Length shorter than the body (issue 10.10)', () => {
  it('answers the request its Content-Length delimits, then 400 bad_http for the leftover bytes', async () => {
    const r = await start();
    const good = goUpload();
    const client = await rawClient(r.port);
    // The upload whole, then bytes its Content-Length does not cover.
    client.socket.write(Buffer.concat([rawPost(PATH, good.headers, good.body), Buffer.from('leftover bytes that are not HTTP\r\n\r\n')]));
    const answers = responses(await client.until(complete(2), 'two answers'));
    expect(answers.map((a) => [a.status, a.json.reason])).toEqual([
      [200, undefined],
      [400, 'bad_http'],
    ]);
    expect(r.consumer.bundles).toHaveLength(1);
  });

  it('answers a body cut short by its Content-Length with its own refusal first', async () => {
    const r = await start();
    const js = jsFixture();
    const client = await rawClient(r.port);
    const cut = js.body.length - 100;
    const head = `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${js.headers['content-type']}\r\nContent-Length: ${cut}\r\n\r\n`;
    client.socket.write(Buffer.concat([Buffer.from(head, 'latin1'), js.body]));
    const answers = responses(await client.until(complete(2), 'two answers'));
    expect(answers.map((a) => [a.status, a.json.reason])).toEqual([
      [400, 'truncated'],
      [400, 'bad_http'],
    ]);
  });
});

describe('ddtrace receiver: requests racing a shutdown (issue 10.11)', () => {
  it('answers a request on an idle keep-alive connection right after shutdown begins 503 shutting_down with Connection: close, not a reset', async () => {
    // A long grace, so that nothing here depends on how fast the request arrives: it ends once the connection closed.
    const r = await start({ shutdown_grace: '60s' });
    const connection = await rawConnection(r.port);
    const js = jsFixture();
    const post = rawPost(PATH, { 'Content-Type': js.headers['content-type']! }, js.body);
    expect((await connection.exchange(post)).status).toBe(200);
    const stopping = r.stop();
    const answer = await connection.exchange(post);
    expect([answer.status, JSON.parse(answer.body).reason]).toEqual([503, 'shutting_down']);
    expect(answer.head).toMatch(/\r\nconnection: close/i);
    expect(answer.head).toMatch(/\r\nretry-after: \d+/i);
    await connection.closed;
    await stopping;
  });

  it('stops listening at once (a new connection is refused, so the client knows nothing was sent), closes idle connections after shutdown_grace, and stops', async () => {
    const r = await start({ shutdown_grace: '500ms' });
    const js = jsFixture();
    // One connection that never sent a request, one kept alive after an upload.
    const idle = await rawConnection(r.port);
    const used = await rawConnection(r.port);
    expect((await used.exchange(rawPost(PATH, { 'Content-Type': js.headers['content-type']! }, js.body))).status).toBe(200);
    const stopping = r.stop();
    await expect(request(r.port, { headers: { 'content-type': js.headers['content-type']! }, body: js.body, chunked: true })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    await stopping;
    await Promise.all([idle.closed, used.closed]);
    expect(r.consumer.bundles).toHaveLength(1);
  });
});
