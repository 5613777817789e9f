/**
 * The metrics and bundles files are appended to through a handle kept open (one write per
 * group of batches). These tests show what that must not change: a file someone else deletes
 * or moves away is written at its path again, and a rotated file gets no more lines.
 */
import { readFile, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RotatingJsonlFile } from '../src/index.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8')).split('\n').filter(Boolean);

describe('JSON Lines through a file handle kept open', () => {
  it('writes at the path again within a second when the file was deleted or moved away', async () => {
    const dir = await tempDir();
    const file = new RotatingJsonlFile({ exporterId: 'file', directory: dir, base: 'metrics', maxFileBytes: 1 << 20, maxFiles: 0 });
    await file.append('{"n":1}\n');
    await rm(file.path);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the once-a-second check
    await file.append('{"n":2}\n');
    expect(await lines(file.path)).toEqual(['{"n":2}']);

    await rename(file.path, path.join(dir, 'moved.jsonl'));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await file.append('{"n":3}\n');
    expect(await lines(file.path)).toEqual(['{"n":3}']);
    expect(await lines(path.join(dir, 'moved.jsonl'))).toEqual(['{"n":2}']);
    await file.close();
  });

  it('sends every append after a rotation to the new file, none to the rotated one', async () => {
    const dir = await tempDir();
    const file = new RotatingJsonlFile({ exporterId: 'file', directory: dir, base: 'metrics', maxFileBytes: 64, maxFiles: 0 });
    const written: string[] = [];
    for (let n = 0; n < 40; n++) {
      const line = `{"n":${n},"pad":"${'x'.repeat(20)}"}\n`;
      written.push(line.trim());
      await file.append(line);
    }
    await file.close();
    const names = (await readdir(dir)).sort();
    expect(names.length).toBeGreaterThan(10);
    const all: string[] = [];
    for (const name of names.filter((n) => n !== 'metrics.jsonl')) {
      const content = await lines(path.join(dir, name));
      expect(content.join('\n').length).toBeLessThanOrEqual(64); // no line went to a file after it was rotated
      all.push(...content);
    }
    all.push(...(await lines(file.path)));
    expect(all.sort()).toEqual(written.sort());
  });
});
