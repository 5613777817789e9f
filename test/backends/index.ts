/**
 * Real OTLP backends for profcol's end-to-end tests.
 *
 *  - `startOtelCollector()`   OpenTelemetry Collector (otlpreceiver -> fileexporter + debugexporter)
 *  - `startVictoriaMetrics()` VictoriaMetrics single-node (OTLP/HTTP protobuf in, PromQL / export out)
 *  - `ensureBackend(name)`    build (once, cached) and return the binary path
 *
 * Binaries come from `test/backends/build.sh` (Go modules via the module proxy,
 * cached under ~/.cache/profcol/backends). A cold build takes minutes: give the
 * test hook that starts a backend a long timeout (see README.md).
 *
 * Node APIs only; no dependencies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type BackendName = 'otelcol' | 'victoriametrics';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUILD_SH = join(HERE, 'build.sh');

/** Default time allowed for build.sh (a cold build of both backends on 2 cores takes a few minutes). */
export const DEFAULT_BUILD_TIMEOUT_MS = 30 * 60_000;
/** Default time allowed for a started backend to become ready. */
export const DEFAULT_START_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------
// build
// ---------------------------------------------------------------------------

export interface EnsureBackendOptions {
  /** Kill build.sh after this long. Default 30 min. */
  timeoutMs?: number;
  /** Forward build.sh's stderr (progress / compiler output) to process.stderr. Default: true unless PROFCOL_BACKENDS_QUIET=1. */
  verbose?: boolean;
}

const builds = new Map<BackendName, Promise<string>>();

/**
 * Build `name` if it is not cached yet and resolve to the absolute path of its
 * binary (the last stdout line of build.sh). Memoised per process.
 */
export function ensureBackend(name: BackendName, opts: EnsureBackendOptions = {}): Promise<string> {
  let p = builds.get(name);
  if (!p) {
    p = runBuild(name, opts);
    builds.set(name, p);
    p.catch(() => builds.delete(name));
  }
  return p;
}

function runBuild(name: BackendName, opts: EnsureBackendOptions): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
  const verbose = opts.verbose ?? process.env['PROFCOL_BACKENDS_QUIET'] !== '1';
  return new Promise<string>((resolve, reject) => {
    // detached: own process group, so a timeout can kill go/compile children too.
    const child = spawn('bash', [BUILD_SH, name], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: process.env,
    });
    let stdout = '';
    let stderrTail = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderrTail = (stderrTail + d).slice(-8000);
      if (verbose) process.stderr.write(d);
    });
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      reject(new Error(`build.sh ${name} timed out after ${timeoutMs} ms\n${stderrTail}`));
    }, timeoutMs);
    timer.unref();
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`build.sh ${name} failed (code ${code}, signal ${signal})\n${stderrTail}`));
        return;
      }
      const lines = stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.length > 0);
      const bin = lines[lines.length - 1];
      if (!bin || !isAbsolute(bin) || !existsSync(bin)) {
        reject(new Error(`build.sh ${name} printed no usable binary path (last line: ${JSON.stringify(bin)})\n${stderrTail}`));
        return;
      }
      resolve(bin);
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

// ---------------------------------------------------------------------------
// process helpers
// ---------------------------------------------------------------------------

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      const { port } = addr;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort: never leave a backend behind when the test process exits.
    process.once('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* ignore */
        }
      }
    });
  }
}

export interface Proc {
  child: ChildProcess;
  /** stdout+stderr of the process (last ~1 MiB). */
  logs(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  watchdog: ChildProcess | undefined;
}

/** `cleanupDir`: removed by the watchdog if this process dies without stop(). */
export function startProc(bin: string, args: string[], cwd: string, cleanupDir?: string): Proc {
  // detached: the backend gets its own process group, which the watchdog below
  // (and stopProc's SIGKILL) can kill as a whole.
  const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env, detached: true });
  track(child);
  let out = '';
  let done = false;
  const append = (d: string): void => {
    out += d;
    if (out.length > 1 << 20) out = out.slice(-(1 << 20));
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      done = true;
      append(`\n[spawn error] ${String(err)}\n`);
      resolve({ code: null, signal: null });
    });
  });
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid, cleanupDir);
  return { child, logs: () => out, exited, hasExited: () => done, watchdog };
}

