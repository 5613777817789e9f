import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { BackpressureError, PermanentError, type Batch, type Consumer } from '@profcol/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RecentUploads } from '../src/dedup.js';
import { normalisePath } from '../src/receiver.js';
import { goUpload, jsFixture, rawConnection, rawPost, request, startReceiver, zstd, type Running } from './helpers.js';

/** A consumer whose answer the test controls. */
class GatedConsumer implements Consumer {
  readonly batches: Batch[] = [];
  readonly waiting: { batch: Batch; resolve: () => void; reject: (error: Error) => void }[] = [];
  private arrived: (() => void)[] = [];
  consume(batch: Batch): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ batch, resolve: () => (this.batches.push(batch), resolve()), reject });
      this.arrived.splice(0).forEach((f) => f());
    });
  }
  async nextArrival(count: number): Promise<void> {
    while (this.waiting.length < count) await new Promise<void>((resolve) => this.arrived.push(resolve));
  }
}

const js = jsFixture();
const jsPost = (port: number, extra: Record<string, string> = {}) =>
  request(port, { headers: { 'content-type': js.headers['content-type']!, ...extra }, body: js.body, chunked: true });

let running: Running[] = [];
async function start(config: Record<string, unknown> = {}, next?: Consumer): Promise<Running> {
  const r = await startReceiver(config, next);
  running.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(running.map((r) => r.stop()));
  running = [];
});

describe('ddtrace receiver: answering only once the pipeline took the upload', () => {
  it('answers 200 only after next.consume resolved', async () => {
    const gate = new GatedConsumer();
    const r = await start({}, gate);
    let answered = false;
    const pending = jsPost(r.port).then((response) => ((answered = true), response));
    await gate.nextArrival(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(answered).toBe(false);
    gate.waiting[0]!.resolve();
    expect((await pending).status).toBe(200);
    expect(r.count('profcol_receiver_accepted_uploads_total')).toBe(1);
  });

  it('answers 429 with Retry-After when the pipeline pushes back, from the error or retry_after', async () => {
    const r = await start({ retry_after: '7s' });
    r.consumer.refuseWith = new BackpressureError('queue full (1000/1000 batches)', 2500);
    const first = await jsPost(r.port);
    expect([first.status, first.headers['retry-after'], first.json.reason]).toEqual([429, '3', 'backpressure']);
    expect(first.json.error).toBe('the pipeline is full: queue full (1000/1000 batches)');
    r.consumer.refuseWith = new BackpressureError('exporter down');
    const second = await jsPost(r.port);
    expect([second.status, second.headers['retry-after']]).toEqual([429, '7']);
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'backpressure' })).toBe(2);
    // The retry of a refused upload is not a duplicate: it is forwarded.
    r.consumer.refuseWith = undefined;
    expect((await jsPost(r.port)).status).toBe(200);
    expect(r.consumer.bundles).toHaveLength(1);
  });

  it('answers 503 memory_limit with Retry-After when the memory_limiter refuses, so dd-trace-go retries', async () => {
    const r = await start();
    // The shape of the memory_limiter processor's MemoryLimitError (a package this one does not depend on).
    r.consumer.refuseWith = Object.assign(
      new BackpressureError('memory_limiter "memory_limiter": memory is above the soft limit (900MiB rss, soft limit 800MiB); retry later', 1000),
      { reason: 'memory_limit' },
    );
    const refused = await jsPost(r.port);
    expect([refused.status, refused.headers['retry-after'], refused.json.reason]).toEqual([503, '1', 'memory_limit']);
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'memory_limit' })).toBe(1);
  });

  it('answers 503 with Retry-After on other pipeline failures, and 400 on a PermanentError', async () => {
    const r = await start();
    r.consumer.refuseWith = new Error('disk full');
    const failed = await jsPost(r.port);
    expect([failed.status, failed.headers['retry-after'], failed.json.reason, failed.json.error]).toEqual([
      503,
      '10',
      'pipeline_error',
      'the pipeline failed: disk full',
    ]);
    r.consumer.refuseWith = new PermanentError('profile type not allowed');
    const permanent = await jsPost(r.port);
    expect([permanent.status, permanent.json.reason]).toEqual([400, 'pipeline_rejected']);
  });

  it('answers 503 while shutting down, and shutdown waits for the upload in flight', async () => {
    const gate = new GatedConsumer();
    const r = await start({}, gate);
    const pending = jsPost(r.port);
    await gate.nextArrival(1);
    let stopped = false;
    const stopping = r.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    gate.waiting[0]!.reject(new BackpressureError('stopping', 1000));
    const response = await pending;
    expect([response.status, response.json.reason, response.headers['retry-after']]).toEqual([503, 'shutting_down', '1']);
    await stopping;
  });

  it('refuses uploads past max_concurrent_uploads with 429 and Retry-After', async () => {
    const gate = new GatedConsumer();
    const r = await start({ max_concurrent_uploads: 1, retry_after: '3s' }, gate);
    const first = jsPost(r.port);
    await gate.nextArrival(1);
    const second = await request(r.port, goUpload());
    expect([second.status, second.headers['retry-after'], second.json.reason]).toEqual([429, '3', 'too_many_uploads']);
    expect(second.json.error).toContain('max_concurrent_uploads 1');
    gate.waiting[0]!.resolve();
    expect((await first).status).toBe(200);
    const third = request(r.port, goUpload());
    await gate.nextArrival(2);
    gate.waiting[1]!.resolve();
    expect((await third).status).toBe(200);
  });
});

