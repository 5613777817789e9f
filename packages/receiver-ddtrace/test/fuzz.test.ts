import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createServiceLimits } from '@profcol/core';
import { ProfileDecoder } from '@profcol/pprof';
import * as errors from '../src/errors.js';
import * as multipart from '../src/multipart.js';
import * as upload from '../src/upload.js';
import { fuzzSuite } from '../../../scripts/fuzz/vitest.mjs';
import { ddtraceFuzzTargets } from './fuzz-targets.mjs';

// The real dd-trace uploads of test/fixtures, mutated and fed in random chunks: the properties
// are in fuzz-targets.mjs. Decoding runs on this thread (no decode workers) under an 8 MiB cap.
const decoder = ProfileDecoder.for({ limits: createServiceLimits({ decodeWorkers: 0, maxDecompressedBytes: 8 << 20 }) });
afterAll(() => decoder.close());

describe('ddtrace receiver under fuzzed uploads', () => {
  fuzzSuite({ fc, it, targets: ddtraceFuzzTargets({ fc, multipart, upload, errors, decoder }), runs: 500 });
});

// Found by the fuzz run: the preamble bound was only checked while the boundary had not arrived,
// so a long preamble passed when the body came in one chunk and was refused when it came in two.
describe('multipart preamble bound, whatever the chunking', () => {
  const body = Buffer.from(`${'x'.repeat(100)}\r\n--b\r\nContent-Disposition: form-data; name="event"\r\n\r\n{}\r\n--b--\r\n`);
  const reason = (chunks: Buffer[]) => {
    const parser = new multipart.MultipartParser('b', { maxPreambleBytes: 10 });
    try {
      for (const chunk of chunks) parser.write(chunk);
      parser.end();
      return 'accepted';
    } catch (error) {
      return (error as multipart.MultipartError).reason;
    }
  };
  it('refuses a 100-byte preamble over a 10-byte bound in one chunk, as in two', () => {
    expect(reason([body])).toBe('bad_boundary');
    expect(reason([body.subarray(0, 50), body.subarray(50)])).toBe('bad_boundary');
  });
  it('still accepts a preamble within the bound in one chunk', () => {
    expect(reason([Buffer.concat([Buffer.from('01234567'), body.subarray(100)])])).toBe('accepted');
  });
});
