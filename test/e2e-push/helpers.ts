/** A standalone ddtrace receiver for push-mode end-to-end tests, and checks on what it received. */
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger, type ProfileBundle, type Telemetry } from '@profcol/core';
import { CollectingConsumer, createTestSettings } from '@profcol/core/testing';
import { decodePprof, decompressAndSummarize, decompress, sniffEncoding } from '@profcol/pprof';
import { ddtraceConfigSchema, ddtraceReceiverFactory, type DdtraceReceiver } from '@profcol/receiver-ddtrace';
import { expect, vi } from 'vitest';

/** The `/work/main/test` folder (dd-trace is installed there). */
export const TEST_DIR = fileURLToPath(new URL('../', import.meta.url));

/** What the receiver logged about one accepted upload. */
export interface AcceptedLine {
  service?: string;
  profile_seq?: string;
  format: string;
  profiles: string[];
  attachments: string[];
  encodings: Record<string, string>;
  metrics: number;
}

export interface PushReceiver {
  receiver: DdtraceReceiver;
  consumer: CollectingConsumer;
  registry: Telemetry;
  port: number;
  url: string;
  /** The receiver's "accepted ddtrace upload" log lines, parsed. */
  accepted: AcceptedLine[];
  /** Every log line at warn or above. */
  problems: string[];
  /** Waits until `count` uploads were accepted (answered 200 after the pipeline took them). */
  waitForAccepted(count: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPushReceiver(config: Record<string, unknown> = {}): Promise<PushReceiver> {
  const accepted: AcceptedLine[] = [];
  const problems: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        const entry = JSON.parse(line) as { level: number; msg: string } & AcceptedLine;
        if (entry.msg.startsWith('accepted ddtrace upload')) accepted.push(entry);
        if (entry.level >= 40) problems.push(line);
      }
      done();
    },
  });
  const settings = createTestSettings({ id: 'ddtrace', kind: 'receiver', logger: createLogger({ level: 'info', format: 'json', destination: sink }) });
  const parsed = ddtraceConfigSchema.parse({ endpoint: '127.0.0.1:0', ...config });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const consumer = new CollectingConsumer();
  const receiver = ddtraceReceiverFactory.create(settings, parsed.value, consumer) as DdtraceReceiver;
  await receiver.start(settings.host);
  return {
    receiver,
    consumer,
    registry: settings.registry,
    port: receiver.address!.port,
    url: receiver.url!,
    accepted,
    problems,
    waitForAccepted: (count, timeoutMs) =>
      vi.waitFor(() => expect(settings.registry.value('profcol_receiver_accepted_uploads_total')).toBeGreaterThanOrEqual(count), {
        timeout: timeoutMs,
        interval: 100,
      }),
    stop: async () => {
      await receiver.shutdown();
    },
  };
}

/**
 * Checks that every profile and attachment of a bundle decodes on its own (not trusting what
 * the receiver attached): each profile through @profcol/pprof's decompressAndSummarize and a full
 * pprof-format decode; `events.pprof` as pprof too; `go.trace` by its magic.
 */
export function expectEverythingDecodes(bundle: ProfileBundle): void {
  for (const profile of bundle.profiles) {
    const summary = decompressAndSummarize(profile.data);
    expect(summary.sampleTypes.length, profile.name).toBeGreaterThan(0);
    expect(summary.sampleTypes).toEqual(profile.decoded!.sampleTypes);
    expect(summary.totals).toEqual(profile.decoded!.totals);
    const full = decodePprof(decompress(profile.data));
    expect(full.sample.length, profile.name).toBe(summary.sampleCount);
  }
  for (const attachment of bundle.attachments ?? []) {
    const plain = decompress(attachment.data);
    if (attachment.name.endsWith('.pprof')) expect(decodePprof(plain).sampleType.length, attachment.name).toBeGreaterThan(0);
    else if (attachment.name === 'go.trace') expect(Buffer.from(plain.subarray(0, 16)).toString('latin1'), attachment.name).toMatch(/^go 1\.\d+ trace/);
  }
}

/** The sum of one sample type over one profile of a bundle. */
export function total(bundle: ProfileBundle, type: string, sampleType: string): number | undefined {
  const profile = bundle.profiles.find((p) => p.type === type);
  if (!profile?.decoded) return undefined;
  return profile.decoded.totals[profile.decoded.sampleTypes.findIndex((t) => t.type === sampleType)];
}

export { sniffEncoding };

export interface Child {
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `node -r dd-trace/init e2e-push/js-app.cjs` from test/ with `env`, once it printed its
 * ready line; `node` is the binary (default: the one running the tests).
 */
export async function startJsApp(env: Record<string, string>, node: string = process.execPath): Promise<Child> {
  const child = spawn(node, ['-r', 'dd-trace/init', 'e2e-push/js-app.cjs'], {
    cwd: TEST_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  await vi.waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`js-app exited with ${child.exitCode}:\n${output}`);
      expect(output).toContain('"ready":true');
    },
    { timeout: 20_000, interval: 50 },
  );
  return {
    process: child,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
