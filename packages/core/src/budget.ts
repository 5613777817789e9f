/**
 * One process-wide memory budget for the bytes profcol holds in flight: upload bodies being
 * received and the decompressed profiles made from them. Receivers reserve a body's size at its
 * headers (before reading it) and decoders charge decompressed bytes as they produce them; what
 * does not fit is refused (429/503 with Retry-After, counted), never allocated.
 *
 * The counter lives in a SharedArrayBuffer so that decode worker threads charge the same budget
 * with `Atomics` as they decompress: the bound holds with several workers inflating at once.
 */
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { trimFreedMemory } from '@profcol/malloc-trim';
import { ProfcolError } from './errors.js';

/** `used` (bytes) at index 0 of the shared counter. */
const USED = 0;

/**
 * Adds `bytes` to the shared counter if the total stays within `limitBytes`; true when charged.
 * Lock-free (compare-and-swap), safe from any thread that holds the counter.
 */
export function tryChargeShared(counter: BigInt64Array, limitBytes: number, bytes: number): boolean {
  if (bytes <= 0) return true;
  const add = BigInt(Math.ceil(bytes));
  const limit = BigInt(limitBytes);
  for (;;) {
    const used = Atomics.load(counter, USED);
    if (used + add > limit) return false;
    if (Atomics.compareExchange(counter, USED, used, used + add) === used) return true;
  }
}

/** Gives `bytes` back to the shared counter. */
export function releaseShared(counter: BigInt64Array, bytes: number): void {
  if (bytes > 0) Atomics.sub(counter, USED, BigInt(Math.ceil(bytes)));
}

/** The budget was exhausted: the work it would have paid for is refused, to be retried later. */
export class MemoryBudgetError extends ProfcolError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs = 1000) {
    super('memory_budget', message);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Bytes one piece of work (one upload, one scrape round) holds against the budget. It may grow
 * while the work proceeds and is given back whole by `release()`, once the work is answered.
 */
export class Reservation {
  private held = 0;
  private released = false;
  constructor(private readonly budget: MemoryBudget) {}

  /** Bytes currently held. */
  get bytes(): number {
    return this.held;
  }

  /** Charges `bytes` more; false (and nothing charged) when the budget has no room. */
  grow(bytes: number): boolean {
    if (this.released) return false;
    if (!this.budget.tryCharge(bytes)) return false;
    this.held += bytes;
    return true;
  }

  /** Takes over bytes someone else already charged (a worker thread's decompressed output). */
  adopt(bytes: number): void {
    if (this.released) this.budget.release(bytes);
    else this.held += bytes;
  }

  /** Gives back part of what is held (an estimate that turned out too high). */
  shrink(bytes: number): void {
    const amount = Math.min(bytes, this.held);
    this.held -= amount;
    this.budget.release(amount);
  }

