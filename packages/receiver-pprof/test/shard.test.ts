import { describe, expect, it } from 'vitest';
import { shardOf } from '../src/index.js';
import { fnv1a32 } from '../src/shard.js';

describe('shard: FNV-1a 32 of the target URL, modulo the number of replicas', () => {
  it('is the standard FNV-1a 32-bit hash', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('ignores trailing slashes, so http://h:1 and http://h:1/ have the same owner', () => {
    expect(shardOf('http://h:1/', 7)).toBe(shardOf('http://h:1', 7));
    expect(shardOf('http://h:1', 7)).toBe(fnv1a32('http://h:1') % 7);
  });

  it('splits 300 targets over 3 replicas: every target has exactly one owner, and the split is even-ish', () => {
    const urls = Array.from({ length: 300 }, (_, i) => `http://10.0.${i >> 8}.${i & 255}:6060`);
    const owners = urls.map((url) => shardOf(url, 3));
    const sizes = [0, 1, 2].map((i) => owners.filter((o) => o === i).length);
    expect(sizes.reduce((a, b) => a + b)).toBe(300);
    for (const size of sizes) expect(size).toBeGreaterThan(70);
  });
});
