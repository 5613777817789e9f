import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createLogger, type Logger, type ServiceLimits } from '@profcol/core';
import { createTestSettings, type TestSettings } from '@profcol/core/testing';
import { Profile } from 'pprof-format';
import type { Clock, ClockTimer } from '../src/clock.js';
import { pprofReceiverConfigSchema, type PprofReceiverConfig } from '../src/index.js';

const fixtures = new URL('../../../test/fixtures/', import.meta.url);

/** A go-pprof fixture exactly as Go served it (gzip). */
export function goFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`go-pprof/${name}.pprof`, fixtures)));
}

export const SECOND = 1_000_000_000n;

/**
 * A copy of a gzip'd Go profile whose listed value types are multiplied by `factor` and
 * whose TimeNanos is `timeNanos`: a cumulative profile "later" in the life of a process.
 */
export function evolve(gz: Uint8Array, options: { factor: number; types: string[]; timeNanos: bigint }): Uint8Array {
  const profile = Profile.decode(gunzipSync(gz));
  const strings = profile.stringTable.strings;
  const indexes = profile.sampleType.map((t, i) => (options.types.includes(strings[Number(t.type)]!) ? i : -1)).filter((i) => i >= 0);
  for (const sample of profile.sample) {
    sample.value = sample.value.map((v, i) => (indexes.includes(i) ? Math.round(Number(v) * options.factor) : Number(v)));
  }
  profile.timeNanos = options.timeNanos;
  return new Uint8Array(gzipSync(profile.encode()));
}

export function timeOf(gz: Uint8Array): bigint {
  return BigInt(Profile.decode(gunzipSync(gz)).timeNanos);
}

/** A real `heap?debug=1` answer's trailer, shortened to what the parser needs. */
export function memStatsText(numGC = 4): string {
  const ring = (values: (number | bigint)[]) => `[${[...values, ...new Array(256 - values.length).fill(0)].join(' ')}]`;
  return [
    'heap profile: 1: 4096 [2: 8192] @ heap/1048576',
    '',
    '# runtime.MemStats',
    '# Alloc = 8431416',
    '# TotalAlloc = 8611576',
    '# Sys = 17144072',
    '# Mallocs = 2858',
    '# Frees = 79',
    '# HeapAlloc = 8431416',
    '# HeapInuse = 8929280',
    '# Stack = 360448 / 360448',
    `# PauseNs = ${ring([433864, 192101, 233558, 167164])}`,
    `# PauseEnd = ${ring([1795559541874722360n, 1795559541875874663n, 1795559541876824455n, 1795559541880966178n])}`,
    `# NumGC = ${numGC}`,
    '# NumForcedGC = 2',
    '# GCCPUFraction = 0.07',
    '# DebugGC = false',
    '',
  ].join('\n');
}

export function parseConfig(input: Record<string, unknown>): PprofReceiverConfig {
  const result = pprofReceiverConfigSchema.parse(input);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.value;
}

export function settings(id = 'pprof', limits?: ServiceLimits, logger?: Logger): TestSettings {
  return createTestSettings({ id, kind: 'receiver', ...(limits ? { limits } : {}), ...(logger ? { logger } : {}) });
}

/** A JSON logger at `level` whose lines the test can read back, parsed. */
export function collectingLogger(level: 'debug' | 'info' | 'warn' = 'warn'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger({ level, format: 'json', destination }), lines };
}

/**
 * Resolves once `condition()` holds, checking after each turn of the event loop: for events
 * the test cannot await directly (an answer read by the receiver). No deadline of its own: a
 * condition that never comes fails at the test's timeout, not earlier on a slow machine.
 */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits until no round of `receiver` runs or waits to run (rounds started by a manual clock's timers). */
export async function roundsSettled(receiver: {
  targets: readonly { running: Promise<unknown> | undefined; late: Promise<unknown> | undefined }[];
}): Promise<void> {
  for (;;) {
    const pending = receiver.targets.flatMap((t) => [t.running, t.late]).filter((p) => p !== undefined);
    if (pending.length === 0) return;
    await Promise.allSettled(pending);
  }
}

/**
 * A clock that moves only when told: `advance(ms)` fires the timers that come due, in
 * order, each at its own time. Lets tests check schedules and deadlines exactly while the
 * HTTP traffic stays real.
 */
export class ManualClock implements Clock {
  private nowMs: number;
  private readonly timers = new Map<number, { atMs: number; callback: () => void }>();
  private nextId = 1;

  constructor(startMs = 1_000_000) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): ClockTimer {
    const id = this.nextId++;
    this.timers.set(id, { atMs: this.nowMs + Math.max(0, delayMs), callback });
    return { id } as unknown as ClockTimer;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    if (timer) this.timers.delete((timer as unknown as { id: number }).id);
  }

  /** When the earliest pending timer comes due, if any. */
  get nextDueMs(): number | undefined {
    let next: number | undefined;
    for (const { atMs } of this.timers.values()) if (next === undefined || atMs < next) next = atMs;
    return next;
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (;;) {
      let next: [number, { atMs: number; callback: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].atMs <= until && (!next || entry[1].atMs < next[1].atMs)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.nowMs = next[1].atMs;
      next[1].callback();
    }
    this.nowMs = until;
  }
}

export interface HangingTcpServer {
  url: string;
  /** The first line of every request received, in arrival order. */
  readonly requestLines: string[];
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** A TCP server that accepts connections, reads the requests, and never answers. */
export async function startHangingTcpServer(): Promise<HangingTcpServer> {
  const requestLines: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (chunk) => {
      if (head.includes('\r\n')) return;
      head += chunk.toString('latin1');
      if (head.includes('\r\n')) requestLines.push(head.slice(0, head.indexOf('\r\n')));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requestLines,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A promise and its resolve function (Promise.withResolvers, which Node 20 lacks). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
