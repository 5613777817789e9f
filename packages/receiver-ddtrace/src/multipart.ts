/**
 * A small streaming `multipart/form-data` parser (RFC 7578 / RFC 2046) written for one job:
 * reading dd-trace uploads and saying precisely what is wrong with a broken one.
 *
 * Bytes are fed with `write(chunk)` as they arrive; each part's body is kept as it was sent.
 * Problems are thrown as `MultipartError` naming the part (by index and name) and what was
 * expected, e.g. "the body ended inside part 3 ("cpu.pprof") after 1024 bytes, before its
 * closing boundary: the upload is truncated".
 */
import { ProfcolError } from '@profcol/core';

/** Why a multipart body was refused; `reason` is the counted refusal reason. */
export class MultipartError extends ProfcolError {
  constructor(
    readonly reason: 'bad_boundary' | 'bad_multipart' | 'truncated' | 'empty_body' | 'too_many_parts',
    message: string,
  ) {
    super('multipart', message);
  }
}

export interface Part {
  /** 1-based position in the body. */
  index: number;
  /** The `name` of its Content-Disposition. */
  name: string;
  /** The `filename` of its Content-Disposition, when it is a file part. */
  filename: string | undefined;
  contentType: string | undefined;
  /** The part's bytes exactly as sent. */
  data: Buffer;
}

export interface MultipartLimits {
  /** Most bytes of headers one part may have. */
  maxHeaderBytes: number;
  /** Most parts one body may have. */
  maxParts: number;
  /** Most bytes before the first boundary (a preamble; clients send none). */
  maxPreambleBytes: number;
}

export const DEFAULT_MULTIPART_LIMITS: MultipartLimits = { maxHeaderBytes: 16 * 1024, maxParts: 256, maxPreambleBytes: 1024 };

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

type State = 'preamble' | 'after_boundary' | 'headers' | 'body' | 'done';

/** The value of `boundary=` in a `multipart/form-data` Content-Type, or an error message. */
export function boundaryOf(contentType: string): { boundary: string } | { problem: string } {
  const params = parseParameters(contentType.slice(contentType.indexOf(';') + 1));
  const boundary = contentType.includes(';') ? params.get('boundary') : undefined;
  if (boundary === undefined) return { problem: 'Content-Type multipart/form-data has no boundary parameter' };
  // RFC 2046 §5.1.1: 1 to 70 characters from a restricted set, not ending in a space.
  if (boundary.length === 0 || boundary.length > 70 || !/^[0-9A-Za-z'()+_,\-./:=? ]*[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary)) {
    return {
      problem: `Content-Type boundary ${JSON.stringify(boundary.slice(0, 100))} is not a valid multipart boundary (1 to 70 characters of [0-9A-Za-z'()+_,-./:=? ], not ending in a space)`,
    };
  }
  return { boundary };
}

/** The media type of a Content-Type header, lowercased, without parameters. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/**
 * Parses `; key=value; key="quoted \" value"` parameters (RFC 7231 §3.1.1.1). Keys are
 * lowercased; a repeated key keeps its first value.
 */
export function parseParameters(text: string): Map<string, string> {
  const params = new Map<string, string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ';' || text[i] === ' ' || text[i] === '\t')) i++;
    const keyStart = i;
    while (i < n && text[i] !== '=' && text[i] !== ';') i++;
    const key = text.slice(keyStart, i).trim().toLowerCase();
    if (i >= n || text[i] === ';') {
      if (key && !params.has(key)) params.set(key, '');
      continue;
    }
    i++; // '='
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
      i++; // closing quote
      while (i < n && text[i] !== ';') i++;
    } else {
      const valueStart = i;
      while (i < n && text[i] !== ';') i++;
      value = text.slice(valueStart, i).trim();
    }
    if (key && !params.has(key)) params.set(key, value);
  }
  return params;
}

/** Shows up to `max` bytes as text a log line can carry (control bytes escaped). */
export function preview(bytes: Uint8Array, max = 60): string {
  const text = Buffer.from(bytes.subarray(0, max)).toString('latin1');
  const shown = JSON.stringify(text).slice(1, -1);
  return bytes.length > max ? `${shown}…` : shown;
}

interface PartInProgress {
  index: number;
  name: string;
  filename: string | undefined;
  contentType: string | undefined;
  chunks: Buffer[];
  size: number;
}

export class MultipartParser {
  /** `\r\n--boundary`: what ends a part's body. */
  private readonly delimiter: Buffer;
  /** `--boundary`: the first boundary line, which has no CRLF before it. */
  private readonly dashBoundary: Buffer;
  private readonly limits: MultipartLimits;
  private state: State = 'preamble';
  private pending: Buffer = Buffer.alloc(0);
  private current: PartInProgress | undefined;
  private partCount = 0;
  private received = 0;
  private lastFinished: string | undefined;
  readonly parts: Part[] = [];

