/**
 * The `# runtime.MemStats` trailer that `/debug/pprof/heap?debug=1` prints after the heap
 * records (Go's `writeHeapInternal`): one `# Name = value` line per field, `Stack`,
 * `MSpan` and `MCache` as `inuse / sys`, `PauseNs` and `PauseEnd` as 256-entry arrays.
 */
import type { MemStats } from '@profcol/core';
import { MemStatsParseError } from './errors.js';

const MARKER = '# runtime.MemStats';

/** `# Stack = a / b` means StackInuse / StackSys (likewise MSpan, MCache). */
const PAIRS: Record<string, [string, string]> = {
  Stack: ['StackInuse', 'StackSys'],
  MSpan: ['MSpanInuse', 'MSpanSys'],
  MCache: ['MCacheInuse', 'MCacheSys'],
};

export function parseMemStatsTrailer(text: string, readAtNanos: bigint): MemStats {
  const start = text.indexOf(MARKER);
  if (start < 0) {
    throw new MemStatsParseError(
      `heap?debug=1 response has no "${MARKER}" trailer (is this a Go net/http/pprof heap endpoint with debug=1? got ${text.length} characters starting ${JSON.stringify(text.slice(0, 40))})`,
    );
  }
  const values: Record<string, number> = {};
  let pauseNs: number[] | undefined;
  let pauseEnd: bigint[] | undefined;
  const lines = text.slice(start + MARKER.length).split('\n');
  lines.forEach((line, i) => {
    const m = /^#\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) return;
    const name = m[1]!;
    const raw = m[2]!;
    const where = `heap?debug=1 trailer line ${i + 1} ("${line.slice(0, 60)}")`;
    if (raw.startsWith('[')) {
      const items = raw
        .replace(/^\[|\]$/g, '')
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      if (name === 'PauseEnd') pauseEnd = items.map((item) => parseBig(item, where));
      else if (name === 'PauseNs') pauseNs = items.map((item) => parseNum(item, where));
      return;
    }
    const pair = PAIRS[name];
    const parts = raw.split('/').map((p) => p.trim());
    if (pair && parts.length === 2) {
      values[pair[0]] = parseNum(parts[0]!, where);
      values[pair[1]] = parseNum(parts[1]!, where);
      return;
    }
    if (raw === 'true' || raw === 'false') values[name] = raw === 'true' ? 1 : 0;
    else values[name] = parseNum(raw, where);
  });
  for (const required of ['Alloc', 'TotalAlloc', 'NumGC']) {
    if (values[required] === undefined) throw new MemStatsParseError(`heap?debug=1 trailer has no "# ${required} = ..." line`);
  }
  if (!pauseNs || !pauseEnd) throw new MemStatsParseError('heap?debug=1 trailer has no "# PauseNs = [...]" or "# PauseEnd = [...]" line');
  return { readAtNanos, values, pauseNs, pauseEnd };
}

/**
 * Go prints every MemStats field as an unsigned integer, except GCCPUFraction (a float64 with
 * %v: `0.07`, `7.05e-05`); `Number()` alone would also take `-1`, `0x10`, `Infinity` and `1e400`,
 * which no Go runtime writes and which would become negative or infinite metrics.
 */
const GO_NUMBER = /^\d+(\.\d+)?([eE][-+]?\d+)?$/;

function parseNum(text: string, where: string): number {
  const n = Number(text);
  if (!GO_NUMBER.test(text) || !Number.isFinite(n))
    throw new MemStatsParseError(`${where}: "${text}" is not a number as Go prints MemStats (an unsigned integer or a finite fraction)`);
  return n;
}

function parseBig(text: string, where: string): bigint {
  if (!/^\d+$/.test(text)) throw new MemStatsParseError(`${where}: "${text}" is not an unsigned integer`);
  return BigInt(text);
}
