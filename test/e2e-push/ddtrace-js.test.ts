/**
 * Push mode with the real dd-trace-js profiler (npm dd-trace 5.132.0, `node -r dd-trace/init`)
 * uploading to a standalone ddtrace receiver: on the machine's node with gzip and with zstd
 * attachments, and on Node 24 LTS with what it uploads by default (zstd there, gzip before 24).
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { MACHINE_NODE, NODE_24, nodeBinary, type NodeRuntime } from '../setup/node-runtime.js';
import { expectEverythingDecodes, sniffEncoding, startJsApp, startPushReceiver, type Child, type PushReceiver } from './helpers.js';

let receiver: PushReceiver | undefined;
let app: Child | undefined;
afterEach(async () => {
  await app?.stop();
  await receiver?.stop();
  app = receiver = undefined;
});

interface Case {
  runtime: NodeRuntime;
  /** DD_PROFILING_DEBUG_UPLOAD_COMPRESSION, or undefined for dd-trace-js's default. */
  setting: 'gzip' | 'zstd' | undefined;
  /** What the attachments must be compressed with. */
  compression: 'gzip' | 'zstd';
  label: string;
}
const CASES: Case[] = [
  { runtime: MACHINE_NODE, setting: 'gzip', compression: 'gzip', label: `${MACHINE_NODE.label}, DD_PROFILING_DEBUG_UPLOAD_COMPRESSION=gzip` },
  { runtime: MACHINE_NODE, setting: 'zstd', compression: 'zstd', label: `${MACHINE_NODE.label}, DD_PROFILING_DEBUG_UPLOAD_COMPRESSION=zstd` },
  // dd-trace-js defaults to zstd from Node 24 on (its built-in zlib zstd), gzip before.
  { runtime: NODE_24, setting: undefined, compression: 'zstd', label: `${NODE_24.label}, default compression` },
];

describe.each(CASES.map((c) => [c.label, c] as const))('dd-trace-js uploads on %s', (_label, { runtime, setting, compression }) => {
  it('are all accepted (200), with the resource right and every attachment decodable', async () => {
    const node = await nodeBinary(runtime);
    const nodeVersion = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    if (runtime.major !== undefined) expect(nodeVersion.startsWith(`v${runtime.major}.`), `${node} is ${nodeVersion}`).toBe(true);
    const service = `e2e-js-${setting ?? `default-${runtime.major ?? 'machine'}`}`;
    receiver = await startPushReceiver({ keep_attachments: true });
    app = await startJsApp(
      {
        DD_PROFILING_ENABLED: 'true',
        DD_TRACE_AGENT_URL: receiver.url,
        DD_PROFILING_UPLOAD_PERIOD: '2',
        ...(setting ? { DD_PROFILING_DEBUG_UPLOAD_COMPRESSION: setting } : {}),
        DD_SERVICE: service,
        DD_ENV: 'e2e',
        DD_VERSION: '3.4.5',
        DD_TAGS: 'team:profcol,suite:e2e-push',
        DD_REMOTE_CONFIGURATION_ENABLED: 'false',
        DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
        DD_TRACE_STARTUP_LOGS: 'false',
      },
      node,
    );
    await receiver.waitForAccepted(2, 30_000);
    await app.stop();

    expect(receiver.problems).toEqual([]);
    expect(receiver.registry.value('profcol_receiver_refused_uploads_total')).toBe(0);
    const bundles = receiver.consumer.bundles;
    expect(bundles.length).toBeGreaterThanOrEqual(2);
    const runtimeIds = new Set(bundles.map((b) => b.resource.runtime_id));
    expect(runtimeIds.size).toBe(1);
    expect(bundles.map((b) => b.resource.profile_seq).slice(0, 2)).toEqual(['0', '1']);
    for (const bundle of bundles) {
      expect(bundle.resource).toMatchObject({ service, env: 'e2e', version: '3.4.5', language: 'nodejs', runtime: 'nodejs', runtime_version: nodeVersion });
      expect(bundle.resource.process_id).toBe(String(app.process.pid));
      expect(bundle.tags).toMatchObject({ team: 'profcol', suite: 'e2e-push', profiler_version: '5.132.0' });
      expect(bundle.window.endNanos).toBeGreaterThan(bundle.window.startNanos);
      expect(bundle.profiles.map((p) => p.type).sort()).toEqual(['space', 'wall']);
      expect(bundle.attachments?.map((a) => a.name)).toEqual(['events.pprof']);
      for (const item of [...bundle.profiles, ...bundle.attachments!]) expect(sniffEncoding(item.data), item.name).toBe(compression);
      expectEverythingDecodes(bundle);
    }
    expect(receiver.accepted.every((line) => Object.values(line.encodings).every((e) => e === compression))).toBe(true);
  });
});
