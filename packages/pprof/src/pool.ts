/**
 * A small pool of decode worker threads, so that decompressing large profiles (a pulled CPU
 * profile of megabytes, a bomb stopped at the cap) runs on another core while the event loop
 * keeps answering HTTP; small jobs are decoded inline (see `run`). One job per worker at a time, the rest
 * wait in one queue (first come, first served). A worker that dies fails only its own job (the
 * caller answers 503 and the client retries); it is replaced on the next job. Workers are
 * `unref`ed: they never keep the process alive, and `close()` terminates them.
 */
import { Worker } from 'node:worker_threads';
import { type MemoryBudget, ProfcolError } from '@profcol/core';
import { runDecodeJob, type JobItem, type JobResult } from './decode-job.js';
import type { JobRequest, JobResponse, WorkerInit } from './worker.js';

/** A decode worker died (or was stopped) while it ran a job; the job may be retried. */
export class DecodeWorkerError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('decode_worker', message, options);
  }
}

export interface PoolOptions {
  budget: MemoryBudget;
  /** Worker threads; 0 runs jobs on the calling thread. */
  workers: number;
  /** Replace a worker whose V8 heap grew past this (default 256 MiB). */
  recycleHeapBytes?: number;
  /** Replace a worker after an input or output this large (its garbage and wasm memory; default 16 MiB). */
  recycleInputBytes?: number;
  /** Jobs whose compressed input is at most this are tried on the calling thread first (default 256 KiB). */
  inlineInputBytes?: number;
  /** What such an inline attempt may decompress to before the job moves to a worker (default 2 MiB). */
  inlineOutputBytes?: number;
}

const DEFAULT_INLINE_INPUT_BYTES = 256 * 1024;
const DEFAULT_INLINE_OUTPUT_BYTES = 2 * 1024 * 1024;

export interface JobOutcome {
  results: JobResult[];
  /** Bytes charged to the budget for the outputs; the caller gives them back. */
  charged: number;
}

interface PendingJob {
  request: JobRequest;
  resolve: (outcome: JobOutcome) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The caller stopped waiting; whatever the job charged is given back on arrival. */
  abandoned: boolean;
}

interface PoolWorker {
  worker: Worker;
  slot: number;
  job: PendingJob | undefined;
  exited: boolean;
}

/** Where the compiled worker is: beside this module in dist/, or in dist/ when running from src/ (tests). */
function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../dist/worker.js', here) : new URL('./worker.js', here);
}

export class DecodePool {
  private readonly workers: (PoolWorker | undefined)[];
  private readonly queue: PendingJob[] = [];
  private readonly slots: BigInt64Array;
  private nextId = 1;
  private closed = false;
  /** Workers started so far, replacements included (for tests and own metrics). */
  started = 0;
  /** Workers that died during a job. */
  crashed = 0;
  /** Workers replaced because they grew past their bounds. */
  recycled = 0;
  /** Jobs small enough to be decoded on the calling thread. */
  inlineJobs = 0;

