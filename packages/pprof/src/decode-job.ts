/**
 * The work one decode job does, on a worker thread or (with `decode_workers: 0`) on the main
 * thread: decompress each item by its magic bytes under the job's cap, charging the shared
 * memory budget as output is produced, then summarize it (totals and stack filters in one pass).
 *
 * The budget is charged before bytes exist, never after: each item first reserves an estimate
 * and decompresses with that estimate as its output cap; when the output would pass it, the
 * reservation grows (×4, up to what is left of the job's cap) and decompression starts over.
 * The retries cost at most a third more work on a profile that compresses far better than
 * estimated, and the bound stays hard however many workers inflate at once.
 */
import { releaseShared, tryChargeShared, type ProfileSummary } from '@profcol/core';
import { decompress, gzipSizeHint, sniffEncoding } from './decompress.js';
import type { Encoding } from './errors.js';
import type { StackFilter } from './stack-filters.js';
import { summarizePprof } from './summary.js';

/** A named set of function-name patterns whose per-sample-type sums the summary adds (`stackTotals`). */
export type StackFilterSpec = StackFilter;

/** What to do with the decompressed bytes. `pprof_unless_json`: a JSON list is left as is (legacy uploads). */
export type SummarizeMode = 'pprof' | 'none' | 'pprof_unless_json';

export interface JobItem {
  bytes: Uint8Array;
  summarize: SummarizeMode;
  stackFilters?: readonly StackFilterSpec[] | undefined;
}

export type JobFailureKind = 'too_large' | 'decompress' | 'pprof' | 'memory_budget' | 'error';

export type JobResult =
  | { ok: true; encoding: Encoding; plain: Uint8Array; decoded?: ProfileSummary }
  | { ok: false; encoding: Encoding; kind: JobFailureKind; message: string; decompressedBefore: number; maxBytes: number; plainBytes?: number };

export interface JobBudget {
  counter: BigInt64Array;
  limitBytes: number;
  /**
   * Copy each output that is a view into a larger buffer into one of its own size (for a job run
   * on the main thread; a worker packs its outputs into one buffer instead, `packResults`).
   */
  compact?: boolean;
  /** Called with every change of what this job holds against the budget (a crash-safe record). */
  onCharged?: (heldBytes: number) => void;
}

/**
 * The first reservation for an item: its size when raw, else 16× the compressed size (at least
 * 256 KiB), or more when a gzip trailer announces more (one pass instead of growing ×4 and
 * starting over).
 */
function firstEstimate(bytes: Uint8Array, encoding: Encoding): number {
  if (encoding === 'none') return bytes.length;
  const estimate = Math.max(256 * 1024, bytes.length * 16);
  const announced = encoding === 'gzip' ? gzipSizeHint(bytes) : undefined;
  return announced !== undefined && announced > estimate ? announced + 1 : estimate;
}

/**
 * A copy that owns exactly its bytes when `plain` is a view into a larger buffer (zstd grows its
 * output by doubling; small Node buffers share a pool), so that transferring it moves only the
 * profile and the budget is charged for what is really kept.
 */
function owned(plain: Uint8Array): Uint8Array {
  return ownsBuffer(plain) ? plain : new Uint8Array(plain);
}

/**
 * Copies the outputs of a job into one new buffer, each result's `plain` (and `decoded.pprof`)
 * becoming a view of it: one buffer to transfer instead of one per profile (each transferred
 * buffer costs the receiving thread an allocation), and no output keeps a larger buffer alive.
 */
export function packResults(results: JobResult[]): ArrayBuffer[] {
  const transfer: ArrayBuffer[] = [];
  let total = 0;
  for (const result of results) {
    if (!result.ok) continue;
    // A large output that owns its whole buffer goes as is: copying it would double it.
    if (result.plain.byteLength >= LARGE_OUTPUT_BYTES && ownsBuffer(result.plain)) transfer.push(result.plain.buffer as ArrayBuffer);
    else total += result.plain.byteLength;
  }
  if (total === 0) return transfer;
  const buffer = new ArrayBuffer(total);
  const all = new Uint8Array(buffer);
  let at = 0;
  for (const result of results) {
    if (!result.ok || transfer.includes(result.plain.buffer as ArrayBuffer)) continue;
    const length = result.plain.byteLength;
    all.set(result.plain, at);
    const view = new Uint8Array(buffer, at, length);
    at += length;
    result.plain = view;
    if (result.decoded) result.decoded.pprof = view;
  }
  transfer.push(buffer);
  return transfer;
}

const LARGE_OUTPUT_BYTES = 1024 * 1024;

