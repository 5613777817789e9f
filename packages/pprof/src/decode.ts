/** Full decoding with pprof-format, wrapped in typed errors, plus the sniff+summarize entry point. */
import type { ProfileSummary } from '@profcol/core';
import { Profile } from 'pprof-format';
import { decompress, type DecompressOptions } from './decompress.js';
import { PprofDecodeError } from './errors.js';
import type { StackFilter } from './stack-filters.js';
import { summarizePprof } from './summary.js';

/**
 * Decodes a raw (decompressed) pprof protobuf into pprof-format's object model, for
 * consumers that need stacks. The streaming summary validates the bytes first, so a
 * malformed profile always gives a `PprofDecodeError`.
 */
export function decodePprof(raw: Uint8Array): Profile {
  summarizePprof(raw);
  try {
    return Profile.decode(raw);
  } catch (error) {
    throw new PprofDecodeError(`pprof could not be decoded: ${(error as Error).message}`, { cause: error });
  }
}

export interface DecompressAndSummarizeOptions extends DecompressOptions {
  /** Filters whose per-sample-type sums go to `stackTotals` (e.g. `[GC_STACK_FILTER]` for a CPU profile). */
  stackFilters?: readonly StackFilter[] | undefined;
}

/** Decompresses (by magic bytes) and summarizes a profile as received. */
export function decompressAndSummarize(bytes: Uint8Array, options: DecompressAndSummarizeOptions = {}): ProfileSummary {
  return summarizePprof(decompress(bytes, options), options);
}

/** The string at `index` of a decoded profile's string table, checked. */
export function stringAt(profile: Profile, index: number | bigint, what: string): string {
  const i = Number(index);
  const value = profile.stringTable.strings[i];
  if (value === undefined)
    throw new PprofDecodeError(`pprof malformed: ${what} refers to string index ${i}, but the string table has ${profile.stringTable.strings.length} entries`);
  return value;
}
