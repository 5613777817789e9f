/**
 * Stack filters: named sets of function-name patterns whose per-sample-type sums the summary
 * pass computes alongside the totals (`ProfileSummary.stackTotals`). A sample counts for a
 * filter when any line of any location of its stack (inlined frames too) belongs to a matching
 * function. The match is decided once per function, on the name's UTF-8 bytes (no string is
 * decoded), and once per location, never per frame per sample.
 */

/** A named set of function-name patterns: an exact name, or a prefix when it ends in `*`. */
export interface StackFilter {
  name: string;
  patterns: readonly string[];
}

/**
 * Which CPU-profile frames mean "this sample was garbage collection" (decision D2 of the Go
 * runtime metrics reference). Entry points are stable across Go versions; the leaf functions
 * are a backstop for stacks truncated below an entry point. Deliberately absent:
 * `runtime.bgscavenge` (runtime/metrics classes it as scavenge, not GC), `runtime.forEachP` and
 * the stop/start-the-world functions (also used by the tracer, ReadMemStats and goroutine
 * profiles; they count only under a GC caller), `runtime._GC` (a traceback-failure placeholder)
 * and the mutator's own costs (`mallocgc`, write barriers).
 */
export const GO_GC_FRAMES: readonly string[] = Object.freeze([
  'runtime.gcBgMarkWorker',
  'runtime.gcBgMarkWorker.func*',
  'runtime.gcAssistAlloc',
  'runtime.gcAssistAlloc.func*',
  'runtime.gcAssistAlloc1',
  'runtime.gcAssistAlloc1.func*',
  'runtime.gcDrain*',
  'runtime.markroot*',
  'runtime.scanobject',
  'runtime.scanblock',
  'runtime.scanstack',
  'runtime.scanframeworker',
  'runtime.greyobject',
  'runtime.gcStart',
  'runtime.gcStart.func*',
  'runtime.gcMarkDone',
  'runtime.gcMarkDone.func*',
  'runtime.gcMarkTermination',
  'runtime.gcMarkTermination.func*',
  'runtime.bgsweep',
  'runtime.sweepone',
]);

/** The Go GC frames as a stack filter: `stackTotals.gc[i]` is the GC share of sample type i. */
export const GC_STACK_FILTER: StackFilter = Object.freeze({ name: 'gc', patterns: GO_GC_FRAMES });

/** Why a pattern is not usable, or undefined when it is. */
export function checkStackPattern(pattern: string): string | undefined {
  if (pattern.trim() === '' || pattern === '*') return 'must name a function (an exact name, or a prefix followed by "*")';
  const star = pattern.indexOf('*');
  if (star !== -1 && star !== pattern.length - 1) return `"${pattern}": "*" is accepted only at the end (a prefix match)`;
  return undefined;
}

/** Decides, for a function name given as bytes of the profile, whether a filter matches it. */
export interface FunctionMatcher {
  matches(buf: Uint8Array, start: number, end: number): boolean;
}

const utf8 = new TextEncoder();

/**
 * Patterns compiled to UTF-8 bytes, so a name matches without being decoded. Patterns usually
 * share a prefix (`runtime.`): it is compared once, then only the patterns whose next byte
 * equals the name's are compared.
 */
class PatternMatcher implements FunctionMatcher {
  private readonly common: Uint8Array;
  /** By the byte after the common prefix: the rest of each pattern, and whether it is a prefix. */
  private readonly buckets: { rest: Uint8Array; prefix: boolean }[][] = [];
  /** A pattern equal to the common prefix: exact (`exactAtCommon`) or prefix (`prefixAtCommon`). */
  private exactAtCommon = false;
  private prefixAtCommon = false;

  constructor(patterns: readonly string[]) {
    const compiled = patterns.map((pattern) => ({ bytes: utf8.encode(pattern.endsWith('*') ? pattern.slice(0, -1) : pattern), prefix: pattern.endsWith('*') }));
    let commonLength = compiled.length === 0 ? 0 : compiled[0]!.bytes.length;
    for (const { bytes } of compiled) {
      commonLength = Math.min(commonLength, bytes.length);
      for (let i = 0; i < commonLength; i++) {
        if (bytes[i] !== compiled[0]!.bytes[i]) {
          commonLength = i;
          break;
        }
      }
    }
    this.common = compiled.length === 0 ? new Uint8Array() : compiled[0]!.bytes.slice(0, commonLength);
    for (let b = 0; b < 256; b++) this.buckets.push([]);
    for (const { bytes, prefix } of compiled) {
      if (bytes.length === commonLength) {
        if (prefix) this.prefixAtCommon = true;
        else this.exactAtCommon = true;
      } else this.buckets[bytes[commonLength]!]!.push({ rest: bytes.subarray(commonLength + 1), prefix });
    }
    if (compiled.length === 0) this.buckets.length = 0;
  }

  matches(buf: Uint8Array, start: number, end: number): boolean {
    const common = this.common;
    const length = end - start;
    if (length < common.length || this.buckets.length === 0) return false;
    for (let i = 0; i < common.length; i++) if (buf[start + i] !== common[i]) return false;
    if (this.prefixAtCommon) return true;
    if (length === common.length) return this.exactAtCommon;
    const from = start + common.length + 1;
    for (const { rest, prefix } of this.buckets[buf[start + common.length]!]!) {
      if (prefix ? rest.length <= end - from : rest.length === end - from) {
        let same = true;
        for (let i = 0; i < rest.length; i++) {
          if (buf[from + i] !== rest[i]) {
            same = false;
            break;
          }
        }
        if (same) return true;
      }
    }
    return false;
  }
}

const compiled = new WeakMap<StackFilter, FunctionMatcher>();

/**
 * The matchers of `filters`, compiled once per filter object (the same `StackFilter` is
 * usually passed for every profile). Throws a `TypeError` for a filter a caller got wrong.
 */
export function compileStackFilters(filters: readonly StackFilter[]): FunctionMatcher[] {
  if (filters.length === 1) return [compileOne(filters[0]!)];
  if (filters.length > MAX_STACK_FILTERS)
    throw new TypeError(`stackFilters: ${filters.length} filters given; at most ${MAX_STACK_FILTERS} are supported in one pass`);
  const names = new Set<string>();
  return filters.map((filter) => {
    if (names.has(filter.name)) throw new TypeError(`stackFilters: the name "${filter.name}" is used twice; each filter needs its own name`);
    names.add(filter.name);
    return compileOne(filter);
  });
}

function compileOne(filter: StackFilter): FunctionMatcher {
  let matcher = compiled.get(filter);
  if (!matcher) {
    for (const pattern of filter.patterns) {
      const problem = checkStackPattern(pattern);
      if (problem) throw new TypeError(`stackFilters: filter "${filter.name}": pattern ${problem}`);
    }
    matcher = new PatternMatcher(filter.patterns);
    compiled.set(filter, matcher);
  }
  return matcher;
}

/** Each filter is one bit of a 31-bit mask per location (the mask is stored in an Int32Array with -1 for "undefined"). */
export const MAX_STACK_FILTERS = 31;
