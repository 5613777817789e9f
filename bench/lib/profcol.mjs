// `profcol run` as a user starts it, in a child process of the bench: the real CLI
// (packages/cli/dist/bin.js, so build first), a YAML file in a temporary folder, JSON logs
// written to a file there (a file, not a pipe, so reading logs costs the bench nothing while
// it measures).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, start, stop, waitForFileText } from './children.mjs';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const profcolBin = path.join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');

/**
 * Writes `yaml(dir)` to `<tmp>/profcol.yaml` and starts `profcol run` on it; resolves once it
 * logs "profcol is running". Returns { pid, child, dir, logFile, logLines(), stop() }; stop()
 * sends SIGTERM, waits for the exit and removes the folder (unless `keep`).
 */
export async function startProfcol(yaml, { logLevel = 'info', env = {} } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-bench-'));
  const config = path.join(dir, 'profcol.yaml');
  fs.writeFileSync(config, yaml(dir));
  const logFile = path.join(dir, 'profcol.log');
  const log = fs.openSync(logFile, 'w');
  // $PROFCOL_BENCH_NODE_ARGS: extra node flags for profcol only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
  // to see where its time goes under load (node refuses --cpu-prof in NODE_OPTIONS).
  const nodeArgs = process.env.PROFCOL_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = start(process.execPath, [...nodeArgs, profcolBin, 'run', '--config', config, '--log-format', 'json', '--log-level', logLevel], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  try {
    await waitForFileText(logFile, 'profcol is running', child, 30_000);
  } catch (error) {
    await stop(child);
    throw error;
  }
  return {
    pid: child.pid,
    child,
    dir,
    logFile,
    /** The JSON log lines so far, parsed. */
    logLines() {
      return fs
        .readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line));
    },
    async stop({ keep = false } = {}) {
      const result = await stop(child, 'SIGTERM', 30_000);
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
      return result;
    },
  };
}

/**
 * `profcol run` on the push pipeline the benches measure: the `ddtrace` receiver on a free
 * loopback port (its options indented under it in `receiverExtra`), `pprof_decode` + `goruntime`,
 * the `file` exporter writing metrics only, own metrics on another free port. Resolves to the
 * running profcol plus `url` (the upload endpoint) and `metricsAddress`.
 */
export async function startPushPipeline({ receiverExtra = '', ...options } = {}) {
  const port = await freePort();
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  const profcol = await startProfcol(
    (dir) => `receivers:
  ddtrace:
    endpoint: 127.0.0.1:${port}
${receiverExtra}processors:
  pprof_decode: {}
  goruntime: {}
exporters:
  file:
    directory: ${dir}/data
    write_profiles: false
    write_bundles: false
service:
  telemetry:
    metrics:
      address: ${metricsAddress}
  pipelines:
    go: { receivers: [ddtrace], processors: [pprof_decode, goruntime], exporters: [file] }
`,
    options,
  );
  return Object.assign(profcol, { port, url: `http://127.0.0.1:${port}/profiling/v1/input`, metricsAddress });
}

/** Reads profcol's own metrics (Prometheus text) and returns [{ name, labels, value }]. */
export async function scrapeOwnMetrics(address) {
  const response = await fetch(`http://${address}/metrics`);
  const text = await response.text();
  const series = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    series.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return series;
}
