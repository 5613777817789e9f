import { describe, expect, it } from 'vitest';
import { boundaryOf, MultipartError, MultipartParser, parseParameters } from '../src/multipart.js';
import { chunksOf, jsFixture, multipart } from './helpers.js';

function parseAll(boundary: string, chunks: Buffer[]) {
  const parser = new MultipartParser(boundary);
  for (const chunk of chunks) parser.write(chunk);
  return parser.end();
}

function errorOf(boundary: string, chunks: Buffer[]): MultipartError {
  try {
    parseAll(boundary, chunks);
  } catch (error) {
    if (error instanceof MultipartError) return error;
    throw error;
  }
  throw new Error('expected a MultipartError');
}

describe('multipart parser', () => {
  it('reads the real dd-trace-js upload: event first, then the attachments, bytes as sent', () => {
    const { body, boundary } = jsFixture();
    const parts = parseAll(boundary, [body]);
    expect(parts.map((p) => p.name)).toEqual(['event', 'space.pprof', 'events.pprof', 'wall.pprof']);
    expect(parts[0]!.filename).toBe('event.json');
    expect(parts[0]!.contentType).toBe('application/json');
    expect(JSON.parse(parts[0]!.data.toString()).family).toBe('node');
    for (const part of parts.slice(1)) {
      expect(part.filename).toBe(part.name);
      expect([part.data[0], part.data[1]]).toEqual([0x1f, 0x8b]); // gzip, untouched
    }
  });

  it('gives the same parts whatever the chunking, down to one byte at a time', () => {
    const { body, boundary } = jsFixture();
    const whole = parseAll(boundary, [body]);
    for (const size of [1, 2, 3, 7, 17, 18, 19, 64, 1000, 4096]) {
      const parts = parseAll(boundary, chunksOf(body, size));
      expect(parts.map((p) => [p.name, p.data.length])).toEqual(whole.map((p) => [p.name, p.data.length]));
      expect(parts.every((p, i) => p.data.equals(whole[i]!.data))).toBe(true);
    }
  });

  it('splits at every position of a small body without losing a byte', () => {
    const body = multipart('b0undary', [
      { name: 'a', data: 'x\r\n--b0undar' },
      { name: 'b', filename: 'b.bin', data: Buffer.from([0x0d, 0x0a, 0x2d, 0x2d, 0x62]) },
    ]);
    for (let cut = 1; cut < body.length; cut++) {
      const parts = parseAll('b0undary', [body.subarray(0, cut), body.subarray(cut)]);
      expect(parts.map((p) => p.data.toString('latin1'))).toEqual(['x\r\n--b0undar', '\r\n--b']);
    }
  });

  it('accepts a preamble, transport padding after a boundary and an epilogue', () => {
    const body = Buffer.from('preamble text\r\n--XyZ  \r\nContent-Disposition: form-data; name="f"\r\n\r\nvalue\r\n--XyZ--\r\nepilogue');
    expect(parseAll('XyZ', [body]).map((p) => [p.name, p.data.toString()])).toEqual([['f', 'value']]);
  });

  it('reads quoted, escaped and UTF-8 names', () => {
    const body = Buffer.concat([
      Buffer.from('--b\r\nContent-Disposition: form-data; filename="a \\"q\\".pprof"; name="data[cpu.pprof]"\r\n\r\n1\r\n'),
      Buffer.from('--b\r\ncontent-disposition: form-data; name="caf\u00e9"\r\n\r\n2\r\n--b--', 'utf8'),
    ]);
    const parts = parseAll('b', [body]);
    expect(parts.map((p) => [p.name, p.filename])).toEqual([
      ['data[cpu.pprof]', 'a "q".pprof'],
      ['café', undefined],
    ]);
  });

  it('names what is wrong: a body that does not use the declared boundary', () => {
    const { body } = jsFixture();
    const error = errorOf('not-the-boundary', [body]);
    expect(error.reason).toBe('bad_boundary');
    expect(error.message).toContain('does not contain the boundary "--not-the-boundary" declared in Content-Type');
    expect(error.message).toContain('it begins "--5e79a1dd8a04b2b0');
  });

  it('names what is wrong: a truncated attachment, by part and size', () => {
    const { body, boundary } = jsFixture();
    const error = errorOf(boundary, [body.subarray(0, body.length - 500)]);
    expect(error.reason).toBe('truncated');
    expect(error.message).toMatch(/the body ended inside part 4 \("wall\.pprof"\) after \d+ bytes, before its closing boundary/);
  });

  it('names what is wrong: a body without its closing boundary', () => {
    const body = Buffer.from('--b\r\nContent-Disposition: form-data; name="event"\r\n\r\n{}\r\n--b\r\n');
    const error = errorOf('b', [body]);
    expect(error.reason).toBe('truncated');
    expect(error.message).toContain('after part 1 ("event") without the closing boundary "--b--"');
  });

  it('names what is wrong: an empty body, a part without a name, a broken header line', () => {
    expect(errorOf('b', []).reason).toBe('empty_body');
    const noName = errorOf('b', [Buffer.from('--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--')]);
    expect(noName.message).toContain('part 1 has no name in its Content-Disposition');
    const noDisposition = errorOf('b', [Buffer.from('--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--')]);
    expect(noDisposition.message).toContain('part 1 has no Content-Disposition header');
    const badLine = errorOf('b', [Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\ngarbage\r\n\r\nx\r\n--b--')]);
    expect(badLine.message).toContain('part 1 has a malformed header line "garbage"');
    const badAfter = errorOf('b', [Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--bXX\r\n')]);
    expect(badAfter.message).toContain('a boundary line after part 1 ("a") is followed by "XX');
  });

  it('refuses part headers without end, and too many parts', () => {
    const parser = new MultipartParser('b', { maxHeaderBytes: 100 });
    expect(() => parser.write(Buffer.from(`--b\r\nContent-Disposition: form-data; name="${'a'.repeat(200)}"`))).toThrow(
      /headers of part 1 are longer than 100 bytes/,
    );
    const many = multipart(
      'b',
      Array.from({ length: 5 }, (_, i) => ({ name: `p${i}`, data: 'x' })),
    );
    const limited = new MultipartParser('b', { maxParts: 4 });
    expect(() => limited.write(many)).toThrow(/more than 4 parts/);
  });

  it('reads boundaries from Content-Type, quoted or not, and refuses invalid ones', () => {
    expect(boundaryOf('multipart/form-data; boundary=5e79a1dd8a04b2b0')).toEqual({ boundary: '5e79a1dd8a04b2b0' });
    expect(boundaryOf('multipart/form-data; charset=utf-8; boundary="a b:c"')).toEqual({ boundary: 'a b:c' });
    expect(boundaryOf('multipart/form-data')).toEqual({ problem: 'Content-Type multipart/form-data has no boundary parameter' });
    expect('problem' in boundaryOf(`multipart/form-data; boundary=${'x'.repeat(71)}`)).toBe(true);
    expect('problem' in boundaryOf('multipart/form-data; boundary=')).toBe(true);
    expect(parseParameters(' a=1; B="x;y"; c')).toEqual(
      new Map([
        ['a', '1'],
        ['b', 'x;y'],
        ['c', ''],
      ]),
    );
  });
});
