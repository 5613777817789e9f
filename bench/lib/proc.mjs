// CPU time and memory of a running process, read from /proc (Linux only), so the process
// being measured needs no instrumentation of its own.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond;
function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds the process (all its threads) has used so far. */
export function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces and parentheses: utime and stime are
  // fields 14 and 15 of the whole line, so 12 and 13 after the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** VmRSS and VmHWM (peak RSS since start) in bytes, or undefined once the process is gone. */
export function memory(pid) {
  let status;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kib('VmRSS'), hwmBytes: kib('VmHWM') };
}

/** Whether a process with this pid exists (and is not a zombie). */
export function isAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Samples VmRSS every `everyMs` until stop(); stop() returns the highest sample, the VmHWM
 * at that moment (it catches peaks between samples) and the last sample.
 */
export function sampleMemory(pid, everyMs = 50) {
  let peakRssBytes = 0;
  let lastRssBytes = NaN;
  let hwmBytes = NaN;
  const take = () => {
    const m = memory(pid);
    if (!m) return;
    peakRssBytes = Math.max(peakRssBytes, m.rssBytes);
    lastRssBytes = m.rssBytes;
    hwmBytes = m.hwmBytes;
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakRssBytes, hwmBytes, lastRssBytes };
    },
  };
}

/** CPU seconds and cores used by `pid` between start() and stop(). */
export function measureCpu(pid) {
  const startedAt = performance.now();
  const before = cpuSeconds(pid);
  return {
    stop() {
      const seconds = cpuSeconds(pid) - before;
      return { cpuSeconds: seconds, cores: seconds / ((performance.now() - startedAt) / 1000) };
    },
  };
}
