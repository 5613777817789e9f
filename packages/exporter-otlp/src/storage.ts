/**
 * The persistent half of the sending queue: one file per request in one directory.
 *
 * A file is `PCQ1 <sha256 of body> <body length>\n<body>`, the body being the JSON of the
 * request. It is written under a temporary name, fsync'd, renamed into place and the directory
 * fsync'd, all before the batch is acknowledged; so after a crash a file either exists whole
 * or not at all (a leftover temporary file belongs to a batch that was never acknowledged).
 * A file that fails its checksum or does not parse is moved to `corrupt/` and skipped.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ProfcolError } from '@profcol/core';
import { decodeRequest, encodeRequest, type ExportRequest } from './convert.js';

const MAGIC = 'PCQ1';
const SUFFIX = '.otlpq';
const TMP_PREFIX = '.tmp-';

export class CorruptFileError extends ProfcolError {
  constructor(readonly file: string, why: string) {
    super('corrupt_queue_file', `queue file ${file} is corrupt (${why}); it was moved to corrupt/ and skipped`);
  }
}

export class StorageError extends ProfcolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage', message, options);
  }
}

export interface StoredEntry {
  file: string;
  bytes: number;
  points: number;
}

/** The file bytes of a request; `json` is its `encodeRequest` text when already at hand. */
export function encodeFile(request: ExportRequest, json = encodeRequest(request)): Buffer {
  const body = Buffer.from(json, 'utf8');
  const sum = createHash('sha256').update(body).digest('hex');
  return Buffer.concat([Buffer.from(`${MAGIC} ${sum} ${body.length}\n`, 'ascii'), body]);
}

export function decodeFile(bytes: Buffer, file: string): ExportRequest {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0 || newline > 200) throw new CorruptFileError(file, 'no header');
  const [magic, sum, length] = bytes.subarray(0, newline).toString('ascii').split(' ');
  if (magic !== MAGIC) throw new CorruptFileError(file, `unknown format "${magic?.slice(0, 8)}"`);
  const body = bytes.subarray(newline + 1);
  if (String(body.length) !== length) throw new CorruptFileError(file, `body is ${body.length} bytes, header says ${length}`);
  if (createHash('sha256').update(body).digest('hex') !== sum) throw new CorruptFileError(file, 'checksum mismatch');
  try {
    return decodeRequest(body.toString('utf8'));
  } catch (error) {
    throw new CorruptFileError(file, (error as Error).message);
  }
}

export class DiskStore {
  private seq = 0;

  constructor(readonly dir: string) {}

  /**
   * Creates the directory, removes temporary leftovers and returns the stored requests oldest
   * first. Corrupt files are moved aside and reported through `onCorrupt`.
   */
  async open(onCorrupt: (error: CorruptFileError) => void): Promise<{ entries: StoredEntry[]; leftovers: number }> {
    try {
      await fs.mkdir(this.dir, { recursive: true });
    } catch (error) {
      throw new StorageError(`cannot create the queue directory ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
    const names = (await fs.readdir(this.dir)).sort();
    let leftovers = 0;
    const entries: StoredEntry[] = [];
    for (const name of names) {
      if (name.startsWith(TMP_PREFIX)) {
        await fs.rm(path.join(this.dir, name), { force: true });
        leftovers++;
        continue;
      }
      if (!name.endsWith(SUFFIX)) continue;
      const seq = Number.parseInt(name, 10);
      if (Number.isFinite(seq)) this.seq = Math.max(this.seq, seq);
      try {
        const request = await this.read(name);
        const stat = await fs.stat(path.join(this.dir, name));
        entries.push({ file: name, bytes: stat.size, points: request.points.length });
      } catch (error) {
        if (error instanceof CorruptFileError) onCorrupt(error);
        else throw error;
      }
    }
    return { entries, leftovers };
  }

  /** Writes one request durably; resolves once it would survive a crash. */
  async write(request: ExportRequest, json?: string): Promise<StoredEntry> {
    const data = encodeFile(request, json);
    const name = `${String(++this.seq).padStart(16, '0')}${SUFFIX}`;
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
      throw new StorageError(`cannot write to the queue directory ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
    return { file: name, bytes: data.length, points: request.points.length };
  }

  /** Reads a stored request; a corrupt one is moved to `corrupt/` and a CorruptFileError thrown. */
  async read(file: string): Promise<ExportRequest> {
    const full = path.join(this.dir, file);
    const bytes = await fs.readFile(full);
    try {
      return decodeFile(bytes, full);
    } catch (error) {
      if (error instanceof CorruptFileError) await this.quarantine(file);
      throw error;
    }
  }

  async remove(file: string): Promise<void> {
    await fs.rm(path.join(this.dir, file), { force: true });
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