  /** Gives everything back; later calls do nothing. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const held = this.held;
    this.held = 0;
    // The bytes of a large piece of work are still allocated when it is answered: they are given
    // back to the budget only once a collection has freed them, so that the next upload cannot
    // be admitted into memory that garbage still occupies (measured: 8 uploads inflating to
    // 250 MiB each peaked at 1.1 GiB with a 512 MiB budget when released at once).
    if (held >= LARGE_RELEASE_BYTES) collectThen(() => this.budget.release(held));
    else this.budget.release(held);
  }
}

/** Releasing this much at once is given back after a garbage collection (see `collectThen`). */
const LARGE_RELEASE_BYTES = 32 * 1024 * 1024;

let collector: (() => void) | undefined | null;
let collectTimer: NodeJS.Timeout | undefined;

/**
 * Runs a full garbage collection shortly, then `after`. The bytes of a large upload are
 * unreachable once it is answered, but an event loop with nothing else to do allocates nothing,
 * so V8 may not collect them for a long time: measured, RSS stayed 600-900 MiB above its start
 * 20 s after the memory burst of bench/memory.mjs. The short delay lets the request's frames
 * end first. V8's `gc` is reached without `--expose-gc` through a flag set at run time; where
 * that is refused, `after` runs at once.
 */
function collectThen(after: () => void): void {
  collector ??= exposeGc();
  if (collector === null) return after();
  afterCollection.push(after);
  if (collectTimer) return;
  collectTimer = setTimeout(() => {
    collectTimer = undefined;
    const waiting = afterCollection.splice(0);
    try {
      collector?.();
    } finally {
      for (const release of waiting) release();
    }
    trimWhenQuiet();
  }, 10);
}

/** Large releases stop for this long before freed memory is given back to the kernel. */
const TRIM_QUIET_MS = 1000;
/** Under a steady stream of large releases, it is given back at least this often. */
const TRIM_AT_LEAST_EVERY_MS = 10_000;
/** V8 frees ArrayBuffer memory on a background thread after a collection: time to let it. */
const SWEEP_MS = 100;

let trimTimer: NodeJS.Timeout | undefined;
let trimDue = 0;

/**
 * Gives the memory of large finished work back to the kernel once such work stops for a moment:
 * a collection, then `malloc_trim` (see @profcol/malloc-trim). Freed memory otherwise stays
 * resident: measured on burst b of bench/memory.mjs, RSS 20 s after the burst was 150–410 MiB
 * over 9 runs, with 230–260 MiB of it freed heap that malloc_trim gave back.
 */
function trimWhenQuiet(): void {
  const now = Date.now();
  if (!trimTimer) trimDue = now + TRIM_AT_LEAST_EVERY_MS;
  else clearTimeout(trimTimer);
  trimTimer = setTimeout(
    () => {
      trimTimer = undefined;
      // The chunks of bodies read since the last collection (drained refusals among them) are
      // garbage too: collect, let V8 free them, then trim.
      collector?.();
      setTimeout(trimFreedMemory, SWEEP_MS).unref();
    },
    Math.max(0, Math.min(TRIM_QUIET_MS, trimDue - now)),
  );
  trimTimer.unref();
}

const afterCollection: (() => void)[] = [];

function exposeGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

export class MemoryBudget {
  /** The shared counter, handed to worker threads (`tryChargeShared`, `releaseShared`). */
  readonly counter: BigInt64Array;

  constructor(
    readonly limitBytes: number,
    counter?: BigInt64Array,
  ) {
    this.counter = counter ?? new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT));
  }

  /** Bytes charged now, by every thread. */
  get usedBytes(): number {
    return Number(Atomics.load(this.counter, USED));
  }

  get availableBytes(): number {
    return Math.max(0, this.limitBytes - this.usedBytes);
  }

  tryCharge(bytes: number): boolean {
    return tryChargeShared(this.counter, this.limitBytes, bytes);
  }

  release(bytes: number): void {
    releaseShared(this.counter, bytes);
  }

  /** A reservation of `bytes` (0 for one that grows as data arrives), or undefined when they do not fit. */
  tryReserve(bytes: number): Reservation | undefined {
    const reservation = new Reservation(this);
    return reservation.grow(bytes) ? reservation : undefined;
  }
}

/** The `service.limits` every component shares (CreateSettings.limits). */
export interface ServiceLimits {
  /** Upload bodies and decompressed bytes in flight, process-wide (`service.limits.memory`). */
  budget: MemoryBudget;
  /** The most the profiles of one bundle (one upload, one scrape) may decompress to, together. */
  maxDecompressedBytes: number;
  /** Decode worker threads; 0 decodes on the main thread. */
  decodeWorkers: number;
}

export const DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024;
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024;

/** `decode_workers: auto`: one per core, at most 4 (the event loop needs a core's share too). */
export function autoDecodeWorkers(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(4, cores));
}

export function createServiceLimits(options: { memoryBytes?: number; maxDecompressedBytes?: number; decodeWorkers?: number | 'auto' } = {}): ServiceLimits {
  const workers = options.decodeWorkers ?? 'auto';
  return {
    budget: new MemoryBudget(options.memoryBytes ?? DEFAULT_MEMORY_BYTES),
    maxDecompressedBytes: options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES,
    decodeWorkers: workers === 'auto' ? autoDecodeWorkers() : workers,
  };
}

let processDefault: ServiceLimits | undefined;

/**
 * The limits of a component created without a host (tests, scripts that build one component):
 * one default set per process, so that such components still share one budget.
 */
export function defaultServiceLimits(): ServiceLimits {
  processDefault ??= createServiceLimits();
  return processDefault;
}
