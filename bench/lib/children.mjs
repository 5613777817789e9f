// Child processes of a bench: every one started here is killed when the bench exits, however
// it exits (normal end, error, SIGINT, SIGTERM), so no server or load generator outlives it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

const running = new Set();

function killAll() {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill(child.killSignalOnExit);
  }
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}
process.on('uncaughtException', (error) => {
  console.error(error);
  killAll();
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  console.error(error);
  killAll();
  process.exit(1);
});

/**
 * spawn(), tracked: the child is killed when this process exits, with SIGKILL, or with
 * `options.killSignal` (run.mjs sends SIGTERM to a bench, so the bench can kill its own children
 * in turn). `child.exited` resolves with { code, signal } when it ends.
 */
export function start(command, args, { killSignal = 'SIGKILL', ...options } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  child.killSignalOnExit = killSignal;
  running.add(child);
  child.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  child.once('error', () => running.delete(child));
  return child;
}

/** Sends `signal` and waits up to `timeoutMs` for the exit, then SIGKILLs. Resolves with { code, signal }. */
export async function stop(child, signal = 'SIGTERM', timeoutMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = await child.exited;
  clearTimeout(timer);
  return result;
}

/** Runs a command to its end and resolves with { code, signal, stdout, stderr } (tracked too). */
export async function run(command, args, options = {}) {
  const child = start(command, args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => (stdout += chunk));
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  const { code, signal } = await child.exited;
  return { code, signal, stdout, stderr };
}

/** Resolves with the first stdout line of `child` matching `pattern` (its match array). */
export function waitForLine(child, pattern, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const onErr = (chunk) => (stderr += chunk);
    const onData = (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const match = pattern.exec(line);
        if (match) {
          done();
          resolve(match);
          return;
        }
      }
    };
    const onExit = ({ code, signal }) => {
      done();
      reject(new Error(`${child.spawnfile} exited (${code ?? signal}) before printing ${pattern}; stderr: ${stderr.slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${child.spawnfile} printed nothing matching ${pattern} within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stderr?.off('data', onErr);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.stderr?.on('data', onErr);
    void child.exited.then(onExit);
  });
}

/** Resolves when `file` holds a line containing `text`; rejects after `timeoutMs` or when `child` exits. */
export async function waitForFileText(file, text, child, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const content = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (content.includes(text)) return;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${child.spawnfile} exited (${child.exitCode ?? child.signalCode}) before writing "${text}" to ${file}:\n${content.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`no "${text}" in ${file} within ${timeoutMs} ms:\n${content.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A loopback TCP port that was free a moment ago (bind port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
