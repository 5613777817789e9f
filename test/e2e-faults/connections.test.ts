import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { counter, postUpload, startFaultProfcol, until, uploadBody, type Answer, type FaultProfcol } from './support.js';

const IDLE = 500;
const UPLOADING = 500;

let profcol: FaultProfcol | undefined;
let dir: string | undefined;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await profcol?.running.stop();
  profcol = undefined;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A connection that sends nothing: what a crowd of idle or stuck clients holds open. */
function idleConnection(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * One upload on a connection of its own, retried as the receiver asks (429/503 with Retry-After)
 * until it is answered 200; the answers it got on the way.
 */
async function uploadUntilAccepted(port: number, payload: Buffer): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (;;) {
    const answer = await postUpload(port, payload, false);
    answers.push(answer);
    if (answer.status === 200 || answer.error || answers.length >= 30) return answers;
    if (answer.status !== 429 && answer.status !== 503) return answers;
    await new Promise((resolve) => setTimeout(resolve, (answer.retryAfterSeconds ?? 1) * 1000));
  }
}

describe('1,000 concurrent connections to the ddtrace receiver (a real profcol, real sockets)', () => {
  it(`answers all ${UPLOADING} uploads while ${IDLE} idle connections stay open, stays up, and gives its file descriptors back`, async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-faults-'));
    // Retry-After 1s instead of 10s so refused uploads come back within the test.
    profcol = await startFaultProfcol(dir, { retry_after: '1s' });
    const { port } = profcol;
    const runtimeId = `faults-${process.pid}-connections`;
    // A first upload opens what stays open (the output files), so the baseline counts them.
    expect((await postUpload(port, uploadBody(runtimeId, 0), false)).status).toBe(200);
    await until(() => profcol!.exported().size === 1);
    const baselineFds = profcol.fdCount();

    sockets.push(...(await Promise.all(Array.from({ length: IDLE }, () => idleConnection(port)))));
    let peakFds = profcol.fdCount();
    const sampler = setInterval(() => (peakFds = Math.max(peakFds, profcol!.fdCount())), 20);
    const results = await Promise.all(Array.from({ length: UPLOADING }, (_, i) => uploadUntilAccepted(port, uploadBody(runtimeId, i + 1))));
    clearInterval(sampler);
    const idleStillOpen = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;

    const first = new Map<string, number>();
    for (const answers of results)
      first.set(String(answers[0]!.status ?? answers[0]!.error), (first.get(String(answers[0]!.status ?? answers[0]!.error)) ?? 0) + 1);
    const notAccepted = results.filter((answers) => answers.at(-1)!.status !== 200);
    console.log(
      `1,000 connections: ${UPLOADING} uploads, first answers ${JSON.stringify(Object.fromEntries(first))}, ` +
        `${results.reduce((n, a) => n + a.length - 1, 0)} retries, ${notAccepted.length} never accepted; ${idleStillOpen} of ${IDLE} idle connections still open; ` +
        `fds ${baselineFds} before, peak ${peakFds}`,
    );
    // Every upload was answered, and in the end accepted: no connection error, no upload left behind.
    expect(notAccepted.map((answers) => answers.at(-1))).toEqual([]);
    expect(results.flat().filter((answer) => answer.error)).toEqual([]);
    expect(results.flat().every((answer) => [200, 429, 503].includes(answer.status!))).toBe(true);
    // Each is in the file exporter's output, and profcol counted each once.
    const exported = profcol.exported();
    const missing = Array.from({ length: UPLOADING }, (_, i) => `${runtimeId}/${i + 1}`).filter((key) => !exported.has(key));
    expect(missing).toEqual([]);
    expect(await counter(profcol.metricsUrl, 'profcol_receiver_accepted_uploads_total')).toBe(UPLOADING + 1);
    expect(profcol.running.proc.exitCode).toBeNull();

    // The idle clients leave; profcol's descriptors go back to what it held before the crowd.
    for (const socket of sockets.splice(0)) socket.destroy();
    await until(() => profcol!.fdCount() <= baselineFds + 4);
    console.log(`1,000 connections: fds back to ${profcol.fdCount()} (baseline ${baselineFds})`);
    // Still serving.
    expect((await postUpload(port, uploadBody(runtimeId, UPLOADING + 1), false)).status).toBe(200);
  });
});
