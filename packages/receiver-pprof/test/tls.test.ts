import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ProfcolError } from '@profcol/core';
import { CollectingConsumer } from '@profcol/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PprofReceiver, pprofReceiverConfigSchema } from '../src/index.js';
import { goFixture, parseConfig, settings } from './helpers.js';

// A self-signed certificate for 127.0.0.1 / localhost, valid for 100 years (made with openssl req -x509).
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const cert = readFileSync(fixtures + 'localhost-cert.pem');
const key = readFileSync(fixtures + 'localhost-key.pem');

let server: Server;
let url: string;
const clientCerts: boolean[] = [];

beforeAll(async () => {
  // Asks for a client certificate signed by the same CA (mTLS) but does not require one, and records whether it came.
  server = createServer({ cert, key, ca: cert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    clientCerts.push((req.socket as import('node:tls').TLSSocket).authorized);
    res.end(goFixture('goroutine'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function scrape(tls: Record<string, unknown>) {
  const receiver = new PprofReceiver(
    { ...settings(), baseDir: fixtures },
    parseConfig({ targets: [{ url }], enabled_types: ['goroutine'], memstats: false, tls }),
    new CollectingConsumer(),
    { autoStart: false },
  );
  try {
    return (await receiver.scrapeOnce())[0]!;
  } finally {
    await receiver.shutdown();
  }
}

describe('pprof receiver: TLS', () => {
  it('verifies an https target against ca_file (relative to the configuration file)', async () => {
    expect((await scrape({ ca_file: 'localhost-cert.pem' })).outcome).toBe('success');
  });

  it('refuses a certificate it cannot verify (reason connect), unless insecure_skip_verify', async () => {
    const refused = await scrape({});
    expect(refused.outcome).toBe('failed');
    expect(refused.failures[0]).toMatchObject({ type: 'goroutine', reason: 'connect' });
    expect(refused.failures[0]!.message).toMatch(/self.signed|certificate/i);
    expect((await scrape({ insecure_skip_verify: true })).outcome).toBe('success');
  });

  it('presents a client certificate (mTLS) from cert_file and key_file', async () => {
    clientCerts.length = 0;
    await scrape({ ca_file: 'localhost-cert.pem', cert_file: 'localhost-cert.pem', key_file: 'localhost-key.pem' });
    await scrape({ ca_file: 'localhost-cert.pem' });
    expect(clientCerts).toEqual([true, false]);
  });

  it('a TLS file that cannot be read fails start() with a configuration error naming the key and path', async () => {
    const receiver = new PprofReceiver(
      { ...settings(), baseDir: fixtures },
      parseConfig({ targets: [{ url }], tls: { ca_file: 'missing.pem' } }),
      new CollectingConsumer(),
      { autoStart: false },
    );
    const error = await receiver.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProfcolError);
    expect((error as ProfcolError).kind).toBe('config');
    expect((error as Error).message).toMatch(/^receivers::pprof::tls::ca_file: .*missing\.pem cannot be read \(ENOENT\); expected a PEM file$/);
  });

  it('a cert_file without key_file (or the reverse) is a configuration error at tls', () => {
    expect(pprofReceiverConfigSchema.parse({ targets: [{ url }], tls: { cert_file: 'x.pem' } })).toEqual({
      ok: false,
      issues: [{ path: ['tls'], message: 'cert_file needs key_file (a client certificate goes with its private key); set both or neither' }],
    });
    expect(pprofReceiverConfigSchema.parse({ targets: [{ url }], tls: { key_file: 'x.pem' } })).toMatchObject({
      ok: false,
      issues: [{ path: ['tls'], message: expect.stringMatching(/^key_file needs cert_file/) }],
    });
  });
});
