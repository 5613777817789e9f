/**
 * Which CPU-profile frames mean "this sample was garbage collection" (decision D2 of the Go
 * runtime metrics reference). Entry points are stable across Go versions; the leaf functions
 * are a backstop for stacks truncated below an entry point. Deliberately absent:
 * `runtime.bgscavenge` (runtime/metrics classes it as scavenge, not GC), `runtime.forEachP` and
 * the stop/start-the-world functions (also used by the tracer, ReadMemStats and goroutine
 * profiles; they count only under a GC caller), `runtime._GC` (a traceback-failure placeholder)
 * and the mutator's own costs (`mallocgc`, write barriers).
 */
export const DEFAULT_GC_FRAMES: readonly string[] = [
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
];

/** A pattern is an exact function name, or a prefix when it ends in `*`. */
export function checkGcFramePattern(pattern: string): string | undefined {
  if (pattern.trim() === '' || pattern === '*') return 'must name a function (an exact name, or a prefix followed by "*")';
  if (pattern.indexOf('*') !== -1 && pattern.indexOf('*') !== pattern.length - 1) return `"${pattern}": "*" is accepted only at the end (a prefix match)`;
  return undefined;
}

/** Compiles patterns into one predicate over function names. */
export function gcFrameMatcher(patterns: readonly string[]): (functionName: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('*')) prefixes.push(pattern.slice(0, -1));
    else exact.add(pattern);
  }
  return (name) => exact.has(name) || prefixes.some((prefix) => name.startsWith(prefix));
}
