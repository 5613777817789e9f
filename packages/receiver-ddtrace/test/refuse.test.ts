import { createServiceLimits } from '@profcol/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chunksOf,
  fixture,
  goUpload,
  gzip,
  jsFixture,
  multipart,
  rawConnection,
  rawExchange,
  rawPost,
  request,
  startReceiver,
  zstd,
  type Response,
  type Running,
} from './helpers.js';

const GOOD = jsFixture();

describe('ddtrace receiver: refusing malformed uploads, each with its status and message', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startReceiver({ dedup_window: '0' }, undefined, { limits: createServiceLimits({ maxDecompressedBytes: 8 * 1024 * 1024, decodeWorkers: 1 }) });
  });
  afterAll(() => r.stop());

  /** Every refusal is JSON `{ error, reason }`, counted by reason, and the server serves the next upload. */
  async function expectRefused(response: Response, status: number, reason: string, message: string | RegExp) {
    expect(response.status, response.text).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json.reason).toBe(reason);
    if (typeof message === 'string') expect(response.json.error).toContain(message);
    else expect(response.json.error).toMatch(message);
    expect(r.count('profcol_receiver_refused_uploads_total', { reason })).toBeGreaterThanOrEqual(1);
    const before = r.consumer.bundles.length;
    const next = await request(r.port, { headers: { 'content-type': GOOD.headers['content-type']! }, body: GOOD.body, chunked: true });
    expect(next.status).toBe(200);
    expect(r.consumer.bundles.length).toBe(before + 1);
  }

  const post = (body: Buffer | Buffer[], headers: Record<string, string> = { 'content-type': GOOD.headers['content-type']! }, chunked = false) =>
    request(r.port, { headers, body, chunked });

  it('bad boundary: the body does not use the boundary of its Content-Type → 400', async () => {
    await expectRefused(
      await post(GOOD.body, { 'content-type': 'multipart/form-data; boundary=0123456789abcdef' }),
      400,
      'bad_boundary',
      'does not contain the boundary "--0123456789abcdef" declared in Content-Type; it begins "--5e79a1dd8a04b2b0',
    );
    await expectRefused(await post(GOOD.body, { 'content-type': 'multipart/form-data' }), 400, 'bad_boundary', 'has no boundary parameter');
  });

  it('missing event: no "event" part and no legacy fields → 400', async () => {
    const body = multipart('b1', [{ name: 'cpu.pprof', filename: 'cpu.pprof', data: gzip(fixture('ddtrace-go/cpu.pprof')) }]);
    await expectRefused(await post(body, { 'content-type': 'multipart/form-data; boundary=b1' }), 400, 'missing_event', 'the upload has no "event" part');
  });

  it('event not JSON, or not an object, or with wrong field types → 400', async () => {
    const notJson = goUpload({ attachments: [] });
    const body = Buffer.from(notJson.body.toString('latin1').replace('{"start"', '{start'), 'latin1');
    await expectRefused(await post(body, notJson.headers), 400, 'bad_event', /the "event" part is not valid JSON \(.+\); it begins "\{start/);
    const list = multipart('b2', [{ name: 'event', filename: 'event.json', data: '[1,2]' }]);
    await expectRefused(
      await post(list, { 'content-type': 'multipart/form-data; boundary=b2' }),
      400,
      'bad_event',
      'the "event" part must be a JSON object, got a list',
    );
    const badAttachments = goUpload({ event: { attachments: 'cpu.pprof' } });
    await expectRefused(await post(badAttachments.body, badAttachments.headers), 400, 'bad_event', 'event.attachments must be a list of attachment names');
  });

  it('truncated attachment: a compressed attachment cut short inside an intact body → 400 naming it', async () => {
    const cut = goUpload({ compress: (name, data) => (name === 'cpu.pprof' ? zstd(data).subarray(0, 1000) : zstd(data)) });
    await expectRefused(await post(cut.body, cut.headers), 400, 'bad_attachment', /attachment "cpu\.pprof" \(zstd, 1000 bytes\) cannot be decompressed/);
    const gz = goUpload({ compress: (name, data) => (name === 'delta-heap.pprof' ? gzip(data).subarray(0, 500) : gzip(data)) });
    await expectRefused(
      await post(gz.body, gz.headers),
      400,
      'bad_attachment',
      /attachment "delta-heap\.pprof" \(gzip, 500 bytes\) cannot be decompressed: gzip stream truncated/,
    );
    const raw = goUpload({ compress: (name, data) => (name === 'goroutines.pprof' ? data.subarray(0, 333) : data) });
    await expectRefused(
      await post(raw.body, raw.headers),
      400,
      'bad_attachment',
      /attachment "goroutines\.pprof" is not a valid pprof profile \(uncompressed, 333 bytes\)/,
    );
  });

  it('truncated upload: the body ends inside an attachment → 400 naming the part', async () => {
    const upload = goUpload();
    const truncated = upload.body.subarray(0, Math.floor(upload.body.length / 2));
    await expectRefused(
      await post(truncated, upload.headers),
      400,
      'truncated',
      /the body ended inside part \d \(".+\.pprof"\) after \d+ bytes, before its closing boundary: the upload is truncated/,
    );
    const chunked = await post(chunksOf(GOOD.body.subarray(0, GOOD.body.length - 10), 1000), { 'content-type': GOOD.headers['content-type']! }, true);
    await expectRefused(chunked, 400, 'truncated', 'the body ended inside part 4 ("wall.pprof")');
  });

  it('zstd bomb: an attachment decompressing past max_decompressed_bytes → 413 naming it', async () => {
    const bomb = zstd(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const upload = goUpload({ compress: (name, data) => (name === 'metrics.json' ? bomb : zstd(data)) });
    await expectRefused(
      await post(upload.body, upload.headers),
      413,
      'decompressed_too_large',
      `attachment "metrics.json" (zstd, ${bomb.length} bytes) decompresses to more than service::limits::max_decompressed_bytes (8388608 bytes)`,
    );
  });

  it('many attachments: max_decompressed_bytes bounds the whole upload → 413 naming the attachment that passed it', async () => {
    // Each attachment alone is under the 8 MiB limit; together they are not.
    const five = zstd(Buffer.alloc(5 * 1024 * 1024));
    const upload = goUpload({
      extraParts: [
        { name: 'go.trace', filename: 'go.trace', contentType: 'application/octet-stream', data: five },
        { name: 'second.trace', filename: 'second.trace', contentType: 'application/octet-stream', data: five },
        { name: 'third.trace', filename: 'third.trace', contentType: 'application/octet-stream', data: five },
      ],
    });
    // Kept attachments are decompressed (checked); dropped ones are not (see accept.test.ts).
    const keeping = await startReceiver({ dedup_window: '0', keep_attachments: true }, undefined, {
      limits: createServiceLimits({ maxDecompressedBytes: 8 * 1024 * 1024, decodeWorkers: 1 }),
    });
    try {
      const response = await request(keeping.port, { headers: upload.headers, body: upload.body });
      expect([response.status, response.json.reason]).toEqual([413, 'decompressed_too_large']);
      expect(response.json.error).toMatch(
        /^attachment "second\.trace" \(zstd, \d+ bytes\) takes the upload past service::limits::max_decompressed_bytes \(8388608 bytes for all attachments of one upload\): the attachments before it already decompressed to \d+ bytes, and it needs more than the \d+ left$/,
      );
      expect(keeping.consumer.bundles).toHaveLength(0);
    } finally {
      await keeping.stop();
    }
  });

  it('wrong content type, or none → 415', async () => {
    await expectRefused(
      await post(Buffer.from('{}'), { 'content-type': 'application/json' }),
      415,
      'unsupported_media_type',
      'Content-Type "application/json" is not multipart/form-data',
    );
    await expectRefused(await post(GOOD.body, {}), 415, 'unsupported_media_type', 'Content-Type is missing');
    await expectRefused(
      await post(GOOD.body, { 'content-type': 'multipart/mixed; boundary=5e79a1dd8a04b2b0' }),
      415,
      'unsupported_media_type',
      'is not multipart/form-data',
    );
  });

  it('empty body → 400', async () => {
    await expectRefused(await post(Buffer.alloc(0)), 400, 'empty_body', 'the request body is empty');
    await expectRefused(await post([], { 'content-type': GOOD.headers['content-type']! }, true), 400, 'empty_body', 'the request body is empty');
  });

  it('huge headers: a request head over max_header_bytes → 431, and the server keeps serving', async () => {
    const head = `POST /profiling/v1/input HTTP/1.1\r\nHost: x\r\nX-Huge: ${'a'.repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`;
    const answer = await rawExchange(r.port, Buffer.from(head));
    expect(answer).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(body).toEqual({ error: 'the request head is larger than max_header_bytes (16384 bytes)', reason: 'headers_too_large' });
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'headers_too_large' })).toBe(1);
    const next = await post(GOOD.body);
    expect(next.status).toBe(200);
  });

  it('missing listed attachment: event.attachments names a part that is not there → 400', async () => {
    const upload = goUpload({
      event: { attachments: ['metrics.json', 'cpu.pprof', 'delta-heap.pprof', 'go.trace'] },
      attachments: ['metrics.json', 'cpu.pprof', 'delta-heap.pprof'],
    });
    await expectRefused(
      await post(upload.body, upload.headers),
      400,
      'missing_attachment',
      'event.attachments lists "go.trace", but the upload has no part with that name (attachments present: "metrics.json", "cpu.pprof", "delta-heap.pprof")',
    );
  });

  it('broken metrics.json, a bad window, two event parts → 400 each', async () => {
    const metrics = goUpload({ compress: (name, data) => (name === 'metrics.json' ? zstd(Buffer.from('[["go_num_goroutine","26"]]')) : zstd(data)) });
    await expectRefused(
      await post(metrics.body, metrics.headers),
      400,
      'bad_metrics',
      'attachment "metrics.json": entry 0 is ["go_num_goroutine","26"]; expected a [name, number] pair',
    );
    const noStart = goUpload({ event: { start: undefined } });
    await expectRefused(await post(noStart.body, noStart.headers), 400, 'bad_window', 'event.start is missing');
    const notTime = goUpload({ event: { end: '21/08/2026 15:41' } });
    await expectRefused(await post(notTime.body, notTime.headers), 400, 'bad_window', 'event.end: "21/08/2026 15:41" is not an RFC 3339 timestamp');
    const backwards = goUpload({ event: { end: '2026-08-21T15:39:00Z' } });
    await expectRefused(
      await post(backwards.body, backwards.headers),
      400,
      'bad_window',
      'event.end (2026-08-21T15:39:00Z) is before event.start (2026-08-21T15:40:00.000123456Z)',
    );
    const twice = goUpload({ attachments: [], extraParts: [{ name: 'event', filename: 'event.json', data: '{}' }] });
    await expectRefused(await post(twice.body, twice.headers), 400, 'duplicate_part', 'the upload has 2 parts named "event"');
  });

  it('a body over max_request_bytes → 413, declared (Content-Length) or streamed (chunked)', async () => {
    const small = await startReceiver({ max_request_bytes: '64KiB' });
    try {
      const big = goUpload({ compress: (_name, data) => data }).body; // ≈ 73 KiB uncompressed
      expect(big.length).toBeGreaterThan(64 * 1024);
      const declared = await request(small.port, { headers: goUpload().headers, body: big });
      expect([declared.status, declared.json.reason]).toEqual([413, 'request_too_large']);
      expect(declared.json.error).toBe(`the upload declares ${big.length} bytes (Content-Length), more than max_request_bytes (65536 bytes)`);
      const streamed = await request(small.port, { headers: goUpload().headers, body: chunksOf(big, 8192), chunked: true });
      expect([streamed.status, streamed.json.reason]).toEqual([413, 'request_too_large']);
      expect(streamed.json.error).toBe('the upload is larger than max_request_bytes (65536 bytes)');
      expect(small.count('profcol_receiver_refused_uploads_total', { reason: 'request_too_large' })).toBe(2);
      expect((await request(small.port, goUpload())).status).toBe(200);
    } finally {
      await small.stop();
    }
  });

  it('a 40 MiB upload gets its 413 with the default 32 MiB limit, chunked or with Content-Length', async () => {
    const big = await startReceiver();
    try {
      const head = goUpload({
        attachments: ['metrics.json'],
        extraParts: [{ name: 'go.trace', filename: 'go.trace', data: Buffer.alloc(40 * 1024 * 1024, 7) }],
      });
      const chunked = await request(big.port, { headers: head.headers, body: chunksOf(head.body, 1024 * 1024), chunked: true });
      expect([chunked.status, chunked.json.reason]).toEqual([413, 'request_too_large']);
      const declared = await request(big.port, { headers: head.headers, body: chunksOf(head.body, 1024 * 1024) });
      expect([declared.status, declared.json.reason]).toEqual([413, 'request_too_large']);
      expect((await request(big.port, goUpload())).status).toBe(200);
    } finally {
      await big.stop();
    }
  });

  it('after a refusal in the middle of a body, the same keep-alive connection serves the next upload', async () => {
    const connection = await rawConnection(r.port);
    try {
      const bad = await connection.exchange(rawPost('/profiling/v1/input', { 'Content-Type': 'multipart/form-data; boundary=wrong-boundary' }, GOOD.body));
      expect(bad.status).toBe(400);
      expect(bad.head).toMatch(/connection: keep-alive/i);
      const good = await connection.exchange(rawPost('/profiling/v1/input', { 'Content-Type': GOOD.headers['content-type']! }, GOOD.body));
      expect(good.status).toBe(200);
    } finally {
      connection.close();
    }
  });

  it('answers other methods on the upload path with 405 and Allow: POST', async () => {
    const response = await request(r.port, { method: 'GET' });
    expect([response.status, response.headers.allow, response.json.reason]).toEqual([405, 'POST', 'method_not_allowed']);
  });
});
