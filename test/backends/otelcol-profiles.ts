/**
 * The real OpenTelemetry Collector as an OTLP *profiles* backend: the same binary as
 * `startOtelCollector()` (test/backends/otelcol/builder-config.yaml — its otlpreceiver and the
 * contrib fileexporter of v0.165.0 already carry profiles), started with the
 * `service.profilesSupport` feature gate and a `profiles` pipeline, otlp → file (OTLP JSON, one
 * `ExportProfilesServiceRequest` per line).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_START_TIMEOUT_MS, ensureBackend, freePort, readIfExists, startProc, stopProc, waitReady, withPortRetries } from './index.js';

export interface ProfilesCollector {
  /** e.g. http://127.0.0.1:43111 — profiles go to `${otlpHttpEndpoint}/v1development/profiles`. */
  otlpHttpEndpoint: string;
  /** The file exporter's output. */
  outputFile: string;
  /** Every line the file exporter wrote so far (a half-flushed last line is left out). */
  readLines(): Promise<string[]>;
  logs(): string;
  stop(): Promise<void>;
}

export async function startProfilesCollector(options: { startTimeoutMs?: number } = {}): Promise<ProfilesCollector> {
  const binary = await ensureBackend('otelcol');
  const workDir = await mkdtemp(join(tmpdir(), 'profcol-otelcol-profiles-'));
  const outputFile = join(workDir, 'profiles.jsonl');
  const configFile = join(workDir, 'config.yaml');
  const keep = process.env['PROFCOL_KEEP_BACKEND_DATA'] === '1';
  try {
    const { proc, port } = await withPortRetries(3, async () => {
      const port = await freePort();
      const healthPort = await freePort();
      // JSON is YAML.
      const config = {
        receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
        exporters: { file: { path: outputFile, format: 'json', flush_interval: '100ms' } },
        extensions: { health_check: { endpoint: `127.0.0.1:${healthPort}` } },
        service: {
          extensions: ['health_check'],
          pipelines: { profiles: { receivers: ['otlp'], exporters: ['file'] } },
          telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
        },
      };
      await writeFile(configFile, JSON.stringify(config, null, 2) + '\n');
      const proc = startProc(binary, ['--config', configFile, '--feature-gates=service.profilesSupport'], workDir, keep ? undefined : workDir);
      try {
        await waitReady(
          proc,
          'otelcol (profiles)',
          (logs) => (logs.includes('Everything is ready') ? `http://127.0.0.1:${healthPort}/` : undefined),
          options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
          (status) => status === 200,
        );
      } catch (error) {
        await stopProc(proc, 1000);
        throw error;
      }
      return { proc, port };
    });
    return {
      otlpHttpEndpoint: `http://127.0.0.1:${port}`,
      outputFile,
      async readLines() {
        const lines = (await readIfExists(outputFile)).split('\n');
        // The last element is '' after a complete line, or a line still being written.
        return lines.slice(0, -1).filter((line) => line.trim() !== '');
      },
      logs: proc.logs,
      async stop() {
        await stopProc(proc);
        if (!keep) await rm(workDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (!keep) await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}