  constructor(
    readonly boundary: string,
    limits: Partial<MultipartLimits> = {},
  ) {
    this.dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
    this.delimiter = Buffer.concat([CRLF, this.dashBoundary]);
    this.limits = { ...DEFAULT_MULTIPART_LIMITS, ...limits };
  }

  /** How many body bytes were fed. */
  get bytesReceived(): number {
    return this.received;
  }

  /** The part being read, for messages: `part 2 ("cpu.pprof")`. */
  get currentPartLabel(): string | undefined {
    return this.current ? label(this.current) : undefined;
  }

  /** Feeds the next bytes of the body; throws `MultipartError` as soon as they cannot be valid. */
  write(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.received += chunk.length;
    if (this.state === 'done') return; // the epilogue is ignored
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const buf = this.pending.length === 0 ? incoming : Buffer.concat([this.pending, incoming]);
    let pos = 0;
    for (;;) {
      const next = this.step(buf, pos);
      if (next === undefined) break;
      pos = next;
    }
    this.pending = pos >= buf.length ? Buffer.alloc(0) : buf.subarray(pos);
  }

  /** Ends the body; returns every part, or throws when the body is incomplete. */
  end(): Part[] {
    if (this.received === 0) throw new MultipartError('empty_body', 'the request body is empty: expected a multipart/form-data upload');
    switch (this.state) {
      case 'done':
        return this.parts;
      case 'preamble':
        throw this.boundaryNotFound(this.pending);
      case 'body': {
        const part = this.current!;
        const size = part.size + this.pending.length;
        throw new MultipartError('truncated', `the body ended inside ${label(part)} after ${size} bytes, before its closing boundary: the upload is truncated`);
      }
      case 'headers':
        if (this.pending.length === 0) {
          throw new MultipartError(
            'truncated',
            `the body ended after ${this.lastFinished ?? 'the first boundary'} without the closing boundary "--${this.boundary}--": the upload is truncated`,
          );
        }
        throw new MultipartError('truncated', `the body ended inside the headers of part ${this.partCount}: the upload is truncated`);
      case 'after_boundary':
        throw new MultipartError(
          'truncated',
          `the body ended right after a boundary line${this.lastFinished ? ` (after ${this.lastFinished})` : ''}, without the closing boundary "--${this.boundary}--": the upload is truncated`,
        );
    }
  }

