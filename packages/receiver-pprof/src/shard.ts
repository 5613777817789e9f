/**
 * Sharding targets across replicas: a target belongs to the replica whose index equals
 * FNV-1a 32-bit of its URL (UTF-8, trailing slashes removed) modulo the number of replicas.
 * Stateless and deterministic: every replica computes the same owner for a URL, so N
 * replicas with indexes 0..N−1 scrape each target exactly once. Changing N moves targets
 * (their delta baselines restart on the new owner).
 */
import { normalizeTargetUrl } from './config.js';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}

/** The shard (0..total−1) that owns a target URL. */
export function shardOf(url: string, total: number): number {
  return fnv1a32(normalizeTargetUrl(url)) % total;
}