/**
 * A `sh` that holds the read end of a pipe from this process. If this process
 * dies in any way (vitest killing a worker, SIGKILL, a crash) the pipe closes,
 * `read` sees EOF and the backend's process group is killed, so a test that
 * forgot stop() — or never got to run it — leaves nothing behind.
 */
function startWatchdog(pgid: number, cleanupDir: string | undefined): ChildProcess | undefined {
  const script =
    'while read -r _; do :; done; kill -s TERM -- "-$1" 2>/dev/null; sleep 3; kill -s KILL -- "-$1" 2>/dev/null; ' +
    'if [ -n "$2" ]; then sleep 1; rm -rf -- "$2"; fi';
  try {
    const wd = spawn('sh', ['-c', script, 'profcol-backend-watchdog', String(pgid), cleanupDir ?? ''], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    wd.on('error', () => {});
    wd.unref();
    (wd.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return wd;
  } catch {
    return undefined;
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL (whole process group) and wait for the exit for sure. */
export async function stopProc(p: Proc, graceMs = 5000): Promise<void> {
  try {
    if (p.hasExited()) return;
    p.child.kill('SIGTERM');
    const t = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([p.exited, t])) === 'timeout') {
      killGroup(p.child, 'SIGKILL');
      await p.exited;
    }
  } finally {
    // The backend is gone: retire its watchdog before its pgid could be reused.
    p.watchdog?.kill('SIGKILL');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until `readyUrl(logs)` yields a URL — i.e. *this* process has logged that
 * it is serving (so a health answer can't come from some other process that
 * holds the port) — and that URL answers `ok(status, body)`. Throws with the
 * process logs if the process dies or the timeout passes.
 */
export async function waitReady(
  p: Proc,
  what: string,
  readyUrl: (logs: string) => string | undefined,
  timeoutMs: number,
  ok: (status: number, body: string) => boolean,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no readiness line in its log yet';
  let url: string | undefined;
  while (Date.now() < deadline) {
    if (p.hasExited()) {
      const { code, signal } = await p.exited;
      throw new ExitedEarly(`${what} exited before it was ready (code ${code}, signal ${signal})\n${p.logs().slice(-6000)}`);
    }
    url ??= readyUrl(p.logs());
    if (url === undefined) {
      await sleep(50);
      continue;
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (ok(res.status, body)) return url;
      last = `${url}: HTTP ${res.status}: ${body.slice(0, 200)}`;
    } catch (err) {
      last = `${url}: ${String(err)}`;
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms (${last})\n${p.logs().slice(-6000)}`);
}

class ExitedEarly extends Error {}

/** Start with fresh free ports; retry (a port can be taken between probe and bind). */
export async function withPortRetries<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  let lastErr: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn();
    } catch (err) {
      lastErr = err;
      if (!(err instanceof ExitedEarly) || !/address already in use|bind/i.test(err.message)) throw err;
    }
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------
// OpenTelemetry Collector
// ---------------------------------------------------------------------------

export interface OtelCollectorOptions {
  /** OTLP/HTTP receiver port. Default: a free port. */
  port?: number;
  /** health_check extension port. Default: a free port. */
  healthPort?: number;
  /**
   * Where readMetrics() reads from:
   *  - 'file' (default): the contrib fileexporter's OTLP-JSON lines (`outputFile`)
   *  - 'debug': debugexporter (verbosity detailed) text output, parsed into OTLP-JSON-like objects
   * Both exporters are always configured; this only selects the source.
   */
  exporter?: 'file' | 'debug';
  /** Readiness timeout (health_check extension answers 200). Default 60 s. */
  startTimeoutMs?: number;
  /** Keep the temp work dir (config, output files) after stop(). Default false, or PROFCOL_KEEP_BACKEND_DATA=1. */
  keepWorkDir?: boolean;
  build?: EnsureBackendOptions;
}

export interface OtelCollector {
  /** e.g. http://127.0.0.1:43111 — POST OTLP to `${otlpHttpEndpoint}/v1/metrics`. */
  otlpHttpEndpoint: string;
  /** Full metrics URL: `${otlpHttpEndpoint}/v1/metrics`. */
  otlpMetricsUrl: string;
  port: number;
  /** fileexporter output (one OTLP-JSON ExportMetricsServiceRequest per line). */
  outputFile: string;
  /** debugexporter (verbosity detailed) output. */
  debugFile: string;
  workDir: string;
  binary: string;
  /**
   * All metrics received so far: parsed JSON lines of the file exporter (OTLP JSON,
   * `{ resourceMetrics: [...] }` per line), or, with `exporter: 'debug'`, the debug
   * output parsed into the same shape (number data points only, values as asDouble/asInt).
   */
  readMetrics(): Promise<any[]>;
  /** readMetrics() flattened into one row per data point (see flattenOtlpMetrics). */
  readPoints(): Promise<FlatPoint[]>;
  /** Poll readPoints() until `pred` holds (default: at least one point). */
  waitForPoints(pred?: (points: FlatPoint[]) => boolean, timeoutMs?: number): Promise<FlatPoint[]>;
  /** Collector stdout+stderr so far. */
  logs(): string;
  stop(): Promise<void>;
}

export async function startOtelCollector(opts: OtelCollectorOptions = {}): Promise<OtelCollector> {
  const binary = await ensureBackend('otelcol', opts.build);
  const workDir = await mkdtemp(join(tmpdir(), 'profcol-otelcol-'));
  const outputFile = join(workDir, 'metrics.jsonl');
  const debugFile = join(workDir, 'debug.txt');
  const configFile = join(workDir, 'config.yaml');
  const keep = opts.keepWorkDir ?? process.env['PROFCOL_KEEP_BACKEND_DATA'] === '1';
  const mode = opts.exporter ?? 'file';

  try {
    const started = await withPortRetries(opts.port === undefined ? 3 : 1, async () => {
      const port = opts.port ?? (await freePort());
      const healthPort = opts.healthPort ?? (await freePort());
      await writeFile(configFile, collectorConfig({ port, healthPort, outputFile, debugFile }));
      const proc = startProc(binary, ['--config', configFile], workDir, keep ? undefined : workDir);
      try {
        await waitReady(
          proc,
          'otelcol',
          // Logged after every component, including the OTLP receiver, has started.
          (logs) => (logs.includes('Everything is ready') ? `http://127.0.0.1:${healthPort}/` : undefined),
          opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
          (status) => status === 200,
        );
      } catch (err) {
        await stopProc(proc, 1000);
        throw err;
      }
      return { proc, port };
    });
    const { proc, port } = started;
    const otlpHttpEndpoint = `http://127.0.0.1:${port}`;

    const readMetrics = async (): Promise<any[]> => {
      if (mode === 'debug') return parseDebugOutput(await readIfExists(debugFile));
      return parseJsonLines(await readIfExists(outputFile));
    };
    const readPoints = async (): Promise<FlatPoint[]> => flattenOtlpMetrics(await readMetrics());

    return {
      otlpHttpEndpoint,
      otlpMetricsUrl: `${otlpHttpEndpoint}/v1/metrics`,
      port,
      outputFile,
      debugFile,
      workDir,
      binary,
      readMetrics,
      readPoints,
      waitForPoints: (pred = (p) => p.length > 0, timeoutMs = 10_000) => pollUntil(readPoints, pred, timeoutMs, 'collector output'),
      logs: proc.logs,
      async stop() {
        await stopProc(proc);
        if (!keep) await rm(workDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (!keep) await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

function collectorConfig(o: { port: number; healthPort: number; outputFile: string; debugFile: string }): string {
  // JSON is valid YAML: avoids any quoting issues with paths.
  const cfg = {
    receivers: {
      otlp: { protocols: { http: { endpoint: `127.0.0.1:${o.port}` } } },
    },
    exporters: {
      // One OTLP-JSON line per export; flushed quickly so tests can read it.
      file: { path: o.outputFile, format: 'json', flush_interval: '100ms' },
      debug: { verbosity: 'detailed', use_internal_logger: false, output_paths: [o.debugFile] },
    },
    extensions: {
      health_check: { endpoint: `127.0.0.1:${o.healthPort}` },
    },
    service: {
      extensions: ['health_check'],
      pipelines: {
        metrics: { receivers: ['otlp'], exporters: ['file', 'debug'] },
      },
      telemetry: {
        // No self-metrics server on :8888 (parallel collectors would collide).
        metrics: { level: 'none' },
        logs: { level: 'info' },
      },
    },
  };
  return JSON.stringify(cfg, null, 2) + '\n';
}

export async function readIfExists(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

function parseJsonLines(text: string): any[] {
  const out: any[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      out.push(JSON.parse(line));
    } catch (err) {
      // A final line can be half-flushed; anything else is a real error.
      if (i === lines.length - 1) break;
      throw new Error(`bad JSON line ${i + 1}: ${String(err)}: ${line.slice(0, 200)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// OTLP JSON helpers
// ---------------------------------------------------------------------------

/** One data point of an OTLP metrics payload, with its context flattened in. */
export interface FlatPoint {
  name: string;
  unit: string;
  description: string;
  /** 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary' */
  type: string;
  /** Sum only. */
  isMonotonic?: boolean;
  /** Sum/histogram: 1 = delta, 2 = cumulative (as in OTLP JSON; may be a string name in debug mode). */
  aggregationTemporality?: number | string;
  /** Number value (gauge/sum); histogram/summary points give their `sum`. */
  value: number | undefined;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  scope: { name: string; version: string };
  timeUnixNano: string | undefined;
  startTimeUnixNano: string | undefined;
  /** The raw OTLP-JSON data point. */
  raw: any;
}

/** OTLP JSON AnyValue -> plain JS value. */
export function anyValue(v: any): unknown {
  if (v === null || typeof v !== 'object') return v;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('bytesValue' in v) return v.bytesValue;
  if ('arrayValue' in v) return ((v.arrayValue?.values ?? []) as any[]).map(anyValue);
  if ('kvlistValue' in v) return attrs(v.kvlistValue?.values);
  return undefined;
}

/** OTLP JSON KeyValue[] -> Record. */
export function attrs(kvs: any[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

/**
 * Flatten OTLP-JSON metrics payloads (`{ resourceMetrics: [...] }`, one per
 * export) into one row per data point.
 */
export function flattenOtlpMetrics(payloads: any[]): FlatPoint[] {
  const out: FlatPoint[] = [];
  for (const payload of payloads) {
    for (const rm of payload?.resourceMetrics ?? []) {
      const resource = attrs(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics ?? []) {
        const scope = { name: sm.scope?.name ?? '', version: sm.scope?.version ?? '' };
        for (const m of sm.metrics ?? []) {
          const type = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'].find((t) => m[t] !== undefined) ?? 'unknown';
          const data = m[type] ?? {};
          for (const dp of data.dataPoints ?? []) {
            const value =
              dp.asDouble !== undefined ? Number(dp.asDouble) : dp.asInt !== undefined ? Number(dp.asInt) : dp.sum !== undefined ? Number(dp.sum) : undefined;
            const row: FlatPoint = {
              name: m.name,
              unit: m.unit ?? '',
              description: m.description ?? '',
              type,
              value,
              attributes: attrs(dp.attributes),
              resource,
              scope,
              timeUnixNano: dp.timeUnixNano,
              startTimeUnixNano: dp.startTimeUnixNano,
              raw: dp,
            };
            if (data.isMonotonic !== undefined) row.isMonotonic = data.isMonotonic;
            if (data.aggregationTemporality !== undefined) row.aggregationTemporality = data.aggregationTemporality;
            out.push(row);
          }
        }
      }
    }
  }
  return out;
}

/**
 * Parse debugexporter `verbosity: detailed` text into OTLP-JSON-shaped objects
 * (one `{ resourceMetrics: [...] }` per "ResourceMetrics #0" block group).
 * Handles gauge and sum number data points; histograms are kept with their
 * descriptor but without points.
 */
export function parseDebugOutput(text: string): any[] {
  const payloads: any[] = [];
  let payload: any;
  let rm: any;
  let sm: any;
  let metric: any;
  let dp: any;
  let section: 'resource' | 'scope' | 'descriptor' | 'dp' | 'other' = 'other';
  const num = /^(NumberDataPoints) #\d+/;

  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\s+$/, '');
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^ResourceMetrics #(\d+)/))) {
      if (m[1] === '0' || !payload) {
        payload = { resourceMetrics: [] };
        payloads.push(payload);
      }
      rm = { resource: { attributes: [] }, scopeMetrics: [] };
      payload.resourceMetrics.push(rm);
      section = 'other';
      continue;
    }
    if (!rm) continue;
    if (line === 'Resource attributes:') {
      section = 'resource';
      continue;
    }
    if (/^ScopeMetrics #\d+/.test(line)) {
      sm = { scope: { name: '', version: '' }, metrics: [] };
      rm.scopeMetrics.push(sm);
      section = 'other';
      continue;
    }
    if ((m = line.match(/^InstrumentationScope ?(\S*) ?(\S*)$/)) && sm) {
      sm.scope = { name: m[1] ?? '', version: m[2] ?? '' };
      section = 'scope';
      continue;
    }
    if (/^Metric #\d+/.test(line) && sm) {
      metric = { name: '', unit: '', description: '' };
      sm.metrics.push(metric);
      section = 'other';
      continue;
    }
    if (line === 'Descriptor:') {
      section = 'descriptor';
      continue;
    }
    if (num.test(line) && metric) {
      dp = { attributes: [] };
      const kind = metric.dataType === 'Sum' ? 'sum' : 'gauge';
      metric[kind] ??= { dataPoints: [] };
      metric[kind].dataPoints.push(dp);
      section = 'dp';
      continue;
    }
    if (/^(Histogram|ExponentialHistogram|Summary)DataPoints #\d+/.test(line)) {
      dp = undefined;
      section = 'other';
      continue;
    }
    if (line === 'Data point attributes:') continue;
    if ((m = line.match(/^\s+-> ([^:]+): (.*)$/))) {
      const [, key, val] = m as unknown as [string, string, string];
      if (section === 'descriptor' && metric) {
        if (key === 'Name') metric.name = val;
        else if (key === 'Unit') metric.unit = val;
        else if (key === 'Description') metric.description = val;
        else if (key === 'DataType') {
          metric.dataType = val;
          if (val === 'Gauge') metric.gauge ??= { dataPoints: [] };
          else if (val === 'Sum') metric.sum ??= { dataPoints: [] };
          else if (val === 'Histogram') metric.histogram ??= { dataPoints: [] };
          else if (val === 'ExponentialHistogram') metric.exponentialHistogram ??= { dataPoints: [] };
          else if (val === 'Summary') metric.summary ??= { dataPoints: [] };
        } else if (key === 'IsMonotonic' && metric.sum) metric.sum.isMonotonic = val === 'true';
        else if (key === 'AggregationTemporality') {
          const data = metric.sum ?? metric.histogram ?? metric.exponentialHistogram;
          if (data) data.aggregationTemporality = val === 'Delta' ? 1 : val === 'Cumulative' ? 2 : val;
        }
      } else if (section === 'resource') {
        rm.resource.attributes.push({ key, value: debugValue(val) });
      } else if (section === 'dp' && dp) {
        dp.attributes.push({ key, value: debugValue(val) });
      }
      continue;
    }
    if (section === 'dp' && dp) {
      if ((m = line.match(/^StartTimestamp: (.*)$/))) dp.startTimeUnixNano = debugTimestamp(m[1]!);
      else if ((m = line.match(/^Timestamp: (.*)$/))) dp.timeUnixNano = debugTimestamp(m[1]!);
      else if ((m = line.match(/^Value: (.*)$/))) {
        const v = m[1]!;
        if (/^-?\d+$/.test(v)) dp.asInt = v;
        else dp.asDouble = Number(v);
      }
    }
  }
  for (const p of payloads) for (const r of p.resourceMetrics) for (const s of r.scopeMetrics) for (const mm of s.metrics) delete mm.dataType;
  return payloads;
}

function debugValue(v: string): any {
  const m = v.match(/^(Str|Int|Double|Bool|Bytes|Slice|Map|Empty)\((.*)\)$/s);
  if (!m) return { stringValue: v };
  const [, t, s] = m as unknown as [string, string, string];
  switch (t) {
    case 'Str':
      return { stringValue: s };
    case 'Int':
      return { intValue: s };
    case 'Double':
      return { doubleValue: Number(s) };
    case 'Bool':
      return { boolValue: s === 'true' };
    default:
      return { stringValue: s };
  }
}

/** "2024-05-01 10:00:00.123456789 +0000 UTC" -> unix nanos as a decimal string. */
function debugTimestamp(s: string): string | undefined {
  const m = s.match(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))? \+0000 UTC$/);
  if (!m) return undefined;
  const secs = BigInt(Date.parse(`${m[1]}T${m[2]}Z`)) / 1000n;
  const frac = BigInt(((m[3] ?? '') + '000000000').slice(0, 9));
  return (secs * 1_000_000_000n + frac).toString();
}

async function pollUntil<T>(get: () => Promise<T>, pred: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await get();
  while (!pred(v)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
    v = await get();
  }
  return v;
}

// ---------------------------------------------------------------------------
// VictoriaMetrics
// ---------------------------------------------------------------------------

export interface VictoriaMetricsOptions {
  /** HTTP port (ingest + query). Default: a free port (VictoriaMetrics binds port 0 and logs the real one). */
  port?: number;
  /**
   * Pass -opentelemetry.usePrometheusNaming (unit/type suffixes, dots -> underscores).
   * Default false: VictoriaMetrics keeps OTLP metric names and attribute keys verbatim.
   */
  usePrometheusNaming?: boolean;
  /** Extra command-line flags, e.g. ['-retentionPeriod=10y']. */
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** Keep the temp storage dir after stop(). Default false, or PROFCOL_KEEP_BACKEND_DATA=1. */
  keepWorkDir?: boolean;
  build?: EnsureBackendOptions;
}

/** Prometheus-API instant vector sample. */
export interface PromSample {
  metric: Record<string, string>;
  /** [unix seconds, "value"] */
  value: [number, string];
}

/** One line of /api/v1/export. */
export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  /** Unix milliseconds. */
  timestamps: number[];
}

export interface VictoriaMetrics {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  /** http://127.0.0.1:PORT/opentelemetry — an OTLP/HTTP base endpoint (append /v1/metrics). */
  otlpEndpoint: string;
  /** http://127.0.0.1:PORT/opentelemetry/v1/metrics — protobuf only (JSON is rejected by this version). */
  otlpMetricsUrl: string;
  port: number;
  storageDir: string;
  binary: string;
  /** Make just-ingested rows searchable (GET /internal/force_flush). query/exportSeries call it first. */
  flush(): Promise<void>;
  /** Instant PromQL/MetricsQL query; resolves to data.result (throws on status != success). */
  query(promql: string, opts?: { time?: number | Date }): Promise<PromSample[]>;
  /** Raw /api/v1/query response JSON. */
  queryRaw(promql: string, opts?: { time?: number | Date }): Promise<any>;
  /** /api/v1/export?match[]=... (default range: everything) as parsed JSON lines. */
  exportSeries(match: string | string[], opts?: { start?: number | Date; end?: number | Date }): Promise<ExportedSeries[]>;
  /** Poll exportSeries(match) until `pred` holds (default: at least one series). */
  waitForSeries(match: string | string[], pred?: (s: ExportedSeries[]) => boolean, timeoutMs?: number): Promise<ExportedSeries[]>;
  logs(): string;
  stop(): Promise<void>;
}

export async function startVictoriaMetrics(opts: VictoriaMetricsOptions = {}): Promise<VictoriaMetrics> {
  const binary = await ensureBackend('victoriametrics', opts.build);
  const storageDir = await mkdtemp(join(tmpdir(), 'profcol-vm-'));
  const keep = opts.keepWorkDir ?? process.env['PROFCOL_KEEP_BACKEND_DATA'] === '1';

  try {
    // Port 0 by default: VictoriaMetrics binds a free port itself and logs it
    // ("started server at http://127.0.0.1:PORT/"), so there is no probe/bind race.
    const args = [
      `-storageDataPath=${join(storageDir, 'data')}`,
      `-httpListenAddr=127.0.0.1:${opts.port ?? 0}`,
      // Test data may carry any timestamp: keep it all, and let queries see
      // points written a moment ago (default latency offset is 30s).
      '-retentionPeriod=100y',
      '-search.latencyOffset=0s',
      '-search.disableCache',
      ...(opts.usePrometheusNaming ? ['-opentelemetry.usePrometheusNaming'] : []),
      ...(opts.extraArgs ?? []),
    ];
    const proc = startProc(binary, args, storageDir, keep ? undefined : storageDir);
    let healthUrl: string;
    try {
      healthUrl = await waitReady(
        proc,
        'victoria-metrics',
        (logs) => {
          const m = logs.match(/started server at http:\/\/(127\.0\.0\.1:\d+)\//);
          return m ? `http://${m[1]}/health` : undefined;
        },
        opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
        (status, body) => status === 200 && body.trim() === 'OK',
      );
    } catch (err) {
      await stopProc(proc, 1000);
      throw err;
    }
    const port = Number(new URL(healthUrl).port);
    const baseUrl = `http://127.0.0.1:${port}`;

    const flush = async (): Promise<void> => {
      const res = await fetch(`${baseUrl}/internal/force_flush`);
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`force_flush: HTTP ${res.status}`);
    };
    const toSecs = (t: number | Date): string => String(t instanceof Date ? t.getTime() / 1000 : t);
    const queryRaw = async (promql: string, q: { time?: number | Date } = {}): Promise<any> => {
      await flush();
      const params = new URLSearchParams({ query: promql });
      if (q.time !== undefined) params.set('time', toSecs(q.time));
      const res = await fetch(`${baseUrl}/api/v1/query?${params}`);
      const body = await res.text();
      try {
        return JSON.parse(body);
      } catch {
        throw new Error(`query ${promql}: HTTP ${res.status}: ${body.slice(0, 500)}`);
      }
    };
    const query = async (promql: string, q: { time?: number | Date } = {}): Promise<PromSample[]> => {
      const r = await queryRaw(promql, q);
      if (r.status !== 'success') throw new Error(`query ${promql}: ${r.errorType ?? ''} ${r.error ?? JSON.stringify(r)}`);
      return r.data.result as PromSample[];
    };
    const exportSeries = async (match: string | string[], e: { start?: number | Date; end?: number | Date } = {}): Promise<ExportedSeries[]> => {
      await flush();
      const params = new URLSearchParams();
      for (const m of Array.isArray(match) ? match : [match]) params.append('match[]', m);
      if (e.start !== undefined) params.set('start', toSecs(e.start));
      if (e.end !== undefined) params.set('end', toSecs(e.end));
      const res = await fetch(`${baseUrl}/api/v1/export?${params}`);
      const body = await res.text();
      if (!res.ok) throw new Error(`export ${String(match)}: HTTP ${res.status}: ${body.slice(0, 500)}`);
      return parseJsonLines(body) as ExportedSeries[];
    };

    return {
      baseUrl,
      otlpEndpoint: `${baseUrl}/opentelemetry`,
      otlpMetricsUrl: `${baseUrl}/opentelemetry/v1/metrics`,
      port,
      storageDir,
      binary,
      flush,
      query,
      queryRaw,
      exportSeries,
      waitForSeries: (match, pred = (s) => s.length > 0, timeoutMs = 10_000) =>
        pollUntil(() => exportSeries(match), pred, timeoutMs, `series ${String(match)}`),
      logs: proc.logs,
      async stop() {
        await stopProc(proc, 10_000);
        if (!keep) await rm(storageDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (!keep) await rm(storageDir, { recursive: true, force: true });
    throw err;
  }
}