describe('ddtrace receiver: de-duplicating retried uploads on (runtime-id, profile_seq)', () => {
  it('answers a retry 200 without forwarding it again, and forwards the next profile_seq', async () => {
    const r = await start();
    expect((await request(r.port, goUpload())).status).toBe(200);
    expect((await request(r.port, goUpload())).status).toBe(200);
    expect(r.consumer.bundles).toHaveLength(1);
    expect(r.count('profcol_receiver_duplicate_uploads_total')).toBe(1);
    const next = goUpload({ event: { tags_profiler: 'service:my-svc,runtime:go,runtime-id:5e4b3c1a-0000-4000-8000-000000000001,profile_seq:8' } });
    expect((await request(r.port, next)).status).toBe(200);
    expect(r.consumer.bundles).toHaveLength(2);
  });

  it('forwards one of two copies arriving at once (dd-trace-js retries while the first is in flight)', async () => {
    const gate = new GatedConsumer();
    const r = await start({}, gate);
    const first = jsPost(r.port);
    await gate.nextArrival(1);
    const second = jsPost(r.port);
    // The second copy's whole body reached the receiver, and it was not forwarded.
    await vi.waitFor(() => expect(r.count('profcol_receiver_received_bytes_total')).toBe(2 * js.body.length));
    expect(gate.waiting).toHaveLength(1);
    gate.waiting[0]!.resolve();
    expect([(await first).status, (await second).status]).toEqual([200, 200]);
    expect(gate.batches).toHaveLength(1);
    expect(r.count('profcol_receiver_duplicate_uploads_total')).toBe(1);
  });

  it('answers a retry of an accepted upload before decompressing it: a copy with a broken attachment still gets 200', async () => {
    const r = await start();
    expect((await request(r.port, goUpload())).status).toBe(200);
    // Same runtime-id and profile_seq; cpu.pprof would not decompress if it were inflated.
    const broken = goUpload({ compress: (name, data) => (name === 'cpu.pprof' ? zstd(data).subarray(0, 1000) : zstd(data)) });
    const retry = await request(r.port, broken);
    expect([retry.status, retry.text]).toEqual([200, '']);
    expect(r.consumer.bundles).toHaveLength(1);
    expect(r.count('profcol_receiver_duplicate_uploads_total')).toBe(1);
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'bad_attachment' })).toBe(0);
  });

  it('releases the key of an upload refused for a broken attachment: the good retry is accepted and forwarded', async () => {
    const r = await start();
    const broken = goUpload({ compress: (name, data) => (name === 'cpu.pprof' ? zstd(data).subarray(0, 1000) : zstd(data)) });
    const first = await request(r.port, broken);
    expect([first.status, first.json.reason]).toEqual([400, 'bad_attachment']);
    expect((await request(r.port, goUpload())).status).toBe(200);
    expect(r.consumer.bundles).toHaveLength(1);
    expect(r.count('profcol_receiver_duplicate_uploads_total')).toBe(0);
  });

  it('a copy arriving while the first is in the pipeline waits: forwarded when the first is refused, not when it is accepted', async () => {
    const gate = new GatedConsumer();
    const r = await start({}, gate);
    const first = jsPost(r.port);
    await gate.nextArrival(1);
    const second = jsPost(r.port);
    await vi.waitFor(() => expect(r.count('profcol_receiver_received_bytes_total')).toBe(2 * js.body.length));
    expect(gate.waiting).toHaveLength(1);
    gate.waiting[0]!.reject(new BackpressureError('queue full', 1000));
    expect((await first).status).toBe(429);
    await gate.nextArrival(2);
    const third = jsPost(r.port);
    // The third copy arrived while the second was in the pipeline.
    await vi.waitFor(() => expect(r.count('profcol_receiver_received_bytes_total')).toBe(3 * js.body.length));
    expect(gate.waiting).toHaveLength(2);
    gate.waiting[1]!.resolve();
    expect([(await second).status, (await third).status]).toEqual([200, 200]);
    expect(gate.waiting).toHaveLength(2);
    expect(gate.batches).toHaveLength(1);
    expect(r.count('profcol_receiver_duplicate_uploads_total')).toBe(1);
  });

  it('forgets uploads after dedup_window, keeps at most dedup_max_entries, and can be turned off', async () => {
    let now = 0;
    const recent = new RecentUploads(1000, 2, () => now);
    const accept = async (key: string) => {
      const claim = await recent.claim(key);
      if (!claim.duplicate) claim.settle(true);
      return claim.duplicate;
    };
    expect(await accept('a/0')).toBe(false);
    expect(await accept('a/0')).toBe(true);
    now = 1500;
    expect(await accept('a/0')).toBe(false);
    await accept('a/1');
    await accept('a/2');
    expect(recent.size).toBe(2);
    expect(await accept('a/0')).toBe(false); // evicted as the oldest
    const off = await start({ dedup_window: '0' });
    await jsPost(off.port);
    await jsPost(off.port);
    expect(off.consumer.bundles).toHaveLength(2);
  });
});

