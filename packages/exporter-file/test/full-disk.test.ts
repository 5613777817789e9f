/**
 * A full disk (issue 10.2): an append that fails half-way must not leave a half line that the
 * next append, once space is freed, is glued onto — every line of metrics.jsonl stays readable
 * and no acknowledged record is lost.
 */
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileWriteError, RotatingJsonlFile, type JsonlFs } from '../src/index.js';
import { points, readJsonLines, removeTempDirs, setup, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const line = (n: number) => `${JSON.stringify({ record: n, pad: 'x'.repeat(40) })}\n`;

/**
 * The real file system, except that while `full` is set an append writes only the first half of
 * its text and then fails with ENOSPC — what a disk that fills up in the middle of a write does.
 * (A stand-in for a full disk where no tmpfs can be mounted; the tmpfs test below uses a real one.)
 */
function fillingDisk(): JsonlFs & { full: boolean } {
  const disk = {
    full: false,
    async appendFile(file: string, text: string) {
      if (!disk.full) return appendFile(file, text);
      await appendFile(file, text.slice(0, Math.floor(text.length / 2)));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
    truncate: (file: string, length: number) => truncate(file, length),
  };
  return disk;
}

describe('JSON Lines on a disk that fills up', () => {
  it('cuts a failed append back to the last whole line, so the next one starts on a line of its own', async () => {
    const dir = await tempDir();
    const disk = fillingDisk();
    const file = new RotatingJsonlFile({ exporterId: 'file', directory: dir, base: 'metrics', maxFileBytes: 1 << 20, maxFiles: 0, fs: disk });
    await file.append(line(1));
    disk.full = true;
    const failed = await file.append(line(2) + line(3)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(FileWriteError);
    expect(failed).toMatchObject({ errno: 'ENOSPC' });
    disk.full = false;
    await file.append(line(4));
    expect(readJsonLines(file.path).map((r) => r['record'])).toEqual([1, 4]);
  });

  it('cuts the torn line off if cutting back failed, before the next append', async () => {
    const dir = await tempDir();
    const disk = fillingDisk();
    const truncateFirst = disk.truncate;
    let truncateFails = true;
    disk.truncate = async (f, n) => {
      if (truncateFails) throw Object.assign(new Error('EIO'), { code: 'EIO' });
      return truncateFirst(f, n);
    };
    const file = new RotatingJsonlFile({ exporterId: 'file', directory: dir, base: 'metrics', maxFileBytes: 1 << 20, maxFiles: 0, fs: disk });
    await file.append(line(1));
    disk.full = true;
    await file.append(line(2)).catch(() => undefined);
    disk.full = false;
    truncateFails = false;
    await file.append(line(3));
    expect(readJsonLines(file.path).map((r) => r['record'])).toEqual([1, 3]);
  });

  it('cuts off a torn last line left by a process killed mid-append, at its first append, and counts it', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'metrics.jsonl'), line(1) + line(2).slice(0, 20));
    const { exporter, settings } = setup(dir, { write_bundles: false });
    await exporter.consume({ bundles: [], metrics: points(2) });
    const records = readJsonLines(path.join(dir, 'metrics.jsonl'));
    expect(records).toHaveLength(3);
    expect(records[0]).toMatchObject({ record: 1 });
    expect(settings.registry.value('profcol_exporter_file_repaired_lines_total', { file: 'metrics' })).toBe(1);
  });
});

/** Mounts a small tmpfs; undefined with the reason when this machine does not let us. */
function mountTmpfs(sizeKiB: number): { dir: string; unmount: () => void } | string {
  const dir = path.join(os.tmpdir(), `profcol-tmpfs-${process.pid}-${Date.now()}`);
  try {
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    execFileSync('rmdir', [dir], { stdio: 'ignore' });
    return `mount -t tmpfs is not possible here (${String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim() || 'not permitted'}); needs root or CAP_SYS_ADMIN`;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      execFileSync('rmdir', [dir], { stdio: 'ignore' });
    },
  };
}

const tmpfs = mountTmpfs(256);
afterAll(() => {
  if (typeof tmpfs !== 'string') tmpfs.unmount();
});

describe.skipIf(typeof tmpfs === 'string')(
  `file exporter on a real full disk (256 KiB tmpfs)${typeof tmpfs === 'string' ? ` — skipped: ${tmpfs}` : ''}`,
  () => {
    const root = typeof tmpfs === 'string' ? '' : tmpfs.dir;

    /** Fills the tmpfs with a file until it has no room left; removing it frees the space. */
    async function fill(filler: string): Promise<void> {
      await rm(filler, { force: true });
      const chunk = new Uint8Array(4096);
      for (;;) {
        try {
          await appendFile(filler, chunk);
        } catch {
          return;
        }
      }
    }

    it('refuses batches while the disk is full, and every acknowledged point is in metrics.jsonl once space is freed — each line readable', async () => {
      const dir = path.join(root, 'refuse');
      await mkdir(dir, { recursive: true });
      const { exporter, settings } = setup(dir, { write_bundles: false, max_bytes: 0 });
      await exporter.start!(settings.host);
      await exporter.consume({ bundles: [], metrics: points(5, 'before') });
      await fill(path.join(root, 'filler'));
      let refused = 0;
      for (let i = 0; i < 20; i++)
        await exporter
          .consume({ bundles: [], metrics: points(200, 'while-full') })
          .catch((e: unknown) => (expect(e).toMatchObject({ errno: 'ENOSPC' }), refused++));
      expect(refused).toBe(20);
      await rm(path.join(root, 'filler'));
      await exporter.consume({ bundles: [], metrics: points(5, 'after') });
      await exporter.shutdown!();
      const text = await readFile(path.join(dir, 'metrics.jsonl'), 'utf8');
      const records = readJsonLines(path.join(dir, 'metrics.jsonl'));
      expect(text.endsWith('\n')).toBe(true);
      expect(records.map((r) => (r['resource'] as { service: string }).service)).toEqual([...Array(5).fill('before'), ...Array(5).fill('after')]);
      expect(settings.registry.value('profcol_exporter_send_failed_metric_points_total', { reason: 'ENOSPC' })).toBe(20 * 200);
    });

    it('with the sending queue and retries, acknowledges, retries through the full disk and writes every point once space is freed', async () => {
      const dir = path.join(root, 'queue');
      await mkdir(dir, { recursive: true });
      await fill(path.join(root, 'filler'));
      const { exporter, settings } = setup(dir, {
        write_bundles: false,
        max_bytes: 0,
        sending_queue: { enabled: true, num_consumers: 1 },
        retry_on_failure: { enabled: true, initial_interval: '10ms', max_interval: '50ms', max_elapsed_time: '0s' },
      });
      await exporter.start!(settings.host);
      for (let i = 0; i < 10; i++) await exporter.consume({ bundles: [], metrics: points(40, `batch-${i}`) });
      while (settings.registry.value('profcol_exporter_retries_total', { reason: 'ENOSPC' }) < 3) await new Promise((r) => setTimeout(r, 10));
      await rm(path.join(root, 'filler'));
      while (settings.registry.value('profcol_exporter_sent_metric_points_total') < 400) await new Promise((r) => setTimeout(r, 10));
      await exporter.shutdown!();
      const records = readJsonLines(path.join(dir, 'metrics.jsonl'));
      expect(records).toHaveLength(400);
      expect(new Set(records.map((r) => (r['resource'] as { service: string }).service)).size).toBe(10);
      expect(settings.registry.value('profcol_exporter_send_failed_metric_points_total')).toBe(0);
    });
  },
);
