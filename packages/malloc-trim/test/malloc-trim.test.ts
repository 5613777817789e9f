import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { trimFreedMemory, trimUnavailableReason } from '../src/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;

describe('trimFreedMemory', () => {
  it('is built on this machine (Linux, glibc, a C compiler)', () => {
    expect(trimUnavailableReason).toBeUndefined();
  });

  it('gives back freed heap pages that free() keeps: 32 KiB buffers under a small live one', async () => {
    // Below glibc's mmap threshold, so on the heap; the small survivors pin its top, as a
    // connection's parser does after a burst of upload chunks.
    let chunks: Buffer[] | undefined = [];
    const survivors: Buffer[] = [];
    for (let i = 0; i < 6400; i++) {
      chunks.push(Buffer.alloc(32 * 1024, i & 0xff));
      if (i % 64 === 0) survivors.push(Buffer.alloc(256, 1));
    }
    chunks = undefined;
    gc();
    // V8 frees ArrayBuffer memory on a background thread after the collection.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const freedButResident = process.memoryUsage.rss();
    expect(trimFreedMemory()).toBe(true);
    const trimmed = process.memoryUsage.rss();
    expect(freedButResident - trimmed).toBeGreaterThan(100 * MiB); // 200 MiB were freed
    expect(survivors.every((b) => b[0] === 1)).toBe(true);
  });
});