  constructor(private readonly options: PoolOptions) {
    this.workers = Array.from({ length: options.workers }, () => undefined);
    this.slots = new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT * Math.max(1, options.workers)));
  }

  get size(): number {
    return this.options.workers;
  }

  /** Worker threads alive now. */
  get alive(): number {
    return this.workers.filter((w) => w && !w.exited).length;
  }

  /** The threads of the workers busy with a job now (diagnostics; tests stop one to see a crash handled). */
  get busyThreads(): Worker[] {
    return this.workers.flatMap((w) => (w && !w.exited && w.job ? [w.worker] : []));
  }

  /** Starts every worker now rather than on first use, so the first uploads do not wait for it. */
  warm(): void {
    for (let slot = 0; slot < this.workers.length; slot++) if (!this.workers[slot]) this.workers[slot] = this.spawn(slot);
  }

  run(items: JobItem[], maxBytes: number, options: { signal?: AbortSignal | undefined; crashForTest?: boolean } = {}): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new DecodeWorkerError('the decode workers are shut down'));
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    if (this.options.workers === 0) return Promise.resolve(this.runInline(items, maxBytes));
    // Small jobs are decoded right here: for a typical dd-trace upload (tens of KiB) the round trip
    // to a worker cost more CPU than the decoding it saved (measured: 1.2-1.3 ms of CPU per upload
    // with 2 workers against 0.7-0.8 ms inline, and fewer uploads/s). The inline attempt may
    // produce at most `inlineOutputBytes`; a job that needs more starts over on a worker.
    const inputBytes = items.reduce((n, item) => n + item.bytes.byteLength, 0);
    const inlineOutput = this.options.inlineOutputBytes ?? DEFAULT_INLINE_OUTPUT_BYTES;
    if (!options.crashForTest && inputBytes <= (this.options.inlineInputBytes ?? DEFAULT_INLINE_INPUT_BYTES)) {
      const inline = this.runInline(items, Math.min(maxBytes, inlineOutput));
      const tooLargeHere = inlineOutput < maxBytes && inline.results.some((r) => !r.ok && r.kind === 'too_large');
      if (!tooLargeHere) {
        this.inlineJobs++;
        return Promise.resolve(inline);
      }
      this.options.budget.release(inline.charged);
    }
    return new Promise<JobOutcome>((resolve, reject) => {
      const job: PendingJob = {
        request: { id: this.nextId++, items, maxBytes, ...(options.crashForTest ? { crash: true } : {}) },
        resolve,
        reject,
        signal: options.signal,
        onAbort: undefined,
        abandoned: false,
      };
      if (options.signal) {
        job.onAbort = () => {
          const queued = this.queue.indexOf(job);
          if (queued >= 0) this.queue.splice(queued, 1);
          else job.abandoned = true;
          reject(abortError(options.signal!));
        };
        options.signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.dispatch();
    });
  }

  /**
   * The items with their bytes copied into one fresh buffer, to be transferred rather than
   * cloned: structured cloning a view clones the whole buffer behind it (a socket read, Node's
   * buffer pool), which measured as the main thread's largest cost per upload.
   */
  private static packed(items: JobItem[]): { items: JobItem[]; transfer: ArrayBuffer[] } {
    const total = items.reduce((n, item) => n + item.bytes.byteLength, 0);
    const buffer = new ArrayBuffer(total);
    const all = new Uint8Array(buffer);
    let at = 0;
    const out = items.map((item) => {
      all.set(item.bytes, at);
      const bytes = new Uint8Array(buffer, at, item.bytes.byteLength);
      at += item.bytes.byteLength;
      return { ...item, bytes };
    });
    return { items: out, transfer: [buffer] };
  }

  private runInline(items: JobItem[], maxBytes: number): JobOutcome {
    const budget = this.options.budget;
    const { results, charged } = runDecodeJob(items, maxBytes, { counter: budget.counter, limitBytes: budget.limitBytes, compact: true });
    return { results, charged };
  }

  /** Terminates every worker; jobs still queued or running are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, undefined, new DecodeWorkerError('the decode workers were shut down before this job ran'));
    await Promise.all(
      this.workers.map(async (entry) => {
        if (!entry || entry.exited) return;
        entry.exited = true;
        if (entry.job) this.failJob(entry, new DecodeWorkerError('the decode workers were shut down during this job'));
        await entry.worker.terminate();
      }),
    );
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const slot = this.workers.findIndex((w) => !w || w.exited || !w.job);
      if (slot < 0) return;
      let entry = this.workers[slot];
      if (!entry || entry.exited) entry = this.workers[slot] = this.spawn(slot);
      const job = this.queue.shift()!;
      entry.job = job;
      const { items, transfer } = DecodePool.packed(job.request.items);
      entry.worker.postMessage({ ...job.request, items }, transfer);
    }
  }

  private spawn(slot: number): PoolWorker {
    Atomics.store(this.slots, slot, 0n);
    const init: WorkerInit = {
      counter: this.options.budget.counter,
      limitBytes: this.options.budget.limitBytes,
      slots: this.slots,
      slot,
      recycleHeapBytes: this.options.recycleHeapBytes ?? 256 * 1024 * 1024,
      recycleInputBytes: this.options.recycleInputBytes ?? 16 * 1024 * 1024,
    };
    const worker = new Worker(workerUrl(), { workerData: init, name: `profcol-decode-${slot}` });
    worker.unref();
    const entry: PoolWorker = { worker, slot, job: undefined, exited: false };
    this.started++;
    worker.on('message', (response: JobResponse) => this.onResponse(entry, response));
    worker.on('error', (error) => this.onExit(entry, error));
    worker.on('exit', (code) => this.onExit(entry, new Error(`exit code ${code}`)));
    return entry;
  }

  private onResponse(entry: PoolWorker, response: JobResponse): void {
    const job = entry.job;
    entry.job = undefined;
    // The charge now belongs to the caller (or is given back below): the slot must not be released again.
    Atomics.store(this.slots, entry.slot, 0n);
    if (job && job.request.id === response.id) this.settle(job, { results: response.results, charged: response.charged });
    else this.options.budget.release(response.charged);
    if (response.recycle && !this.closed) {
      this.recycled++;
      this.retire(entry);
    }
    this.dispatch();
  }

  /** Replaces a worker: the next job gets a fresh thread; this one ends once idle. */
  private retire(entry: PoolWorker): void {
    if (this.workers[entry.slot] === entry) this.workers[entry.slot] = undefined;
    entry.exited = true;
    void entry.worker.terminate();
  }

  private onExit(entry: PoolWorker, cause: unknown): void {
    const wasCurrent = this.workers[entry.slot] === entry;
    const job = entry.job;
    if (job) {
      this.crashed++;
      this.failJob(entry, new DecodeWorkerError(`a decode worker died while decoding: ${(cause as Error).message ?? String(cause)}`, { cause }));
    }
    entry.exited = true;
    if (wasCurrent) this.workers[entry.slot] = undefined;
    if (!this.closed) this.dispatch();
  }

  /** Gives back what the job of a dead worker had charged (its slot says how much) and refuses the job. */
  private failJob(entry: PoolWorker, error: DecodeWorkerError): void {
    const job = entry.job!;
    entry.job = undefined;
    const held = Number(Atomics.exchange(this.slots, entry.slot, 0n));
    this.options.budget.release(held);
    this.settle(job, undefined, error);
  }

  private settle(job: PendingJob, outcome: JobOutcome | undefined, error?: unknown): void {
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if (job.abandoned) {
      if (outcome) this.options.budget.release(outcome.charged);
      return;
    }
    if (outcome) job.resolve(outcome);
    else job.reject(error);
  }
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason as unknown;
  return reason instanceof Error ? reason : new DecodeWorkerError(`decoding was cancelled: ${String(reason ?? 'aborted')}`);
}
