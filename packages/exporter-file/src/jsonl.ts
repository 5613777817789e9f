/**
 * An append-only JSON Lines file rotated by size: when the next batch would take
 * `metrics.jsonl` past its limit, it is renamed `metrics-<UTC time>.jsonl` (never over an
 * existing file) and a new one begins; the oldest rotated files beyond `maxFiles` go.
 */
import { link, readdir, rename, stat, unlink, access, truncate, open, type FileHandle } from 'node:fs/promises';
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
  /** A rotated file was deleted (`max_files`), freeing `bytes`. */
  onPruned?: (file: string, bytes: number) => void;
  /** A torn last line (left by a crash or a failed append) was cut off. */
  onRepair?: (file: string, removedBytes: number) => void;
  /** The two writes that can leave a half line; tests inject a disk that fills up. */
  fs?: JsonlFs;
}

export interface JsonlFs {
  appendFile(file: string, text: string): Promise<void>;
  truncate(file: string, length: number): Promise<void>;
  /** Lets go of `file` (closes what is kept open): before it is renamed, and at shutdown. */
  release?(): Promise<void>;
}

/** How often an open file is checked to still be the one at its path (deleted or moved by someone else: opened again). */
const RECHECK_MS = 1000;

/**
 * Appends through one file handle kept open (O_APPEND): one write per group of batches,
 * where `appendFile` by path opens, writes and closes, three trips through libuv's thread
 * pool, each of which every upload waiting for its lines waits for (measured: 1,339 →
 * ≈1,546 uploads/s in `bench/push.mjs` when nothing waited at all). At most once a second it
 * checks that the path still names the open file; if the file was deleted or moved away, the
 * next append opens the path again (creating it; the exporter re-creates a removed folder).
 */
class KeptOpenFs implements JsonlFs {
  private handle: FileHandle | undefined;
  private handlePath = '';
  private checkedAt = 0;

  async appendFile(file: string, text: string): Promise<void> {
    if (!this.handle || this.handlePath !== file || (Date.now() - this.checkedAt > RECHECK_MS && !(await this.stillAt(file)))) await this.reopen(file);
    try {
      await this.handle!.appendFile(text);
    } catch (error) {
      await this.release(); // the next append starts from the path again
      throw error;
    }
  }

  truncate(file: string, length: number): Promise<void> {
    return truncate(file, length);
  }

  async release(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  private async reopen(file: string): Promise<void> {
    await this.release();
    this.handle = await open(file, 'a');
    this.handlePath = file;
    this.checkedAt = Date.now();
  }

  /** Whether `file` is still the open file (same device and inode). */
  private async stillAt(file: string): Promise<boolean> {
    this.checkedAt = Date.now();
    try {
      const [atPath, opened] = await Promise.all([stat(file), this.handle!.stat()]);
      return atPath.ino === opened.ino && atPath.dev === opened.dev;
    } catch {
      return false;
    }
  }
}

/** How far back from the end a torn last line is looked for at the first append (its newline). */
const TAIL_SCAN_BYTES = 1024 * 1024;

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
  private readonly fs: JsonlFs;
  /**
   * Set when an append failed and cutting the file back failed too: the file may end in a half
   * line, which must go before anything else is appended.
   */
  private tornAt: number | undefined;

  constructor(private readonly options: RotatingFileOptions) {
    this.fs = options.fs ?? new KeptOpenFs();
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

  /** Finishes the queued appends and closes the file (at shutdown). */
  async close(): Promise<void> {
    await this.queue;
    await this.fs.release?.();
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
      if (this.tornAt !== undefined) {
        await this.fs.truncate(this.path, this.tornAt);
        this.size = this.tornAt;
        this.tornAt = undefined;
      }
      this.size ??= await this.openSize();
    } catch (error) {
      throw new FileWriteError(this.options.exporterId, 'append to', this.path, error);
    }
    // A batch larger than the limit still goes whole into one (fresh) file.
    if (this.size > 0 && this.size + bytes > this.options.maxFileBytes) await this.rotate();
    const before = this.size;
    try {
      await this.fs.appendFile(this.path, text);
      this.size += bytes;
    } catch (error) {
      // A failed append may have written part of the text (ENOSPC after some blocks went to
      // disk): the next append, once space is freed, would be glued onto that half line and both
      // records become unreadable. Cut the file back to its last whole line; the batch is
      // refused (or retried by the sending queue), never acknowledged.
      await this.fs.truncate(this.path, before).then(
        () => (this.size = before),
        () => {
          this.tornAt = before;
          this.size = undefined;
        },
      );
      throw new FileWriteError(this.options.exporterId, 'append to', this.path, error);
    }
  }

  /**
   * The size of the file as found, after cutting off a torn last line: a process killed in the
   * middle of an append leaves one (its batch was never acknowledged).
   */
  private async openSize(): Promise<number> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    if (size === 0) return 0;
    const handle = await open(this.path, 'r');
    let tail: Buffer;
    try {
      const length = Math.min(size, TAIL_SCAN_BYTES);
      tail = Buffer.alloc(length);
      await handle.read(tail, 0, length, size - length);
    } finally {
      await handle.close();
    }
    if (tail[tail.length - 1] === 0x0a) return size;
    const lastNewline = tail.lastIndexOf(0x0a);
    // No line end in the last MiB: one huge line, not a torn one worth guessing about. Start the
    // next record on a line of its own instead.
    if (lastNewline < 0 && size > TAIL_SCAN_BYTES) {
      await this.fs.appendFile(this.path, '\n');
      return size + 1;
    }
    const good = size - tail.length + lastNewline + 1;
    await this.fs.truncate(this.path, good);
    this.options.onRepair?.(this.path, size - good);
    return good;
  }

  private async rotate(): Promise<void> {
    const stamp = rotationStamp(new Date());
    for (let n = 0; ; n++) {
      const target = path.join(this.options.directory, `${this.options.base}-${stamp}${n > 0 ? `-${n}` : ''}.jsonl`);
      try {
        await this.fs.release?.(); // appends after this one go to the new file
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
      const taken = await access(target).then(
        () => true,
        () => false,
      );
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
      const bytes = await stat(file).then(
        (s) => s.size,
        () => 0,
      );
      await unlink(file).then(
        () => this.options.onPruned?.(file, bytes),
        (error: unknown) => this.options.onPruneError?.(file, error),
      );
    }
  }
}
