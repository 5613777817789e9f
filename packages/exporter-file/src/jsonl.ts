/**
 * An append-only JSON Lines file rotated by size: when the next batch would take
 * `metrics.jsonl` past its limit, it is renamed `metrics-<UTC time>.jsonl` (never over an
 * existing file) and a new one begins; the oldest rotated files beyond `maxFiles` go.
 */
import { link, readdir, rename, stat, unlink, appendFile, access } from 'node:fs/promises';
import path from 'node:path';
import { FileWriteError } from './errors.js';

export interface RotatingFileOptions {
  exporterId: string;
  directory: string;
  /** `metrics` → `metrics.jsonl`, rotated to `metrics-20261124T224100.123Z.jsonl`. */
  base: string;
  maxFileBytes: number;
  /** Rotated files to keep; 0 keeps them all. */
  maxFiles: number;
  onRotate?: (rotatedPath: string) => void;
  onPruneError?: (file: string, error: unknown) => void;
}

function rotationStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '');
}

export class RotatingJsonlFile {
  readonly path: string;
  /** Bytes in the current file; undefined until read from disk (it may predate this process). */
  private size: number | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Appends waiting for the write under way to finish; written together next. */
  private pending: { texts: string[]; done: Promise<void> } | undefined;
  private readonly rotatedName: RegExp;

  constructor(private readonly options: RotatingFileOptions) {
    this.path = path.join(options.directory, `${options.base}.jsonl`);
    this.rotatedName = new RegExp(`^${options.base}-(\\d{8}T\\d{6}\\.\\d{3}Z)(?:-(\\d+))?\\.jsonl$`);
  }

  /**
   * Appends `text` (whole lines) after every append queued before it; resolves once it is
   * written, rejects with a FileWriteError. Appends that arrive while a write is under way are
   * written together by the next one (group commit): one system call for many batches under
   * load, and still no batch is acknowledged before its lines are in the file.
   */
  append(text: string): Promise<void> {
    let group = this.pending;
    if (!group) {
      group = this.pending = { texts: [], done: undefined! };
      const current = group;
      current.done = this.queue.then(() => {
        this.pending = undefined;
        return this.writeGroup(current.texts);
      });
      this.queue = current.done.catch(() => undefined);
    }
    group.texts.push(text);
    return group.done;
  }

  /** Resolves once every queued append has finished. */
  flush(): Promise<void> {
    return this.queue;
  }

  /** Writes a group of appends, rotating between them where the next would pass the size limit. */
  private async writeGroup(texts: string[]): Promise<void> {
    let chunk: string[] = [];
    let chunkBytes = 0;
    for (const text of texts) {
      const bytes = Buffer.byteLength(text);
      // Each batch's lines stay in one file, as when they were appended one by one.
      if (chunk.length > 0 && (this.size ?? 0) + chunkBytes + bytes > this.options.maxFileBytes) {
        await this.appendNow(chunk.join(''), chunkBytes);
        chunk = [];
        chunkBytes = 0;
      }
      chunk.push(text);
      chunkBytes += bytes;
    }
    if (chunk.length > 0) await this.appendNow(chunk.join(''), chunkBytes);
  }

  private async appendNow(text: string, bytes: number): Promise<void> {
    try {
      this.size ??= await stat(this.path).then(
        (s) => s.size,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return 0;
          throw error;
        },
      );
    } catch (error) {
      throw new FileWriteError(this.options.exporterId, 'append to', this.path, error);
    }
    // A batch larger than the limit still goes whole into one (fresh) file.
    if (this.size > 0 && this.size + bytes > this.options.maxFileBytes) await this.rotate();
    try {
      await appendFile(this.path, text);
      this.size += bytes;
    } catch (error) {
      this.size = undefined;
      throw new FileWriteError(this.options.exporterId, 'append to', this.path, error);
    }
  }

  private async rotate(): Promise<void> {
    const stamp = rotationStamp(new Date());
    for (let n = 0; ; n++) {
      const target = path.join(this.options.directory, `${this.options.base}-${stamp}${n > 0 ? `-${n}` : ''}.jsonl`);
      try {
        await this.moveWithoutOverwrite(target);
        this.size = 0;
        this.options.onRotate?.(target);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST' && n < 1000) continue;
        this.size = undefined;
        throw new FileWriteError(this.options.exporterId, 'rotate', this.path, error);
      }
    }
    await this.prune();
  }

  /**
   * `rename` silently replaces its target, so the file is hard-linked to its new name (which
   * fails with EEXIST if taken) and then unlinked. Where hard links are not supported the
   * rename happens after checking the name is free.
   */
  private async moveWithoutOverwrite(target: string): Promise<void> {
    try {
      await link(this.path, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOENT') throw error;
      const taken = await access(target).then(() => true, () => false);
      if (taken) throw Object.assign(new Error(`${target} exists`), { code: 'EEXIST' });
      await rename(this.path, target);
      return;
    }
    await unlink(this.path);
  }

  private async prune(): Promise<void> {
    if (this.options.maxFiles <= 0) return;
    const rotated = (await readdir(this.options.directory).catch(() => [] as string[]))
      .flatMap((name) => {
        const match = this.rotatedName.exec(name);
        return match ? [{ name, stamp: match[1]!, n: Number(match[2] ?? 0) }] : [];
      })
      .sort((a, b) => (a.stamp === b.stamp ? a.n - b.n : a.stamp < b.stamp ? -1 : 1));
    for (const old of rotated.slice(0, Math.max(0, rotated.length - this.options.maxFiles))) {
      const file = path.join(this.options.directory, old.name);
      await unlink(file).catch((error: unknown) => this.options.onPruneError?.(file, error));
    }
  }
}