  /** Runs one state transition on `buf` from `pos`; returns the new position, or undefined to wait for more bytes. */
  private step(buf: Buffer, pos: number): number | undefined {
    switch (this.state) {
      case 'preamble': {
        let from = pos;
        for (;;) {
          const at = buf.indexOf(this.dashBoundary, from);
          if (at === -1) {
            if (buf.length - pos > this.limits.maxPreambleBytes + this.dashBoundary.length) throw this.boundaryNotFound(buf.subarray(pos));
            return undefined;
          }
          // A boundary line starts the body or follows a CRLF.
          if (at === pos || (at >= 2 && buf[at - 2] === 0x0d && buf[at - 1] === 0x0a)) {
            // The preamble bound holds however the body was chunked (the check above sees only what is buffered).
            if (at - pos > this.limits.maxPreambleBytes + 1) throw this.boundaryNotFound(buf.subarray(pos));
            this.state = 'after_boundary';
            return at + this.dashBoundary.length;
          }
          from = at + 1;
        }
      }
      case 'after_boundary': {
        // Either `--` (the close delimiter) or optional transport padding and CRLF.
        if (buf.length - pos < 2) return undefined;
        if (buf[pos] === 0x2d && buf[pos + 1] === 0x2d) {
          this.state = 'done';
          return buf.length; // epilogue ignored
        }
        let i = pos;
        while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09) && i - pos < 64) i++;
        if (buf.length - i < 2) {
          if (i - pos >= 64) throw this.badBoundaryLine(buf, pos);
          return undefined;
        }
        if (buf[i] !== 0x0d || buf[i + 1] !== 0x0a) throw this.badBoundaryLine(buf, pos);
        this.state = 'headers';
        this.partCount++;
        if (this.partCount > this.limits.maxParts) throw new MultipartError('too_many_parts', `the upload has more than ${this.limits.maxParts} parts`);
        return i + 2;
      }
      case 'headers': {
        let end: number;
        let bodyStart: number;
        if (buf.length - pos >= 2 && buf[pos] === 0x0d && buf[pos + 1] === 0x0a) {
          end = pos; // no headers at all
          bodyStart = pos + 2;
        } else {
          end = buf.indexOf(HEADER_END, pos);
          if (end === -1) {
            if (buf.length - pos > this.limits.maxHeaderBytes) {
              throw new MultipartError(
                'bad_multipart',
                `the headers of part ${this.partCount} are longer than ${this.limits.maxHeaderBytes} bytes (no blank line ends them; they begin "${preview(buf.subarray(pos))}")`,
              );
            }
            return undefined;
          }
          bodyStart = end + 4;
        }
        if (end - pos > this.limits.maxHeaderBytes) {
          throw new MultipartError('bad_multipart', `the headers of part ${this.partCount} are longer than ${this.limits.maxHeaderBytes} bytes`);
        }
        this.current = this.parseHeaders(buf.subarray(pos, end).toString('latin1'));
        this.state = 'body';
        return bodyStart;
      }
      case 'body': {
        const part = this.current!;
        const at = buf.indexOf(this.delimiter, pos);
        if (at === -1) {
          // Keep the bytes that could be the start of a delimiter split across chunks.
          const safe = Math.max(pos, buf.length - (this.delimiter.length - 1));
          if (safe > pos) {
            part.chunks.push(buf.subarray(pos, safe));
            part.size += safe - pos;
          }
          return safe === pos ? undefined : safe;
        }
        if (at > pos) {
          part.chunks.push(buf.subarray(pos, at));
          part.size += at - pos;
        }
        this.finishPart(part);
        this.state = 'after_boundary';
        return at + this.delimiter.length;
      }
      case 'done':
        return undefined;
    }
  }

  private finishPart(part: PartInProgress): void {
    const data = part.chunks.length === 1 ? part.chunks[0]! : Buffer.concat(part.chunks, part.size);
    this.parts.push({ index: part.index, name: part.name, filename: part.filename, contentType: part.contentType, data });
    this.lastFinished = label(part);
    this.current = undefined;
  }

  private parseHeaders(block: string): PartInProgress {
    const index = this.partCount;
    const headers = new Map<string, string>();
    let lastKey: string | undefined;
    for (const line of block.split('\r\n')) {
      if (line === '') continue;
      if ((line[0] === ' ' || line[0] === '\t') && lastKey) {
        headers.set(lastKey, `${headers.get(lastKey)} ${line.trim()}`); // obsolete line folding
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0)
        throw new MultipartError(
          'bad_multipart',
          `part ${index} has a malformed header line "${preview(Buffer.from(line, 'latin1'))}" (expected "Name: value")`,
        );
      lastKey = line.slice(0, colon).trim().toLowerCase();
      if (!headers.has(lastKey)) headers.set(lastKey, line.slice(colon + 1).trim());
    }
    const disposition = headers.get('content-disposition');
    if (disposition === undefined)
      throw new MultipartError('bad_multipart', `part ${index} has no Content-Disposition header (every form-data part needs one with a name)`);
    if (mediaTypeOf(disposition) !== 'form-data') {
      throw new MultipartError('bad_multipart', `part ${index} has Content-Disposition "${preview(Buffer.from(disposition, 'latin1'))}"; expected form-data`);
    }
    const params = parseParameters(disposition.slice(disposition.indexOf(';') + 1));
    const name = params.get('name');
    if (!disposition.includes(';') || name === undefined || name === '') {
      throw new MultipartError('bad_multipart', `part ${index} has no name in its Content-Disposition "${preview(Buffer.from(disposition, 'latin1'))}"`);
    }
    // Names arrive as raw UTF-8 bytes, read here as latin1; turn them back into text.
    const utf8 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'latin1').toString('utf8'));
    return { index, name: utf8(name)!, filename: utf8(params.get('filename')), contentType: headers.get('content-type'), chunks: [], size: 0 };
  }

  private boundaryNotFound(start: Buffer): MultipartError {
    return new MultipartError(
      'bad_boundary',
      `the body does not contain the boundary "--${this.boundary}" declared in Content-Type${start.length ? `; it begins "${preview(start)}"` : ''}`,
    );
  }

  private badBoundaryLine(buf: Buffer, pos: number): MultipartError {
    const after = this.lastFinished ? `after ${this.lastFinished}` : 'at the start of the body';
    return new MultipartError('bad_multipart', `a boundary line ${after} is followed by "${preview(buf.subarray(pos, pos + 20))}"; expected CRLF or "--"`);
  }
}

function label(part: { index: number; name: string }): string {
  return `part ${part.index} (${JSON.stringify(part.name)})`;
}
