/**
 * Which CPU-profile frames mean "this sample was garbage collection" (decision D2 of the Go
 * runtime metrics reference). The default list lives in `@profcol/pprof` (`GO_GC_FRAMES`, with
 * why each frame is in or out) so that the summary pass can sum GC samples while it reads
 * the profile (`GC_STACK_FILTER`); `gc_frames` replaces it.
 */
import { checkStackPattern, GO_GC_FRAMES } from '@profcol/pprof';

export const DEFAULT_GC_FRAMES: readonly string[] = GO_GC_FRAMES;

/** A pattern is an exact function name, or a prefix when it ends in `*`. */
export function checkGcFramePattern(pattern: string): string | undefined {
  return checkStackPattern(pattern);
}

/** Matchers made from exactly the default patterns (in any order): `decoded.stackTotals.gc` answers for them. */
const defaultMatchers = new WeakSet<(functionName: string) => boolean>();

/** Compiles patterns into one predicate over function names. */
export function gcFrameMatcher(patterns: readonly string[]): (functionName: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('*')) prefixes.push(pattern.slice(0, -1));
    else exact.add(pattern);
  }
  const matcher = (name: string): boolean => exact.has(name) || prefixes.some((prefix) => name.startsWith(prefix));
  if (samePatterns(patterns, DEFAULT_GC_FRAMES)) defaultMatchers.add(matcher);
  return matcher;
}

/** True when `matcher` came from `gcFrameMatcher` with the default GC frames. */
export function isDefaultGcFrameMatcher(matcher: (functionName: string) => boolean): boolean {
  return defaultMatchers.has(matcher);
}

function samePatterns(a: readonly string[], b: readonly string[]): boolean {
  const setA = new Set(a);
  const setB = new Set(b);
  return setA.size === setB.size && [...setA].every((p) => setB.has(p));
}