function ownsBuffer(plain: Uint8Array): boolean {
  // A little unused tail is fine (gunzip inflates into one buffer one byte larger than the
  // profile): copying 250 MiB to save one byte would hold the profile twice.
  const slack = plain.buffer.byteLength - plain.byteLength;
  return plain.byteOffset === 0 && slack <= Math.max(4096, plain.byteLength / 64) && !(plain.buffer instanceof SharedArrayBuffer);
}

/**
 * Runs one job. `charged` in the result is what it holds against the budget when it returns:
 * the bytes of the outputs it kept. The caller owns them from then on.
 */
export function runDecodeJob(
  items: readonly JobItem[],
  maxBytes: number,
  budget: JobBudget,
): { results: JobResult[]; charged: number; largestInput: number; largestOutput: number } {
  let charged = 0;
  const charge = (bytes: number): boolean => {
    if (!tryChargeShared(budget.counter, budget.limitBytes, bytes)) return false;
    charged += bytes;
    budget.onCharged?.(charged);
    return true;
  };
  const release = (bytes: number): void => {
    releaseShared(budget.counter, bytes);
    charged -= bytes;
    budget.onCharged?.(charged);
  };
  let decompressed = 0;
  let largestInput = 0;
  /** The most any item asked of the budget (its estimates included): what this thread allocated at most at once. */
  let largestOutput = 0;
  const results: JobResult[] = [];
  for (const item of items) {
    largestInput = Math.max(largestInput, item.bytes.length);
    const encoding = sniffEncoding(item.bytes);
    const capLeft = maxBytes - decompressed;
    const fail = (kind: JobFailureKind, message: string): JobResult => ({ ok: false, encoding, kind, message, decompressedBefore: decompressed, maxBytes });
    // Charged once: gunzip inflates into one buffer of the size its trailer announces; only a
    // stream whose trailer lies (or a multi-member one) is inflated in pieces and concatenated.
    const copies = 1;
    let reserved = Math.min(capLeft, firstEstimate(item.bytes, encoding));
    if (encoding === 'none' && item.bytes.length > capLeft) {
      results.push(fail('too_large', `none payload decompresses to more than the limit of ${capLeft} bytes`));
      continue;
    }
    if (!charge(copies * reserved)) {
      results.push(
        fail(
          'memory_budget',
          `the memory budget (${budget.limitBytes} bytes for bodies and decompressed profiles in flight) has no room for ${reserved} more bytes`,
        ),
      );
      continue;
    }
    let plain: Uint8Array | undefined;
    let failure: JobResult | undefined;
    for (;;) {
      try {
        plain = decompress(item.bytes, { maxBytes: reserved });
        if (budget.compact) plain = owned(plain);
        break;
      } catch (error) {
        const kind = (error as { kind?: string }).kind;
        if (kind === 'too_large' && reserved < capLeft) {
          const next = Math.min(capLeft, reserved * 4);
          if (charge(copies * (next - reserved))) {
            reserved = next;
            continue;
          }
          failure = fail(
            'memory_budget',
            `the memory budget (${budget.limitBytes} bytes for bodies and decompressed profiles in flight) has no room for the ${next} bytes a ${item.bytes.length}-byte ${encoding} payload needs`,
          );
        } else if (kind === 'too_large') {
          failure = fail('too_large', (error as Error).message);
        } else {
          failure = fail(kind === 'decompress' ? 'decompress' : 'error', (error as Error).message);
        }
        break;
      }
    }
    largestOutput = Math.max(largestOutput, reserved);
    if (!plain) {
      release(copies * reserved);
      results.push(failure!);
      continue;
    }
    // Keep the charge of what is kept, give back the rest of the estimate.
    release(copies * reserved - plain.byteLength);
    decompressed += plain.byteLength;
    const wantsSummary = item.summarize === 'pprof' || (item.summarize === 'pprof_unless_json' && plain[0] !== 0x5b) /* [ */;
    if (!wantsSummary) {
      results.push({ ok: true, encoding, plain });
      continue;
    }
    try {
      const decoded = summarizePprof(plain, item.stackFilters && item.stackFilters.length > 0 ? { stackFilters: item.stackFilters } : undefined);
      results.push({ ok: true, encoding, plain, decoded });
    } catch (error) {
      release(plain.byteLength);
      decompressed -= plain.byteLength;
      const kind = (error as { kind?: string }).kind;
      results.push({ ...fail(kind === 'pprof' ? 'pprof' : 'error', (error as Error).message), plainBytes: plain.byteLength } as JobResult);
    }
  }
  return { results, charged, largestInput, largestOutput };
}
