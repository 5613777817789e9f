/**
 * Decode once, in one place. Every component that needs a decoded profile asks the
 * `ProfileDecoder` of its settings: it decodes the profile if nobody has (on the decode
 * workers), under the process-wide memory budget and the one `max_decompressed_bytes`
 * (`service.limits`), sets `profile.decoded`, and shares a decode already under way.
 */
import {
  defaultServiceLimits,
  MemoryBudgetError,
  type CreateSettings,
  type ProfileSummary,
  type Profile,
  type Reservation,
  type ServiceLimits,
} from '@profcol/core';
import type { JobItem, JobResult, StackFilterSpec, SummarizeMode } from './decode-job.js';
import { DecompressedTooLargeError, DecompressError, PprofDecodeError, type Encoding } from './errors.js';
import { DecodePool, DecodeWorkerError } from './pool.js';
import { GC_STACK_FILTER } from './stack-filters.js';

export interface DecodeRequest {
  bytes: Uint8Array;
  /** Default `pprof`: decompress and summarize. `none`: only decompress (metrics.json). */
  summarize?: SummarizeMode;
  /** Extra per-sample-type sums over matching stacks (`stackTotals`), computed in the same pass. */
  stackFilters?: readonly StackFilterSpec[] | undefined;
}

export type DecodeOutcome =
  | { ok: true; encoding: Encoding; plain: Uint8Array; decoded?: ProfileSummary }
  | {
      ok: false;
      encoding: Encoding;
      /** DecompressedTooLargeError, DecompressError, PprofDecodeError, MemoryBudgetError or DecodeWorkerError. */
      error: Error;
      /** What the items before this one decompressed to (the rest of the cap was `maxBytes - decompressedBefore`). */
      decompressedBefore: number;
      /** For a payload that decompressed but is not a valid pprof: its decompressed size. */
      plainBytes?: number;
    };

export interface DecodeOptions {
  /** Stops waiting (the result is dropped and its bytes given back) when aborted. */
  signal?: AbortSignal | undefined;
  /**
   * The reservation of the work the bytes belong to (an upload): the decompressed bytes stay
   * charged to it until it is released. Without one, they are charged only while decoding.
   */
  reservation?: Reservation | undefined;
}

/** Why a profile could not be decoded, as counted: `too_large`, `decompress`, `pprof`, `memory_budget`, `worker`. */
export function decodeFailureReason(error: unknown): string {
  if (error instanceof DecompressedTooLargeError) return 'too_large';
  if (error instanceof DecompressError) return 'decompress';
  if (error instanceof PprofDecodeError) return 'pprof';
  if (error instanceof MemoryBudgetError) return 'memory_budget';
  if (error instanceof DecodeWorkerError) return 'worker';
  return 'error';
}

/**
 * The stack filters a profile type's summary computes, the same for every component that
 * decodes it: the GC frames of CPU profiles (for `prof_go_cpu_cores_gc_overhead`).
 */
export function stackFiltersFor(type: string): readonly StackFilterSpec[] {
  return type.toLowerCase() === 'cpu' ? CPU_STACK_FILTERS : NO_STACK_FILTERS;
}

const CPU_STACK_FILTERS: readonly StackFilterSpec[] = Object.freeze([GC_STACK_FILTER]);
const NO_STACK_FILTERS: readonly StackFilterSpec[] = Object.freeze([]);

function toError(result: Extract<JobResult, { ok: false }>): Error {
  switch (result.kind) {
    case 'too_large':
      return new DecompressedTooLargeError(result.encoding, result.maxBytes - result.decompressedBefore);
    case 'decompress':
      return new DecompressError(result.encoding, result.message);
    case 'pprof':
      return new PprofDecodeError(result.message);
    case 'memory_budget':
      return new MemoryBudgetError(result.message);
    default:
      return new Error(result.message);
  }
}

interface Shared {
  pool: DecodePool;
  users: number;
}

/** One pool per set of limits (one per collector), shared by every component of it. */
const pools = new WeakMap<ServiceLimits, Shared>();

export class ProfileDecoder {
  private released = false;
  private readonly inFlight = new WeakMap<Profile, Promise<ProfileSummary>>();

  private constructor(
    readonly limits: ServiceLimits,
    private readonly shared: Shared,
  ) {}

