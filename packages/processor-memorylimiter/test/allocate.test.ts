import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

describe('memory_limiter with real memory', () => {
  it('refuses data once a process really allocates past its limit, forces a GC, and accepts again once the memory is freed', async () => {
    // A child process of its own: its RSS is not shared with vitest's workers, and the 160 MiB
    // it allocates go away with it.
    const script = fileURLToPath(new URL('./fixtures/allocate.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', script], { encoding: 'utf8' });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(result.before).toMatchObject({ state: 'ok', outcome: 'accepted' });
    expect(result.during.rssMib).toBeGreaterThanOrEqual(result.hardMib);
    expect(result.during).toMatchObject({ state: 'hard_limit', outcome: 'refused (memory_limit, hard_limit, retry after 3600000 ms)' });
    expect(result.forcedGcs).toBeGreaterThanOrEqual(1);
    expect(result.after).toMatchObject({ state: 'ok', outcome: 'accepted' });
    expect(result.refused).toBe(1);
  });
});
