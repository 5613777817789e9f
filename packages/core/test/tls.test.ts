import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkHttpUrl, ProfcolError, readTlsFiles, tlsPairProblem } from '../src/index.js';

describe('readTlsFiles', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'profcol-core-tls-'));
  writeFileSync(path.join(dir, 'ca.pem'), 'CA');
  writeFileSync(path.join(dir, 'cert.pem'), 'CERT');
  writeFileSync(path.join(dir, 'key.pem'), 'KEY');

  it('reads the files that are set, relative to the base folder (absolute paths as they are)', async () => {
    const files = await readTlsFiles(dir, { ca_file: 'ca.pem', cert_file: path.join(dir, 'cert.pem'), key_file: 'key.pem' }, 'receivers::x::tls');
    expect({ ca: files.ca?.toString(), cert: files.cert?.toString(), key: files.key?.toString() }).toEqual({ ca: 'CA', cert: 'CERT', key: 'KEY' });
    expect(await readTlsFiles(dir, {}, 'receivers::x::tls')).toEqual({});
    expect(Object.keys(await readTlsFiles(dir, { ca_file: 'ca.pem' }, 'receivers::x::tls'))).toEqual(['ca']);
  });

  it('names the option path, the resolved file and the errno of a file it cannot read', async () => {
    const error = await readTlsFiles(dir, { ca_file: 'missing.pem' }, 'receivers::pprof::tls').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProfcolError);
    expect((error as ProfcolError).kind).toBe('config');
    expect((error as Error).message).toBe(`receivers::pprof::tls::ca_file: ${path.join(dir, 'missing.pem')} cannot be read (ENOENT); expected a PEM file`);
    await expect(readTlsFiles(dir, { cert_file: '.', key_file: 'key.pem' }, 'exporters::otlp::tls')).rejects.toThrow(
      /^exporters::otlp::tls::cert_file: .* cannot be read \(EISDIR\); expected a PEM file$/,
    );
  });

  it('refuses half a client certificate before reading anything', async () => {
    await expect(readTlsFiles(dir, { cert_file: 'cert.pem' }, 'receivers::x::tls')).rejects.toThrow('receivers::x::tls: cert_file needs key_file');
  });
});

describe('tlsPairProblem', () => {
  it('accepts both or neither of cert_file and key_file', () => {
    expect(tlsPairProblem(undefined, undefined)).toBeUndefined();
    expect(tlsPairProblem('c.pem', 'k.pem')).toBeUndefined();
    expect(tlsPairProblem('c.pem', undefined)).toBe('cert_file needs key_file (a client certificate goes with its private key); set both or neither');
    expect(tlsPairProblem(undefined, 'k.pem')).toBe('key_file needs cert_file (a private key goes with its client certificate); set both or neither');
  });
});

describe('checkHttpUrl', () => {
  it('accepts http and https URLs, and says what is wrong with anything else', () => {
    expect(checkHttpUrl('http://localhost:6060')).toBeUndefined();
    expect(checkHttpUrl('https://vm:8428/opentelemetry?x=1')).toBeUndefined();
    expect(checkHttpUrl('localhost:6060')).toBe('"localhost:6060" must be an http:// or https:// URL');
    expect(checkHttpUrl('ftp://x')).toBe('"ftp://x" must be an http:// or https:// URL');
    expect(checkHttpUrl('nope')).toBe('"nope" is not a URL (expected e.g. http://localhost:8080)');
    expect(checkHttpUrl('nope', { example: 'http://localhost:4318' })).toBe('"nope" is not a URL (expected e.g. http://localhost:4318)');
  });

  it('refuses a query or fragment in a base URL when asked to', () => {
    expect(checkHttpUrl('http://a:1/x?debug=1', { noQuery: true })).toBe('"http://a:1/x?debug=1" must not have a query or fragment');
    expect(checkHttpUrl('http://a:1/#top', { noQuery: true })).toBe('"http://a:1/#top" must not have a query or fragment');
    expect(checkHttpUrl('http://a:1/base', { noQuery: true })).toBeUndefined();
  });
});
