/**
 * `max_bytes`: a bound on what the exporter's directory holds, so small uploads cannot fill the
 * disk. A write that would pass it is refused (never are older files deleted to make room: a
 * `.pprof` file is never removed by profcol), counted and logged; the batch is refused back to the
 * receiver, or retried by the sending queue once space was freed.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

export class DirectoryQuota {
  private used = 0;
  constructor(
    readonly directory: string,
    readonly maxBytes: number,
  ) {}

  /** Counts what the directory holds already (the files of earlier runs). */
  async scan(): Promise<number> {
    this.used = await sizeOf(this.directory);
    return this.used;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** Takes `bytes` from the quota; false (nothing taken) when they do not fit. */
  tryTake(bytes: number): boolean {
    if (this.used + bytes > this.maxBytes) return false;
    this.used += bytes;
    return true;
  }

  /** Gives back bytes taken for a write that failed, or of a file deleted. */
  giveBack(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

async function sizeOf(folder: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const entry of entries) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) total += await sizeOf(full);
    else if (entry.isFile())
      total += await stat(full).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}