  /**
   * The decoder of a component: its host's limits and decode workers (the process defaults
   * outside a host). Call `close()` in the component's shutdown; the workers stop with the last.
   */
  static for(settings: Pick<CreateSettings, 'limits'>): ProfileDecoder {
    const limits = settings.limits ?? defaultServiceLimits();
    let shared = pools.get(limits);
    if (!shared || shared.users === 0) {
      shared = { pool: new DecodePool({ budget: limits.budget, workers: limits.decodeWorkers }), users: 0 };
      pools.set(limits, shared);
    }
    shared.users++;
    return new ProfileDecoder(limits, shared);
  }

  get maxDecompressedBytes(): number {
    return this.limits.maxDecompressedBytes;
  }

  /** The worker pool (tests, own metrics). */
  get pool(): DecodePool {
    return this.shared.pool;
  }

  /** Starts the workers now, so the first profiles do not wait for threads to start. */
  warm(): void {
    this.shared.pool.warm();
  }

  /**
   * Decodes several payloads as one job (one round trip to a worker), in order, all together
   * under `max_decompressed_bytes`. Never throws for a payload: each outcome says what happened.
   * Rejects only when the job as a whole failed (a worker died, the signal aborted).
   */
  async decodeAll(requests: readonly DecodeRequest[], options: DecodeOptions = {}): Promise<DecodeOutcome[]> {
    if (this.released) throw new DecodeWorkerError('this profile decoder is closed');
    const items: JobItem[] = requests.map((r) => ({
      bytes: r.bytes,
      summarize: r.summarize ?? 'pprof',
      ...(r.stackFilters && r.stackFilters.length > 0 ? { stackFilters: r.stackFilters } : {}),
    }));
    const { results, charged } = await this.shared.pool.run(items, this.limits.maxDecompressedBytes, { signal: options.signal });
    // Bytes held from here on: by the caller's reservation (released when its work is answered),
    // or given back now (a processor's decode is charged while it runs).
    if (options.reservation) options.reservation.adopt(charged);
    else this.limits.budget.release(charged);
    return results.map((result): DecodeOutcome => {
      if (result.ok)
        return result.decoded
          ? { ok: true, encoding: result.encoding, plain: result.plain, decoded: result.decoded }
          : { ok: true, encoding: result.encoding, plain: result.plain };
      return {
        ok: false,
        encoding: result.encoding,
        error: toError(result),
        decompressedBefore: result.decompressedBefore,
        ...(result.plainBytes !== undefined ? { plainBytes: result.plainBytes } : {}),
      };
    });
  }

  /**
   * `profile.decoded`, decoding it first if nobody has; a decode already under way for the same
   * profile is shared. Throws the typed error (see `decodeFailureReason`) when it cannot be decoded.
   */
  decodeOnce(profile: Profile, options: DecodeOptions = {}): Promise<ProfileSummary> {
    if (profile.decoded) return Promise.resolve(profile.decoded);
    let pending = this.inFlight.get(profile);
    if (!pending) {
      pending = this.decodeAll([{ bytes: profile.data, stackFilters: stackFiltersFor(profile.type) }], options).then(([outcome]) => {
        if (!outcome!.ok) throw outcome!.error;
        profile.decoded = outcome!.decoded!;
        return profile.decoded;
      });
      pending.finally(() => this.inFlight.delete(profile)).catch(() => {});
      this.inFlight.set(profile, pending);
    }
    return pending;
  }

  /**
   * Decodes every profile of `profiles` that is not decoded yet, as one job, and sets
   * `profile.decoded`. Returns the profiles that could not be decoded, with why.
   */
  async decodeProfiles(profiles: readonly Profile[], options: DecodeOptions = {}): Promise<Map<Profile, Error>> {
    const todo = profiles.filter((p) => !p.decoded);
    const failures = new Map<Profile, Error>();
    if (todo.length === 0) return failures;
    const outcomes = await this.decodeAll(
      todo.map((p) => ({ bytes: p.data, stackFilters: stackFiltersFor(p.type) })),
      options,
    );
    outcomes.forEach((outcome, i) => {
      const profile = todo[i]!;
      if (outcome.ok) profile.decoded = outcome.decoded!;
      else failures.set(profile, outcome.error);
    });
    return failures;
  }

  /** Releases this component's use of the workers; the last `close()` terminates them. */
  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.shared.users--;
    if (this.shared.users === 0) await this.shared.pool.close();
  }
}

export { DecodeWorkerError } from './pool.js';
export type { StackFilterSpec, SummarizeMode } from './decode-job.js';