describe('ddtrace receiver: endpoints, other tracer requests, API keys, TLS', () => {
  it('tolerates duplicate slashes, trailing slashes, queries and a path prefix', async () => {
    const r = await start({ dedup_window: '0' });
    for (const p of ['//profiling/v1/input', '/profiling/v1/input/', '/profiling//v1/input?x=1', '/agent-prefix/profiling/v1/input']) {
      const response = await request(r.port, { ...goUpload(), path: p });
      expect([p, response.status]).toEqual([p, 200]);
    }
    expect(normalisePath('//a///b/?q')).toBe('/a/b');
  });

  it('serves the configured endpoints only', async () => {
    const r = await start({ endpoints: ['/custom/upload'] });
    expect((await request(r.port, { ...goUpload(), path: '/custom/upload' })).status).toBe(200);
    const other = await request(r.port, { ...goUpload(), path: '/profiling/v1/input' });
    expect([other.status, other.json.reason]).toEqual([404, 'not_found']);
    expect(other.json.error).toBe('no such endpoint: POST /profiling/v1/input; profile uploads go to POST /custom/upload');
  });

  it('answers the other requests of a tracer harmlessly (200 or 404) and keeps serving', async () => {
    const r = await start();
    const traces = await request(r.port, {
      method: 'PUT',
      path: '/v0.4/traces',
      headers: { 'content-type': 'application/msgpack' },
      body: Buffer.from([0x90]),
    });
    expect([traces.status, traces.json]).toEqual([200, { rate_by_service: {} }]);
    expect(
      (await request(r.port, { path: '/telemetry/proxy/api/v2/apmtelemetry', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') }))
        .status,
    ).toBe(200);
    expect((await request(r.port, { method: 'GET', path: '/info' })).status).toBe(404);
    expect((await request(r.port, { method: 'GET', path: '/' })).status).toBe(404);
    expect(r.count('profcol_receiver_other_requests_total', { status: '200' })).toBe(2);
    expect(r.count('profcol_receiver_other_requests_total', { status: '404' })).toBe(2);
    expect((await jsPost(r.port)).status).toBe(200);
  });

  it('requires DD-API-KEY when api_keys is set → 401 when missing or wrong', async () => {
    const r = await start({ api_keys: ['key-one', 'key-two'] });
    const missing = await jsPost(r.port);
    expect([missing.status, missing.json.reason, missing.json.error]).toEqual([
      401,
      'unauthorized',
      'the DD-API-KEY header is missing; this receiver requires one of its api_keys',
    ]);
    const wrong = await jsPost(r.port, { 'DD-API-KEY': 'key-three' });
    expect([wrong.status, wrong.json.error]).toEqual([401, 'the DD-API-KEY header is not one of the api_keys of this receiver']);
    expect((await jsPost(r.port, { 'Dd-Api-Key': 'key-two' })).status).toBe(200);
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'unauthorized' })).toBe(2);
  });

  it('serves HTTPS with tls.cert_file and tls.key_file (relative to the configuration folder)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'profcol-tls-'));
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1'],
      { cwd: dir },
    );
    expect(made.status, made.stderr?.toString()).toBe(0);
    const { createTestSettings, CollectingConsumer } = await import('@profcol/core/testing');
    const { ddtraceReceiverFactory, ddtraceConfigSchema } = await import('../src/index.js');
    const settings = createTestSettings({ id: 'ddtrace/tls', kind: 'receiver', baseDir: dir });
    const config = ddtraceConfigSchema.parse({ endpoint: '127.0.0.1:0', tls: { cert_file: 'cert.pem', key_file: 'key.pem' } });
    if (!config.ok) throw new Error(JSON.stringify(config.issues));
    const consumer = new CollectingConsumer();
    const receiver = ddtraceReceiverFactory.create(settings, config.value, consumer) as import('../src/receiver.js').DdtraceReceiver;
    await receiver.start(settings.host);
    try {
      expect(receiver.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const upload = goUpload();
      const status = await new Promise<number>((resolve, reject) => {
        const req = https.request(
          `${receiver.url}/profiling/v1/input`,
          { method: 'POST', headers: { ...upload.headers, 'content-length': upload.body.length }, rejectUnauthorized: false },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          },
        );
        req.on('error', reject);
        req.end(upload.body);
      });
      expect(status).toBe(200);
      expect(consumer.bundles[0]!.source).toBe('ddtrace/tls');
    } finally {
      await receiver.shutdown();
    }
    const missing = ddtraceConfigSchema.parse({ endpoint: '127.0.0.1:0', tls: { cert_file: 'nope.pem', key_file: 'key.pem' } });
    if (!missing.ok) throw new Error('schema');
    const broken = ddtraceReceiverFactory.create(settings, missing.value, consumer);
    await expect(Promise.resolve(broken.start!(settings.host))).rejects.toThrow(
      /^receivers::ddtrace\/tls::tls::cert_file: .*nope\.pem cannot be read \(ENOENT\); expected a PEM file$/,
    );
  });

  it('counts a client that hangs up in the middle of its upload, and keeps serving', async () => {
    const r = await start();
    const connection = await rawConnection(r.port);
    const upload = goUpload();
    const bytes = rawPost('/profiling/v1/input', upload.headers, upload.body);
    void connection.exchange(bytes.subarray(0, 5000)).catch(() => {});
    await vi.waitFor(() => expect(r.count('profcol_receiver_received_bytes_total')).toBeGreaterThan(0));
    connection.close();
    await vi.waitFor(() => expect(r.count('profcol_receiver_aborted_uploads_total')).toBe(1));
    expect(r.count('profcol_receiver_refused_uploads_total')).toBe(0);
    expect(r.consumer.bundles).toHaveLength(0);
    expect((await request(r.port, goUpload())).status).toBe(200);
  });

  it('answers 408 to a client that stalls past request_timeout, and keeps serving', async () => {
    const r = await start({ request_timeout: '1s' });
    const connection = await rawConnection(r.port);
    const upload = goUpload();
    const bytes = rawPost('/profiling/v1/input', upload.headers, upload.body);
    const started = Date.now();
    const answer = connection.exchange(bytes.subarray(0, bytes.length - 100));
    const response = await answer;
    expect(response.status).toBe(408);
    expect(JSON.parse(response.body)).toEqual({ error: 'the request was not received within request_timeout (1000 ms)', reason: 'request_timeout' });
    expect(Date.now() - started).toBeLessThan(3000);
    await connection.closed;
    await vi.waitFor(() => expect(r.count('profcol_receiver_aborted_uploads_total')).toBe(1));
    expect(r.count('profcol_receiver_refused_uploads_total', { reason: 'request_timeout' })).toBe(1);
    expect(r.count('profcol_receiver_refused_uploads_total')).toBe(1);
    expect((await request(r.port, goUpload())).status).toBe(200);
  });
});
