/**
 * The exporter helper, driven through a small in-process destination: a real `send` function
 * whose answers a test scripts (accept, fail with a reason, fail for good, hang), the way a
 * third-party exporter would plug itself in.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Backoff,
  BackpressureError,
  createQueuedExporter,
  exporterHelperFields,
  PermanentSendError,
  RetryableSendError,
  s,
  type Batch,
  type MetricPoint,
  type QueuedExporter,
  type RequestCodec,
  type SendContext,
} from '../src/index.js';
import { createTestSettings, type TestSettings } from '../src/testing.js';

/** One request per metric point: its value. */
type Request = { value: number };

const HelperConfig = s.object({ ...exporterHelperFields() });

function metric(value: number): MetricPoint {
  return { name: 'prof_go_goroutines', unit: '{goroutine}', kind: 'gauge', value, timeNanos: 1n, attributes: {}, resource: {} };
}
function batch(...values: number[]): Batch {
  return { bundles: [], metrics: values.map(metric) };
}

const codec: RequestCodec<Request> = {
  encode: (request) => JSON.stringify(request),
  decode: (body) => {
    const parsed = JSON.parse(body.toString('utf8')) as Request;
    if (typeof parsed.value !== 'number') throw new Error('no value');
    return parsed;
  },
};

/** What the destination does with attempt `n` (0-based, over all requests) of a request. */
type Answer = (request: Request, n: number, context: SendContext) => Promise<void> | void;

interface Harness {
  exporter: QueuedExporter<Request>;
  settings: TestSettings;
  delivered: number[];
  attempts: { value: number; at: number }[];
  counter: (name: string, labels?: Record<string, string>) => number;
}

let dir: string;
let running: Harness[] = [];
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'profcol-exporterhelper-'));
});
afterEach(async () => {
  for (const h of running) await h.exporter.shutdown();
  running = [];
  await fs.rm(dir, { recursive: true, force: true });
});

const FAST_RETRY = { initial_interval: '5ms', max_interval: '20ms', randomization_factor: 0 };

async function start(config: Record<string, unknown>, answer: Answer = () => undefined): Promise<Harness> {
  const parsed = HelperConfig.parse({ drain_timeout: '200ms', ...config });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const settings = createTestSettings({ id: 'demo/one', kind: 'exporter', baseDir: dir });
  const delivered: number[] = [];
  const attempts: { value: number; at: number }[] = [];
  let n = 0;
  const exporter = createQueuedExporter<Request>({
    settings,
    config: parsed.value,
    name: 'demo exporter',
    destination: 'the demo destination',
    toRequests: (b) => b.metrics.map((p) => ({ value: p.value })),
    itemsOf: () => ({ points: 1 }),
    codec,
    send: async (request, context) => {
      attempts.push({ value: request.value, at: Date.now() });
      await answer(request, n++, context);
      delivered.push(request.value);
    },
  });
  await exporter.start(settings.host);
  const h = { exporter, settings, delivered, attempts, counter: (name: string, labels: Record<string, string> = {}) => settings.registry.value(name, labels) };
  running.push(h);
  return h;
}

