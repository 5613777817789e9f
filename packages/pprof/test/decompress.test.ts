import * as zlib from 'node:zlib';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, DecompressedTooLargeError, DecompressError, decompress, sniffEncoding } from '../src/index.js';
import { decompressZstdWith, framesCoverInput, zstdBackend, zstdBackends } from '../src/zstd.js';
import { fixture, localFixture, rawGoPprof } from './helpers.js';

const MiB = 1024 * 1024;

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

/** True when a zstd frame header declares no content size (FCS flag 0, not single-segment). */
function zstdFrameHasNoContentSize(frame: Uint8Array): boolean {
  const fhd = frame[4]!;
  return fhd >> 6 === 0 && ((fhd >> 5) & 1) === 0;
}

describe('sniffEncoding', () => {
  it('recognises gzip, zstd and LZ4 frames by their magic bytes', () => {
    expect(sniffEncoding(fixture('go-pprof/heap.pprof'))).toBe('gzip');
    expect(sniffEncoding(localFixture('goroutine.pprof.stream.zst'))).toBe('zstd');
    expect(sniffEncoding(localFixture('mixed.independent.lz4'))).toBe('lz4');
  });

  it('calls anything else raw, including a raw pprof protobuf and tiny inputs', () => {
    expect(sniffEncoding(fixture('ddtrace-go/cpu.pprof'))).toBe('none');
    expect(sniffEncoding(new Uint8Array())).toBe('none');
    expect(sniffEncoding(new Uint8Array([0x1f]))).toBe('none');
    expect(sniffEncoding(new Uint8Array([0x28, 0xb5, 0x2f]))).toBe('none');
    expect(sniffEncoding(new TextEncoder().encode('{"json":true}'))).toBe('none');
  });

  it('looks only at the bytes, so a gzip body is gzip whatever it claims to be', () => {
    const body = gzipSync(Buffer.from('not what the header said'));
    expect(sniffEncoding(body)).toBe('gzip');
    expect(new TextDecoder().decode(decompress(body))).toBe('not what the header said');
  });
});

describe('decompress: gzip', () => {
  it('inflates what Go net/http/pprof sends', () => {
    expect(decompress(fixture('go-pprof/heap.pprof'))).toEqual(rawGoPprof('heap'));
  });

  it('inflates concatenated gzip members into one payload', () => {
    const joined = Buffer.concat([gzipSync(Buffer.from('first ')), gzipSync(Buffer.from('second'))]);
    expect(new TextDecoder().decode(decompress(joined))).toBe('first second');
  });

  it('inflates correctly whatever size the gzip trailer announces (a hint, never trusted)', () => {
    const plain = rawGoPprof('heap');
    const honest = gzipSync(plain);
    for (const announced of [0, 1, plain.length - 1, plain.length, plain.length + 1, 10 * 1024 * 1024, 0xffffffff]) {
      const lying = Buffer.from(honest);
      lying.writeUInt32LE(announced >>> 0, lying.length - 4);
      // zlib checks ISIZE itself: a lie is a corrupt stream, never a wrong or oversized output.
      if (announced === plain.length) expect(decompress(lying, { maxBytes: plain.length })).toEqual(plain);
      else expect(() => decompress(lying, { maxBytes: 1024 * 1024 })).toThrow(DecompressError);
    }
  });

  it('reports a truncated gzip stream with its codec and size', () => {
    const gz = fixture('go-pprof/heap.pprof');
    const error = catchError(() => decompress(gz.subarray(0, gz.length - 20)));
    expect(error).toBeInstanceOf(DecompressError);
    expect((error as DecompressError).kind).toBe('decompress');
    expect((error as DecompressError).codec).toBe('gzip');
    expect(error.message).toBe(`gzip stream truncated after ${gz.length - 20} bytes (unexpected end of input)`);
  });

  it('reports corrupt gzip data', () => {
    const gz = new Uint8Array(fixture('go-pprof/heap.pprof'));
    gz.fill(0xff, 20, 60);
    const error = catchError(() => decompress(gz));
    expect(error).toBeInstanceOf(DecompressError);
    expect(error.message).toMatch(/^gzip stream is corrupt: /);
  });

  it('stops a gzip bomb at the cap instead of running out of memory', () => {
    const bomb = gzipSync(Buffer.alloc(64 * MiB));
    expect(bomb.length).toBeLessThan(100_000);
    const error = catchError(() => decompress(bomb, { maxBytes: 8 * MiB }));
    expect(error).toBeInstanceOf(DecompressedTooLargeError);
    expect(error).toBeInstanceOf(DecompressError);
    expect((error as DecompressedTooLargeError).kind).toBe('too_large');
    expect(error.message).toContain('gzip payload decompresses to more than the limit of 8388608 bytes');
  });

  it('accepts output exactly at the cap', () => {
    expect(decompress(gzipSync(Buffer.alloc(1000)), { maxBytes: 1000 })).toHaveLength(1000);
  });
});

