/** zstd decompression with a hard output cap. See the README for why this backend. */
import { Decompress } from 'fzstd';
import { DecompressError, DecompressedTooLargeError } from './errors.js';

export function decompressZstd(bytes: Uint8Array, maxBytes: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const stream = new Decompress((chunk) => {
    total += chunk.length;
    if (total > maxBytes) throw new DecompressedTooLargeError('zstd', maxBytes);
    chunks.push(chunk);
  });
  try {
    stream.push(bytes, true);
  } catch (error) {
    if (error instanceof DecompressError) throw error;
    const code = (error as { code?: number }).code;
    if (code === 5) throw new DecompressError('zstd', `zstd frame truncated after ${bytes.length} bytes (unexpected end of input)`, { cause: error });
    throw new DecompressError('zstd', `zstd frame is corrupt: ${(error as Error).message}`, { cause: error });
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
