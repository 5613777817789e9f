/**
 * The persistent half of the sending queue: one file per request in one directory.
 *
 * A file is `PCQ1 <sha256 of body> <body length>\n<body>`, the body being what the exporter's
 * codec made of the request. It is written under a temporary name, fsync'd, renamed into place
 * and the directory fsync'd, all before the batch is acknowledged; so after a crash (SIGKILL,
 * power loss) a file either exists whole or not at all — a leftover temporary file belongs to a
 * batch that was never acknowledged. A file that fails its checksum or its codec is moved to
 * `corrupt/` and skipped (counted).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ProfcolError } from '../errors.js';

const MAGIC = 'PCQ1';
const TMP_PREFIX = '.tmp-';

/** Turns a request into the bytes of its queue file and back. `decode` throws on bytes it cannot read. */
export interface RequestCodec<R> {
  encode(request: R): Uint8Array | string;
  decode(body: Buffer): R;
}

export class CorruptQueueFileError extends ProfcolError {
  constructor(
    readonly file: string,
    why: string,
  ) {
    super('corrupt_queue_file', `queue file ${file} is corrupt (${why}); it was moved to corrupt/ and skipped`);
  }
}

export class QueueStorageError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage', message, options);
  }
}

/** A directory name for a component id (`otlp/vm` → `otlp_vm`). */
export function storageSubdir(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** The bytes of a queue file for an encoded request body. */
export function encodeQueueFile(body: Uint8Array | string): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const sum = createHash('sha256').update(bytes).digest('hex');
  return Buffer.concat([Buffer.from(`${MAGIC} ${sum} ${bytes.length}\n`, 'ascii'), bytes]);
}

/** The body of a queue file, checked; throws CorruptQueueFileError. */
export function decodeQueueFile(bytes: Buffer, file: string): Buffer {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0 || newline > 200) throw new CorruptQueueFileError(file, 'no header');
  const [magic, sum, length] = bytes.subarray(0, newline).toString('ascii').split(' ');
  if (magic !== MAGIC) throw new CorruptQueueFileError(file, `unknown format "${magic?.slice(0, 8)}"`);
  const body = bytes.subarray(newline + 1);
  if (String(body.length) !== length) throw new CorruptQueueFileError(file, `body is ${body.length} bytes, header says ${length}`);
  if (createHash('sha256').update(body).digest('hex') !== sum) throw new CorruptQueueFileError(file, 'checksum mismatch');
  return body;
}

export interface StoredRequest {
  file: string;
  bytes: number;
}

/** A request found on disk at start: read once to check it, handed over so its items can be counted. */
export interface ReplayedRequest<R> extends StoredRequest {
  request: R;
}

export class DiskQueue<R> {
  private seq = 0;

  /** `suffix` names the files (`.otlpq`): files of another suffix in the directory are left alone. */
  constructor(
    readonly dir: string,
    private readonly codec: RequestCodec<R>,
    private readonly suffix = '.pcq',
  ) {}

  /**
   * Creates the directory, removes temporary leftovers and returns the stored requests oldest
   * first (each read once to check it). Corrupt files are moved aside and reported.
   */
  async open(onCorrupt: (error: CorruptQueueFileError) => void): Promise<{ stored: ReplayedRequest<R>[]; leftovers: number }> {
    try {
      await fs.mkdir(this.dir, { recursive: true });
    } catch (error) {
      throw new QueueStorageError(`cannot create the queue directory ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
    const names = (await fs.readdir(this.dir)).sort();
    let leftovers = 0;
    const stored: ReplayedRequest<R>[] = [];
    for (const name of names) {
      if (name.startsWith(TMP_PREFIX)) {
        await fs.rm(path.join(this.dir, name), { force: true });
        leftovers++;
        continue;
      }
      if (!name.endsWith(this.suffix)) continue;
      const seq = Number.parseInt(name, 10);
      if (Number.isFinite(seq)) this.seq = Math.max(this.seq, seq);
      try {
        const request = await this.read(name);
        const stat = await fs.stat(path.join(this.dir, name));
        stored.push({ file: name, bytes: stat.size, request });
      } catch (error) {
        if (error instanceof CorruptQueueFileError) onCorrupt(error);
        else throw error;
      }
    }
    return { stored, leftovers };
  }

  /** Encodes a request: the bytes `write` will store, for sizing before any await. */
  encode(request: R): Buffer {
    return encodeQueueFile(this.codec.encode(request));
  }

  /** Writes one encoded request durably; resolves once it would survive a crash. */
  async write(data: Buffer): Promise<StoredRequest> {
    const name = `${String(++this.seq).padStart(16, '0')}${this.suffix}`;
    const tmp = path.join(this.dir, `${TMP_PREFIX}${name}`);
    try {
      const handle = await fs.open(tmp, 'wx');
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tmp, path.join(this.dir, name));
      await this.syncDir();
    } catch (error) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw new QueueStorageError(`cannot write to the queue directory ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
    return { file: name, bytes: data.length };
  }

  /** Reads a stored request; a corrupt one is moved to `corrupt/` and a CorruptQueueFileError thrown. */
  async read(file: string): Promise<R> {
    const full = path.join(this.dir, file);
    const bytes = await fs.readFile(full);
    try {
      const body = decodeQueueFile(bytes, full);
      try {
        return this.codec.decode(body);
      } catch (error) {
        throw new CorruptQueueFileError(full, (error as Error).message);
      }
    } catch (error) {
      if (error instanceof CorruptQueueFileError) await this.quarantine(file);
      throw error;
    }
  }

  async remove(file: string): Promise<void> {
    await fs.rm(path.join(this.dir, file), { force: true });
  }

  /** How many requests are on disk now. */
  async count(): Promise<number> {
    return (await fs.readdir(this.dir).catch(() => [] as string[])).filter((n) => n.endsWith(this.suffix)).length;
  }

  private async quarantine(file: string): Promise<void> {
    const corrupt = path.join(this.dir, 'corrupt');
    await fs.mkdir(corrupt, { recursive: true });
    await fs.rename(path.join(this.dir, file), path.join(corrupt, file)).catch(() => fs.rm(path.join(this.dir, file), { force: true }));
  }

  private async syncDir(): Promise<void> {
    const handle = await fs.open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
