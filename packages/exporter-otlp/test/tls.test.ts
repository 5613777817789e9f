import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OtlpExporterSchema } from '../src/index.js';
import { startOtlpStub, type OtlpStub } from '../src/testing.js';
import { FAST_RETRY, point, startExporter, until, type Harness } from './helpers.js';

let dir: string;
let pem: { caCert: Buffer; serverKey: Buffer; serverCert: Buffer };
let stub: OtlpStub | undefined;
let harness: Harness | undefined;

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'profcol-otlp-tls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=profcol test CA');
  await fs.writeFile(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=profcol');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2');
  const read = (name: string) => fs.readFile(path.join(dir, name));
  pem = { caCert: await read('ca.pem'), serverKey: await read('server.key'), serverCert: await read('server.pem') };
}, 60_000);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await harness?.exporter.shutdown();
  harness = undefined;
  await stub?.close();
  stub = undefined;
});

const base = { retry_on_failure: FAST_RETRY, drain_timeout: '200ms' };

describe('tls', () => {
  it('trusts the server through tls.ca_file (a path relative to the config file)', async () => {
    stub = await startOtlpStub({ tls: { key: pem.serverKey, cert: pem.serverCert } });
    harness = await startExporter({ ...base, endpoint: stub.url, tls: { ca_file: 'ca.pem' } }, { baseDir: dir });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitForAccepted(1);
  });

  it('refuses a server it cannot verify, and says why in the failure reason', async () => {
    stub = await startOtlpStub({ tls: { key: pem.serverKey, cert: pem.serverCert } });
    harness = await startExporter({ ...base, endpoint: stub.url }, { baseDir: dir });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await until(() => harness!.counter('profcol_exporter_send_failed_attempts_total') > 0);
    expect(stub.requests).toHaveLength(0);
    expect(harness.settings.registry.snapshot().find((s) => s.name === 'profcol_exporter_send_failed_attempts_total')?.labels['reason']).toMatch(
      /CERT|SIGNED|VERIFY/,
    );
  });

  it('skips verification with insecure_skip_verify', async () => {
    stub = await startOtlpStub({ tls: { key: pem.serverKey, cert: pem.serverCert } });
    harness = await startExporter({ ...base, endpoint: stub.url, tls: { insecure_skip_verify: true } }, { baseDir: dir });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitForAccepted(1);
  });

  it('presents a client certificate (cert_file + key_file) to a server that requires one', async () => {
    stub = await startOtlpStub({ tls: { key: pem.serverKey, cert: pem.serverCert, ca: pem.caCert, requestCert: true } });
    harness = await startExporter(
      { ...base, endpoint: stub.url, tls: { ca_file: 'ca.pem', cert_file: 'client.pem', key_file: 'client.key' } },
      { baseDir: dir },
    );
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await stub.waitForAccepted(1);
    await harness.exporter.shutdown();

    harness = await startExporter({ ...base, endpoint: stub.url, tls: { ca_file: 'ca.pem' } }, { baseDir: dir });
    await harness.exporter.consume({ bundles: [], metrics: [point()] });
    await until(() => harness!.counter('profcol_exporter_send_failed_attempts_total') > 0);
    expect(stub.accepted).toHaveLength(1);
  });

  it('fails to start, naming the file, when a TLS file cannot be read', async () => {
    await expect(startExporter({ endpoint: 'https://127.0.0.1:1', tls: { ca_file: 'missing.pem' } }, { baseDir: dir })).rejects.toThrow(
      /^exporters::otlp::tls::ca_file: .*missing\.pem cannot be read \(ENOENT\); expected a PEM file$/,
    );
  });

  it('refuses a cert_file without key_file in the configuration, at tls', () => {
    expect(OtlpExporterSchema.parse({ endpoint: 'https://127.0.0.1:1', tls: { cert_file: 'client.pem' } })).toEqual({
      ok: false,
      issues: [{ path: ['tls'], message: 'cert_file needs key_file (a client certificate goes with its private key); set both or neither' }],
    });
  });
});
