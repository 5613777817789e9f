/**
 * Push mode with the real dd-trace-js profiler (npm dd-trace 5.132.0, `node -r dd-trace/init`)
 * uploading to a standalone ddtrace receiver, with gzip and with zstd attachments.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { expectEverythingDecodes, sniffEncoding, startJsApp, startPushReceiver, type Child, type PushReceiver } from './helpers.js';

let receiver: PushReceiver | undefined;
let app: Child | undefined;
afterEach(async () => {
  await app?.stop();
  await receiver?.stop();
  app = receiver = undefined;
});

describe.each(['gzip', 'zstd'] as const)('dd-trace-js uploads with DD_PROFILING_DEBUG_UPLOAD_COMPRESSION=%s', (compression) => {
  it('are all accepted (200), with the resource right and every attachment decodable', async () => {
    receiver = await startPushReceiver({ keep_attachments: true });
    app = await startJsApp({
      DD_PROFILING_ENABLED: 'true',
      DD_TRACE_AGENT_URL: receiver.url,
      DD_PROFILING_UPLOAD_PERIOD: '2',
      DD_PROFILING_DEBUG_UPLOAD_COMPRESSION: compression,
      DD_SERVICE: `e2e-js-${compression}`,
      DD_ENV: 'e2e',
      DD_VERSION: '3.4.5',
      DD_TAGS: 'team:profcol,suite:e2e-push',
      DD_REMOTE_CONFIGURATION_ENABLED: 'false',
      DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
      DD_TRACE_STARTUP_LOGS: 'false',
    });
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
      expect(bundle.resource).toMatchObject({ service: `e2e-js-${compression}`, env: 'e2e', version: '3.4.5', language: 'nodejs', runtime: 'nodejs', runtime_version: process.version });
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
