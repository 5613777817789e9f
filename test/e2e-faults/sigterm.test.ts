import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { postUpload, startFaultProfcol, until, uploadBody, type Answer, type FaultProfcol } from './support.js';

/** Clients uploading at once, each on a keep-alive connection as dd-trace-go's http.Client keeps them. */
const CLIENTS = 16;
/** Answered 200 before the signal is sent. */
const ACCEPTED_BEFORE_SIGNAL = 150;

let profcol: FaultProfcol | undefined;
let dir: string | undefined;

afterEach(async () => {
  await profcol?.running.stop();
  profcol = undefined;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  key: string;
  answer: Answer;
  /** Sent after SIGTERM was. */
  afterSignal: boolean;
}

describe('SIGTERM under load (a real profcol, real uploads in flight)', () => {
  it('loses no upload it answered 200; uploads after the signal get 503 or connection refused, none a reset', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-faults-'));
    profcol = await startFaultProfcol(dir);
    const { port, running } = profcol;
    const runtimeId = `faults-${process.pid}-sigterm`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    const sent: Sent[] = [];
    let seq = 0;
    let signalled = false;
    let exited = false;
    const exit = new Promise<number | null>((resolve) => running.proc.once('exit', (code) => ((exited = true), resolve(code))));

    // Each client uploads in a loop until profcol is gone and its next upload is refused.
    const client = async () => {
      for (;;) {
        const afterSignal = signalled;
        const wasExited = exited;
        const key = `${runtimeId}/${++seq}`;
        const answer = await postUpload(port, uploadBody(runtimeId, seq), agent);
        sent.push({ key, answer, afterSignal });
        if (wasExited && answer.error) return;
        // Refused while profcol finishes its shutdown: try again shortly, as a client's retry would.
        if (answer.error) await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    await until(() => sent.filter((s) => s.answer.status === 200).length >= ACCEPTED_BEFORE_SIGNAL, 5);
    signalled = true;
    running.proc.kill('SIGTERM');
    const code = await exit;
    await Promise.all(clients);
    agent.destroy();

    const exported = profcol.exported();
    const answered200 = sent.filter((s) => s.answer.status === 200);
    const lost = answered200.filter((s) => !exported.has(s.key));
    const byOutcome = new Map<string, number>();
    for (const s of sent) {
      const outcome = `${s.afterSignal ? 'after' : 'before'} signal: ${s.answer.status ?? s.answer.error}`;
      byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
    }
    console.log(
      `SIGTERM under load: ${sent.length} uploads sent by ${CLIENTS} clients, ${JSON.stringify(Object.fromEntries(byOutcome))}; ` +
        `${answered200.length} answered 200, ${exported.size} in the file exporter's output, ${lost.length} answered 200 and lost; exit code ${code}`,
    );
    expect(code).toBe(0);
    expect(lost.map((s) => s.key)).toEqual([]);
    // Nothing but an acceptance, a 503 shutting_down, or (once the listener closed) a refused connection.
    const unexpected = sent.filter((s) => !(s.answer.status === 200 || s.answer.status === 503 || s.answer.error === 'ECONNREFUSED'));
    expect(unexpected).toEqual([]);
    // The shutdown met the load: requests on the open keep-alive connections got 503 shutting_down (not a reset).
    expect(sent.filter((s) => s.afterSignal && s.answer.status === 503).length).toBeGreaterThan(0);
  });
});