describe('decompress: zstd', () => {
  it("decodes with the runtime's libzstd when it has one (Node >= 22.15), else with the prebuilt native binding, never the pure-JS fallback", () => {
    const hasRuntimeZstd = typeof (zlib as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function';
    expect(zstdBackend()).toBe(hasRuntimeZstd ? 'node' : 'native');
    expect(zstdBackends()).toEqual([...(hasRuntimeZstd ? ['node'] : []), 'native', 'wasm', 'js']);
  });

  it('the native binding takes only frames that declare a content size within the cap; a header that lies is corrupt data', () => {
    const sized = localFixture('delta-heap.pprof.sized.zst');
    expect(decompressZstdWith('native', sized, DEFAULT_MAX_DECOMPRESSED_BYTES)).toEqual(fixture('ddtrace-go/delta-heap.pprof'));
    // Declared 15,661 bytes: with a cap below size + one block, the streaming decoder stops it at the cap.
    expect(catchError(() => decompressZstdWith('native', sized, 15_000))).toBeInstanceOf(DecompressedTooLargeError);
    const lying = new Uint8Array(sized);
    expect(lying[4]).toBe(0x64); // single segment, 2-byte content size (value + 256)
    Buffer.from(lying.buffer).writeUInt16LE(1000 - 256, 5);
    const error = catchError(() => decompressZstdWith('native', lying, DEFAULT_MAX_DECOMPRESSED_BYTES));
    expect(error).toBeInstanceOf(DecompressError);
    expect(error.message).toMatch(/^zstd frame could not be decoded: .*corrupt/i);
  });

  it('a frame whose header declares a small size (the WebAssembly decoder takes those first) and which decodes to more is corrupt data', () => {
    const lying = new Uint8Array(localFixture('delta-heap.pprof.sized.zst'));
    Buffer.from(lying.buffer).writeUInt16LE(1000 - 256, 5); // declares 1,000 bytes; decodes to 15,661
    const error = catchError(() => decompress(lying));
    expect(error).toBeInstanceOf(DecompressError);
    expect(error.message).toMatch(/^zstd /);
    // The honest frame still decodes, through the same path.
    expect(decompress(localFixture('delta-heap.pprof.sized.zst'))).toEqual(fixture('ddtrace-go/delta-heap.pprof'));
  });

  it('walks frame and block headers to tell complete frames from truncated ones and trailing garbage', () => {
    const stream = localFixture('cpu.pprof.stream.zst');
    const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    expect(framesCoverInput(stream)).toBe(true);
    expect(framesCoverInput(new Uint8Array(Buffer.concat([stream, skippable, localFixture('delta-heap.pprof.sized.zst')])))).toBe(true);
    expect(framesCoverInput(stream.subarray(0, stream.length - 1))).toBe(false);
    expect(framesCoverInput(new Uint8Array(Buffer.concat([stream, Buffer.from('garbage!')])))).toBe(false);
    expect(framesCoverInput(new Uint8Array())).toBe(false);
  });

  it('decodes frames WITHOUT a content size (streaming encoders, dd-trace-go >= 2.4), made by the zstd CLI from stdin', () => {
    const frame = localFixture('goroutine.pprof.stream.zst');
    expect(zstdFrameHasNoContentSize(frame)).toBe(true);
    expect(decompress(frame)).toEqual(rawGoPprof('goroutine'));
    const cpu = localFixture('cpu.pprof.stream.zst');
    expect(zstdFrameHasNoContentSize(cpu)).toBe(true);
    expect(decompress(cpu)).toEqual(fixture('ddtrace-go/cpu.pprof'));
  });

  it('decodes frames with a content size', () => {
    const frame = localFixture('delta-heap.pprof.sized.zst');
    expect(zstdFrameHasNoContentSize(frame)).toBe(false);
    expect(decompress(frame)).toEqual(fixture('ddtrace-go/delta-heap.pprof'));
  });

  it('decodes concatenated frames and skips skippable frames', () => {
    const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    const joined = Buffer.concat([localFixture('goroutine.pprof.stream.zst'), skippable, localFixture('delta-heap.pprof.sized.zst')]);
    expect(decompress(joined)).toEqual(new Uint8Array(Buffer.concat([rawGoPprof('goroutine'), fixture('ddtrace-go/delta-heap.pprof')])));
  });

  it.each(zstdBackends())('the %s backend reports a truncated frame with the number of bytes it got', (backend) => {
    const frame = localFixture('cpu.pprof.stream.zst');
    const cut = frame.subarray(0, frame.length - 50);
    const error = catchError(() => decompressZstdWith(backend, cut, DEFAULT_MAX_DECOMPRESSED_BYTES));
    expect(error).toBeInstanceOf(DecompressError);
    expect(error.message).toMatch(new RegExp(`^zstd frame truncated after ${cut.length} bytes`));
  });

  it.each(zstdBackends())('the %s backend reports corrupt data and trailing garbage', (backend) => {
    const frame = new Uint8Array(localFixture('cpu.pprof.stream.zst'));
    frame.fill(0xaa, 100, 400);
    expect(() => decompressZstdWith(backend, frame, DEFAULT_MAX_DECOMPRESSED_BYTES)).toThrow(DecompressError);
    const garbage = Buffer.concat([localFixture('goroutine.pprof.stream.zst'), Buffer.from('garbage!')]);
    expect(() => decompressZstdWith(backend, garbage, DEFAULT_MAX_DECOMPRESSED_BYTES)).toThrow(DecompressError);
  });

  it.each(zstdBackends())('the %s backend stops a zstd bomb (2 KiB -> 64 MiB) at the cap', (backend) => {
    const bomb = localFixture('bomb-64MiB-zeros.zst');
    expect(bomb.length).toBeLessThan(4096);
    const error = catchError(() => decompressZstdWith(backend, bomb, 4 * MiB));
    expect(error).toBeInstanceOf(DecompressedTooLargeError);
    expect(error.message).toContain('zstd payload decompresses to more than the limit of 4194304 bytes');
  });

  it.each(zstdBackends())('the %s backend decodes highly compressible data whose output fills its last buffer exactly (1 MiB of zeros)', (backend) => {
    const zeros = decompressZstdWith(backend, localFixture('zeros-1MiB.stream.zst'), 64 * MiB);
    expect(zeros.length).toBe(MiB);
    expect(zeros.indexOf(1)).toBe(-1);
    expect(Buffer.from(zeros).equals(Buffer.alloc(MiB))).toBe(true);
  });

  it('the decoder stays usable after a bomb or a corrupt frame', () => {
    expect(() => decompress(localFixture('bomb-64MiB-zeros.zst'), { maxBytes: MiB })).toThrow(DecompressedTooLargeError);
    expect(decompress(localFixture('goroutine.pprof.stream.zst'))).toEqual(rawGoPprof('goroutine'));
  });

  it('the WebAssembly decoder keeps its context between calls, and a call that failed mid-frame does not leave its state to the next', () => {
    const stream = localFixture('cpu.pprof.stream.zst');
    const expected = fixture('ddtrace-go/cpu.pprof');
    const corrupt = new Uint8Array(stream);
    corrupt.fill(0xaa, 100, 400);
    const failures = [
      () => decompressZstdWith('wasm', stream.subarray(0, stream.length - 50), DEFAULT_MAX_DECOMPRESSED_BYTES),
      () => decompressZstdWith('wasm', localFixture('bomb-64MiB-zeros.zst'), MiB),
      () => decompressZstdWith('wasm', corrupt, DEFAULT_MAX_DECOMPRESSED_BYTES),
    ];
    for (const fail of failures) {
      expect(fail).toThrow(DecompressError);
      // Twice: the first call after a failure starts afresh, the second reuses what the first kept.
      expect(decompressZstdWith('wasm', stream, DEFAULT_MAX_DECOMPRESSED_BYTES)).toEqual(expected);
      expect(decompressZstdWith('wasm', stream, DEFAULT_MAX_DECOMPRESSED_BYTES)).toEqual(expected);
    }
    // A large output (its context is not kept), then small ones again.
    expect(decompressZstdWith('wasm', localFixture('zeros-1MiB.stream.zst'), 64 * MiB)).toHaveLength(MiB);
    expect(decompressZstdWith('wasm', localFixture('delta-heap.pprof.sized.zst'), DEFAULT_MAX_DECOMPRESSED_BYTES)).toEqual(
      fixture('ddtrace-go/delta-heap.pprof'),
    );
    expect(decompressZstdWith('wasm', stream, DEFAULT_MAX_DECOMPRESSED_BYTES)).toEqual(expected);
  });

  it.each(zstdBackends())('the %s backend gives the same output as the others, for frames with and without a content size, concatenated', (backend) => {
    const joined = new Uint8Array(Buffer.concat([localFixture('cpu.pprof.stream.zst'), localFixture('delta-heap.pprof.sized.zst')]));
    expect(decompressZstdWith(backend, joined, DEFAULT_MAX_DECOMPRESSED_BYTES)).toEqual(
      new Uint8Array(Buffer.concat([fixture('ddtrace-go/cpu.pprof'), fixture('ddtrace-go/delta-heap.pprof')])),
    );
  });
});

describe('decompress: LZ4 frame', () => {
  const raw = localFixture('mixed.raw');

  it.each(['mixed.independent.lz4', 'mixed.linked-blockchecksum-contentsize.lz4', 'mixed.nocrc.stdin.lz4'])('decodes %s made by the lz4 CLI', (name) => {
    expect(decompress(localFixture(name))).toEqual(raw);
  });

  it('decodes concatenated frames', () => {
    const joined = Buffer.concat([localFixture('mixed.independent.lz4'), localFixture('mixed.nocrc.stdin.lz4')]);
    expect(decompress(joined)).toEqual(new Uint8Array(Buffer.concat([raw, raw])));
  });

  it('reports a truncated frame', () => {
    const frame = localFixture('mixed.independent.lz4');
    const error = catchError(() => decompress(frame.subarray(0, 5000)));
    expect(error).toBeInstanceOf(DecompressError);
    expect(error.message).toMatch(/^lz4 frame truncated after 5000 bytes/);
  });

  it('verifies block and content checksums', () => {
    const frame = new Uint8Array(localFixture('mixed.linked-blockchecksum-contentsize.lz4'));
    frame[30] = frame[30]! ^ 0xff;
    expect(catchError(() => decompress(frame)).message).toMatch(/^lz4 block checksum mismatch/);
    const unchecked = new Uint8Array(localFixture('mixed.independent.lz4'));
    // The last 4 bytes are the content checksum.
    unchecked[unchecked.length - 1] = unchecked[unchecked.length - 1]! ^ 0xff;
    expect(catchError(() => decompress(unchecked)).message).toBe('lz4 content checksum mismatch (corrupt data)');
  });

  it('verifies the frame descriptor checksum', () => {
    const frame = new Uint8Array(localFixture('mixed.independent.lz4'));
    frame[6] = frame[6]! ^ 0x55;
    expect(catchError(() => decompress(frame)).message).toBe('lz4 frame descriptor checksum mismatch (corrupt header)');
  });

  it('stops an LZ4 bomb at the cap', () => {
    const error = catchError(() => decompress(localFixture('bomb-8MiB-zeros.lz4'), { maxBytes: MiB }));
    expect(error).toBeInstanceOf(DecompressedTooLargeError);
    expect((error as DecompressError).codec).toBe('lz4');
  });
});

describe('decompress: raw', () => {
  it('returns raw input unchanged', () => {
    const raw = fixture('ddtrace-go/cpu.pprof');
    expect(decompress(raw)).toBe(raw);
  });

  it('applies the cap to raw input too', () => {
    expect(() => decompress(new Uint8Array(2000), { maxBytes: 1000 })).toThrow(DecompressedTooLargeError);
  });

  it('has a 256 MiB default cap', () => {
    expect(DEFAULT_MAX_DECOMPRESSED_BYTES).toBe(256 * MiB);
  });
});
