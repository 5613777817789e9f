/**
 * Push mode with the real dd-trace-go profiler: test/go/ddtrace-demo-v2 (dd-trace-go v2.12.0,
 * zstd attachments including metrics.json) and test/go/ddtrace-demo-v1 (v1.73.1, gzip
 * attachments and plain metrics.json), each uploading to a standalone ddtrace receiver.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildGoProgram, startGoProgram, type DdtraceDemoReady, type GoProcess } from '../setup/go-build.js';
import { expectEverythingDecodes, sniffEncoding, startPushReceiver, total, type PushReceiver } from './helpers.js';

let receiver: PushReceiver | undefined;
let demo: GoProcess<DdtraceDemoReady> | undefined;
afterEach(async () => {
  await demo?.stop();
  await receiver?.stop();
  demo = receiver = undefined;
});

const CASES = [
  { program: 'ddtrace-demo-v2', profiler: 'v2.12.0', pprof: 'zstd', metrics: 'zstd' },
  { program: 'ddtrace-demo-v1', profiler: 'v1.73.1', pprof: 'gzip', metrics: 'none' },
] as const;

describe.each(CASES)('dd-trace-go $profiler uploads ($program)', ({ program, profiler, pprof, metrics }) => {
  it(`are all accepted (200), every attachment decoded (${pprof}, metrics.json ${metrics}) and the resource right`, async () => {
    const bin = await buildGoProgram(program);
    receiver = await startPushReceiver({ keep_attachments: true });
    demo = await startGoProgram<DdtraceDemoReady>(bin, [], {
      PROFCOL_AGENT_ADDR: `127.0.0.1:${receiver.port}`,
      PROFCOL_PERIOD: '2s',
      PROFCOL_EXIT_AFTER: '60s',
    });
    expect(demo.ready.dd_trace_go_version).toBe(profiler);
    await receiver.waitForAccepted(2, 30_000);
    await demo.stop();

    expect(receiver.problems).toEqual([]);
    expect(receiver.registry.value('profcol_receiver_refused_uploads_total')).toBe(0);
    const bundles = receiver.consumer.bundles;
    expect(bundles.map((b) => b.resource.profile_seq).slice(0, 2)).toEqual(['0', '1']);
    for (const bundle of bundles) {
      expect(bundle.resource).toMatchObject({
        service: program,
        env: 'e2e',
        version: '1.2.3',
        language: 'golang',
        runtime: 'go',
        process_id: String(demo.ready.pid),
        runtime_version: demo.ready.go_version.replace(/^go/, ''),
      });
      expect(bundle.resource.runtime_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(bundle.tags).toMatchObject({ team: 'profcol', demo: program, component: 'e2e', profiler_version: profiler, runtime_compiler: 'gc' });
      // About one period (2 s); dd-trace-go writes `end` in the local zone, parsed to the nanosecond.
      const seconds = Number(bundle.window.endNanos - bundle.window.startNanos) / 1e9;
      expect(seconds).toBeGreaterThan(1.5);
      expect(seconds).toBeLessThan(5);
      expect(bundle.profiles.map((p) => `${p.type}${p.delta ? ' (delta)' : ''}`).sort()).toEqual([
        'block (delta)',
        'cpu',
        'goroutine',
        'heap (delta)',
        'mutex (delta)',
      ]);
      for (const profile of bundle.profiles) expect(sniffEncoding(profile.data), profile.name).toBe(pprof);
      expectEverythingDecodes(bundle);
      expect(total(bundle, 'cpu', 'cpu')).toBeGreaterThan(0);
      expect(total(bundle, 'goroutine', 'goroutine')).toBeGreaterThanOrEqual(demo.ready.parked);
      expect(bundle.runtimeMetrics?.go_num_goroutine).toBeGreaterThanOrEqual(demo.ready.parked);
      expect(Object.keys(bundle.runtimeMetrics ?? {})).toContain('go_alloc_bytes_per_sec');
    }
    // The first upload of a process carries go.trace.
    expect(bundles[0]!.attachments?.map((a) => a.name)).toEqual(['go.trace']);
    for (const line of receiver.accepted) {
      expect(line.encodings['metrics.json']).toBe(metrics);
      expect(line.format).toBe('v4');
    }
  });
});
