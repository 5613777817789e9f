/**
 * glibc keeps the memory a program frees: `free()` gives pages back to the kernel only from the
 * top of the heap, so after a burst of large upload bodies (and the many 16–64 KiB chunks they
 * arrive in) RSS stays near its peak for as long as one small live allocation sits above the
 * freed ones. Measured on bench/memory.mjs burst b (64 × 31 MiB): 236–263 MiB of freed heap
 * stayed resident 20 s later; `malloc_trim(0)` gave it back (RSS 348 → 84 MiB). Setting
 * MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ did not (104–291 MiB over 9 runs).
 *
 * The native module is built at install by build.mjs with the system C compiler; where it could
 * not be (no compiler, not glibc), `trimFreedMemory` does nothing and says why.
 */
import { createRequire } from 'node:module';

interface NativeModule {
  trim(): boolean;
}

const require = createRequire(import.meta.url);

function load(): { native?: NativeModule; unavailable?: string } {
  try {
    return { native: require('../build/malloc_trim.node') as NativeModule };
  } catch (error) {
    return {
      unavailable: `build/malloc_trim.node did not load (${(error as Error).message.split('\n')[0]}); run \`node build.mjs\` in @profcol/malloc-trim with a C compiler on Linux with glibc`,
    };
  }
}

const loaded = load();

/** Why trimming is unavailable, or undefined when it is available. */
export const trimUnavailableReason: string | undefined = loaded.unavailable;

/**
 * Gives freed heap memory back to the kernel (glibc `malloc_trim(0)`, every arena). Returns true
 * when some was released, false when there was none, undefined when trimming is unavailable.
 * It walks the free lists of every arena: about 2 ms on a 250 MiB heap.
 */
export function trimFreedMemory(): boolean | undefined {
  return loaded.native?.trim();
}