async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; !condition(); i++) {
    if (i > 2000) throw new Error(`waited for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('exporter helper: sending queue', () => {
  it('acknowledges once queued, sends in the background, and counts what was sent', async () => {
    const h = await start({});
    await h.exporter.consume(batch(1, 2, 3));
    await until(() => h.delivered.length === 3);
    expect(h.delivered.sort()).toEqual([1, 2, 3]);
    expect(h.counter('profcol_exporter_sent_metric_points_total')).toBe(3);
    await until(() => h.counter('profcol_exporter_queue_size') === 0);
    expect(h.counter('profcol_exporter_queue_capacity')).toBe(1000);
  });

  it('refuses a batch with BackpressureError once queue_size requests are held, counted as queue_full', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const h = await start({ sending_queue: { num_consumers: 1, queue_size: 2 } }, () => gate);
    await h.exporter.consume(batch(1));
    await h.exporter.consume(batch(2));
    await expect(h.exporter.consume(batch(3))).rejects.toThrow(/sending queue is full \(2 of 2 requests\); the demo destination/);
    expect(h.counter('profcol_exporter_queue_refused_batches_total', { reason: 'queue_full' })).toBe(1);
    open();
    await until(() => h.counter('profcol_exporter_queue_size') === 0);
    await h.exporter.consume(batch(3));
    await until(() => h.delivered.length === 3);
  });

  it('refuses by bytes too (max_bytes, the encoded size)', async () => {
    const h = await start({ sending_queue: { max_bytes: '1KiB' } }, () => new Promise(() => {}));
    let refused: unknown;
    for (let i = 0; i < 200 && !refused; i++) await h.exporter.consume(batch(i)).catch((e: unknown) => (refused = e));
    expect(refused).toBeInstanceOf(BackpressureError);
    expect(String(refused)).toMatch(/of 1024 bytes/);
    expect(h.counter('profcol_exporter_queue_bytes')).toBeLessThanOrEqual(1024);
  });
});

describe('exporter helper: retries', () => {
  it('retries a retryable failure and waits at least its Retry-After', async () => {
    const h = await start({ retry_on_failure: FAST_RETRY }, (_r, n) => {
      if (n === 0) throw new RetryableSendError('busy', { reason: 'http_503', retryAfterMs: 300 });
    });
    await h.exporter.consume(batch(7));
    await until(() => h.delivered.length === 1);
    expect(h.attempts[1]!.at - h.attempts[0]!.at).toBeGreaterThanOrEqual(300);
    expect(h.counter('profcol_exporter_retries_total', { reason: 'http_503' })).toBe(1);
    expect(h.counter('profcol_exporter_send_failed_attempts_total', { reason: 'http_503' })).toBe(1);
  });

  it('retries any error but a PermanentError, labelled by its Node code', async () => {
    const h = await start({ retry_on_failure: FAST_RETRY }, (_r, n) => {
      if (n < 2) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    });
    await h.exporter.consume(batch(1));
    await until(() => h.delivered.length === 1);
    expect(h.counter('profcol_exporter_retries_total', { reason: 'ENOSPC' })).toBe(2);
  });

  it('drops a request refused for good at once: counted with its reason, never retried', async () => {
    const h = await start({ retry_on_failure: FAST_RETRY }, () => {
      throw new PermanentSendError('bad data', { reason: 'http_400' });
    });
    await h.exporter.consume(batch(1));
    await until(() => h.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'http_400' }) === 1);
    expect(h.attempts).toHaveLength(1);
  });

  it('gives up after max_elapsed_time: a counted drop, reason retries_exhausted', async () => {
    const h = await start({ retry_on_failure: { ...FAST_RETRY, max_elapsed_time: '50ms' } }, () => {
      throw new RetryableSendError('down', { reason: 'ECONNREFUSED' });
    });
    await h.exporter.consume(batch(1));
    await until(() => h.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'retries_exhausted' }) === 1);
  });

  it('ends an attempt at timeout, aborting its signal, and retries it', async () => {
    const aborted: boolean[] = [];
    const h = await start({ timeout: '30ms', retry_on_failure: FAST_RETRY }, (_r, n, { signal }) => {
      if (n > 0) return;
      return new Promise<void>((_, reject) => signal.addEventListener('abort', () => (aborted.push(true), reject(signal.reason))));
    });
    await h.exporter.consume(batch(1));
    await until(() => h.delivered.length === 1);
    expect(aborted).toEqual([true]);
    expect(h.counter('profcol_exporter_send_failed_attempts_total', { reason: 'timeout' })).toBe(1);
  });
});

describe('exporter helper: without a queue', () => {
  it('consume() resolves once delivered, and rejects with the send error when it is never delivered', async () => {
    const ok = await start({ sending_queue: { enabled: false } });
    await ok.exporter.consume(batch(1));
    expect(ok.delivered).toEqual([1]);
    const permanent = await start({ sending_queue: { enabled: false } }, () => {
      throw new PermanentSendError('bad data', { reason: 'http_400' });
    });
    await expect(permanent.exporter.consume(batch(1))).rejects.toBeInstanceOf(PermanentSendError);
    expect(permanent.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'http_400' })).toBe(1);
  });

  it('stops retrying when the caller’s signal aborts, rejects with BackpressureError and counts the points as cancelled', async () => {
    const h = await start({ sending_queue: { enabled: false }, retry_on_failure: { initial_interval: '10s' } }, () => {
      throw new RetryableSendError('busy', { reason: 'http_503' });
    });
    const deadline = new AbortController();
    const consuming = h.exporter.consume(batch(1, 2), { signal: deadline.signal });
    await until(() => h.attempts.length === 2);
    deadline.abort();
    await expect(consuming).rejects.toThrow(/stopped before the batch was delivered .*cancelled/);
    expect(h.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'cancelled' })).toBe(2);
  });
});

describe('exporter helper: persistent queue (sending_queue.storage)', () => {
  const files = async () => (await fs.readdir(path.join(dir, 'q', 'demo_one')).catch(() => [] as string[])).filter((n) => n.endsWith('.pcq'));

  it('has every request on disk before consume() resolves, replays it after a restart and deletes it once delivered', async () => {
    let up = false;
    const config = { retry_on_failure: FAST_RETRY, drain_timeout: '20ms', sending_queue: { storage: 'q' } };
    const first = await start(config, () => {
      if (!up) throw new RetryableSendError('down', { reason: 'ECONNREFUSED' });
    });
    await first.exporter.consume(batch(1, 2));
    expect(await files()).toHaveLength(2);
    await first.exporter.shutdown();
    expect(first.counter('profcol_exporter_send_failed_metric_points_total')).toBe(0);
    expect(await files()).toHaveLength(2);

    up = true;
    const second = await start(config);
    expect(second.counter('profcol_exporter_queue_replayed_requests_total')).toBe(2);
    await until(() => second.delivered.length === 2);
    expect(second.delivered.sort()).toEqual([1, 2]);
    await until(() => second.counter('profcol_exporter_queue_size') === 0);
    expect(await files()).toEqual([]);
  });

  it('skips a file its codec cannot read: moved to corrupt/ and counted', async () => {
    const queue = path.join(dir, 'q', 'demo_one');
    await fs.mkdir(queue, { recursive: true });
    const { encodeQueueFile } = await import('../src/index.js');
    await fs.writeFile(path.join(queue, '0000000000000001.pcq'), encodeQueueFile('{"value":5}'));
    await fs.writeFile(path.join(queue, '0000000000000002.pcq'), encodeQueueFile('{"other":1}'));
    const h = await start({ sending_queue: { storage: 'q' } });
    expect(h.counter('profcol_exporter_queue_corrupt_files_total')).toBe(1);
    await until(() => h.delivered.length === 1);
    expect(h.delivered).toEqual([5]);
    expect(await fs.readdir(path.join(queue, 'corrupt'))).toEqual(['0000000000000002.pcq']);
  });

  it('refuses storage when the exporter gives no codec, saying what to change', () => {
    const parsed = HelperConfig.parse({ sending_queue: { storage: 'q' } });
    if (!parsed.ok) throw new Error('config');
    const settings = createTestSettings({ id: 'demo', kind: 'exporter' });
    expect(() =>
      createQueuedExporter<Request>({
        settings,
        config: parsed.value,
        name: 'demo',
        destination: 'x',
        toRequests: () => [],
        itemsOf: () => ({}),
        send: async () => undefined,
      }),
    ).toThrow(/exporters::demo::sending_queue::storage: this exporter cannot persist its requests/);
  });
});

describe('exporter helper: shutdown', () => {
  it('without storage, counts and logs what is still unsent after drain_timeout as dropped (shutdown)', async () => {
    const h = await start({ drain_timeout: '20ms', retry_on_failure: FAST_RETRY }, () => {
      throw new RetryableSendError('down', { reason: 'ECONNREFUSED' });
    });
    await h.exporter.consume(batch(1, 2, 3));
    await h.exporter.shutdown();
    expect(h.counter('profcol_exporter_send_failed_metric_points_total', { reason: 'shutdown' })).toBe(3);
    await expect(h.exporter.consume(batch(4))).rejects.toThrow(/shutting down/);
  });
});

describe('backoff', () => {
  it('grows by the multiplier up to max_interval, jittered by randomization_factor', () => {
    const exact = new Backoff({ initial_interval: 100, max_interval: 400, multiplier: 2, randomization_factor: 0 });
    expect([exact.next(), exact.next(), exact.next(), exact.next(), exact.next()]).toEqual([100, 200, 400, 400, 400]);
    const low = new Backoff({ initial_interval: 100, max_interval: 400, multiplier: 2, randomization_factor: 0.5 }, () => 0);
    const high = new Backoff({ initial_interval: 100, max_interval: 400, multiplier: 2, randomization_factor: 0.5 }, () => 1);
    expect([low.next(), high.next()]).toEqual([50, 150]);
  });
});
