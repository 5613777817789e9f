/**
 * TLS and URL options shared by components: reading the PEM files a `tls` section names, and
 * the schema checks of a client certificate pair and of an http(s) URL.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ProfcolError } from './errors.js';

/** The file options of a `tls` section, as a component's schema names them. */
export interface TlsFileOptions {
  ca_file?: string | undefined;
  cert_file?: string | undefined;
  key_file?: string | undefined;
}

/** The contents of the files that were set. */
export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Reads the PEM files of a `tls` section, each relative to `baseDir` (`CreateSettings.baseDir`).
 * `where` is the section's configuration path (`receivers::pprof::tls`); a file that cannot be
 * read fails with a `config` ProfcolError naming the option, the resolved path and the errno:
 * `receivers::pprof::tls::ca_file: /x/ca.pem cannot be read (ENOENT); expected a PEM file`.
 */
export async function readTlsFiles(baseDir: string, options: TlsFileOptions, where: string): Promise<TlsFiles> {
  const pair = tlsPairProblem(options.cert_file, options.key_file);
  if (pair) throw new ProfcolError('config', `${where}: ${pair}`);
  const read = async (key: keyof TlsFileOptions): Promise<Buffer | undefined> => {
    const file = options[key];
    if (file === undefined) return undefined;
    const full = path.resolve(baseDir, file);
    try {
      return await readFile(full);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ProfcolError('config', `${where}::${key}: ${full} cannot be read (${reason}); expected a PEM file`, { cause: error });
    }
  };
  const [ca, cert, key] = await Promise.all([read('ca_file'), read('cert_file'), read('key_file')]);
  const files: TlsFiles = {};
  if (ca) files.ca = ca;
  if (cert) files.cert = cert;
  if (key) files.key = key;
  return files;
}

/**
 * Schema check of a client certificate: `cert_file` and `key_file` are set together or not at
 * all. Use it as the `check` of the `tls` object: `check: (t) => tlsPairProblem(t.cert_file, t.key_file)`.
 */
export function tlsPairProblem(certFile: string | undefined, keyFile: string | undefined): string | undefined {
  const hasCert = certFile !== undefined;
  const hasKey = keyFile !== undefined;
  if (hasCert === hasKey) return undefined;
  return hasCert
    ? 'cert_file needs key_file (a client certificate goes with its private key); set both or neither'
    : 'key_file needs cert_file (a private key goes with its client certificate); set both or neither';
}

export interface HttpUrlCheckOptions {
  /** Shown when the value is not a URL at all (default `http://localhost:8080`). */
  example?: string;
  /** Refuse a `?query` or `#fragment` (for base URLs that paths are appended to). */
  noQuery?: boolean;
}

/** Schema check of an `http://` or `https://` URL; returns what is wrong, or undefined. */
export function checkHttpUrl(value: string, options: HttpUrlCheckOptions = {}): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${JSON.stringify(value)} is not a URL (expected e.g. ${options.example ?? 'http://localhost:8080'})`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${JSON.stringify(value)} must be an http:// or https:// URL`;
  if (options.noQuery && (url.search || url.hash)) return `${JSON.stringify(value)} must not have a query or fragment`;
  return undefined;
}
