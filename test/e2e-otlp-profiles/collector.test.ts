/**
 * The profiles themselves, end to end: `profcol run` receives real dd-trace-go v2 uploads
 * (test/go/ddtrace-demo-v2) and scrapes a real Go program (test/go/pprof-target), and its
 * `otlp_profiles` exporter sends them to the real OpenTelemetry Collector (v0.165.0, OTLP
 * receiver, profiles pipeline behind `service.profilesSupport`, file exporter). The `file`
 * exporter of the same pipeline keeps the pprof profcol received; every one of them must be in
 * the Collector's output with its profile type, sample count and per-type totals, the service's
 * resource attributes and the Go program's own functions in its stacks.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodePprof, decompress, summarizePprof } from '@profcol/pprof';
import { OTLP_PROTO_VERSION } from '@profcol/exporter-otlpprofiles';
import { parseCollectorJson, requestToPprof, type RebuiltProfile } from '@profcol/exporter-otlpprofiles/testing';
import type { Profile as Pprof } from 'pprof-format';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureBackend } from '../backends/index.js';
import { startProfilesCollector } from '../backends/otelcol-profiles.js';
import { BACKEND_SETUP_TIMEOUT_MS } from '../e2e-otlp/helpers.js';
import { freePort, startProfcol } from '../lib/profcol.js';
import { buildGoProgram, startGoProgram, type DdtraceDemoReady, type PprofTargetReady } from '../setup/go-build.js';

// The Collector and the Go programs are built (or found in the cache) before the test, not in
// its 120 s: on an empty cache the Collector alone took longer than that on a busy machine.
beforeAll(async () => {
  await Promise.all([ensureBackend('otelcol'), buildGoProgram('ddtrace-demo-v2'), buildGoProgram('pprof-target')]);
}, BACKEND_SETUP_TIMEOUT_MS);

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

/** The functions of the Go programs' own code that each profile type must show (the main.go of each program under test/go wraps its work in them). */
const OWN_FUNCTIONS: Record<string, RegExp> = {
  cpu: /^main\.spinWorker/,
  goroutine: /^main\.parkedWorker/,
  heap: /^main\.(retainHeap|allocWorker)/,
  mutex: /^main\.mutexWorker/,
  block: /^main\.block(Producer|Consumer)/,
};
const TYPES = Object.keys(OWN_FUNCTIONS).sort();

interface Received {
  service: string;
  type: string;
  file: string;
  pprof: Pprof;
  summary: ReturnType<typeof summarizePprof>;
}

/** The pprof profcol received, as its `file` exporter wrote them: `<dir>/<service>/<date>/<time>-<source>-<type>[-<n>].pprof`. */
async function receivedProfiles(dir: string, services: string[]): Promise<Received[]> {
  const out: Received[] = [];
  for (const service of services) {
    const root = path.join(dir, service);
    for (const date of await fs.readdir(root).catch(() => [] as string[])) {
      for (const file of await fs.readdir(path.join(root, date))) {
        const type = /^[0-9.]+-(?:ddtrace|pprof)-([a-z_]+)(?:-[a-z0-9-]+)?\.pprof$/.exec(file)?.[1];
        if (!type) continue;
        const plain = decompress(await fs.readFile(path.join(root, date, file)));
        out.push({ service, type, file: path.join(service, date, file), pprof: decodePprof(plain), summary: summarizePprof(plain) });
      }
    }
  }
  return out;
}

/** The names of the functions in the samples' stacks (a pull delta keeps every function of the cumulative profile, sampled or not). */
function functionNames(pprof: Pprof): Set<string> {
  const functions = new Map(pprof.function.map((f) => [String(f.id), pprof.stringTable.strings[Number(f.name)] ?? '']));
  const locations = new Map(pprof.location.map((l) => [String(l.id), l]));
  const names = new Set<string>();
  for (const sample of pprof.sample) {
    for (const id of sample.locationId) for (const line of locations.get(String(id))?.line ?? []) names.add(functions.get(String(line.functionId)) ?? '');
  }
  return names;
}

/** The profiles the Collector wrote, each rebuilt as the pprof it came from. */
async function collectorProfiles(lines: string[]): Promise<RebuiltProfile[]> {
  return lines.flatMap((line) => requestToPprof(parseCollectorJson(line)));
}

describe(`otlp_profiles → the real OpenTelemetry Collector (OTLP profiles ${OTLP_PROTO_VERSION})`, () => {
  it('has every profile profcol received, push (dd-trace-go v2) and pull, with its type, samples, totals, resource and the program’s own functions', async () => {
    const col = await startProfilesCollector();
    cleanup.push(() => col.stop());
    const [demoBin, targetBin] = await Promise.all([buildGoProgram('ddtrace-demo-v2'), buildGoProgram('pprof-target')]);
    const target = await startGoProgram<PprofTargetReady>(targetBin, [
      '-addr',
      '127.0.0.1:0',
      '-spin',
      '1',
      '-parked',
      '4',
      '-retain-mib',
      '16',
      '-alloc-mib-per-sec',
      '8',
    ]);
    cleanup.push(() => target.stop());

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'profcol-e2e-otlp-profiles-'));
    cleanup.push(() => fs.rm(dir, { recursive: true, force: true }));
    const ddtracePort = await freePort();
    const config = path.join(dir, 'profiles.yaml');
    // JSON is YAML. One receiver of each kind feeds one pipeline with two exporters: the profiles to the Collector, and the same bundles to files.
    await fs.writeFile(
      config,
      JSON.stringify({
        receivers: {
          ddtrace: { endpoint: `127.0.0.1:${ddtracePort}` },
          pprof: {
            interval: '10s',
            cpu_seconds: 2,
            jitter: '0s',
            targets: [
              {
                url: `http://${target.ready.addr}`,
                service: 'go-demo',
                env: 'e2e',
                version: '0.0.0',
                enabled_types: ['cpu', 'goroutine', 'heap', 'mutex', 'block'],
              },
            ],
          },
        },
        processors: { pprof_decode: {} },
        exporters: {
          otlp_profiles: { endpoint: col.otlpHttpEndpoint },
          file: { directory: path.join(dir, 'data') },
        },
        service: {
          telemetry: { metrics: { address: `127.0.0.1:${await freePort()}` } },
          pipelines: { profiles: { receivers: ['ddtrace', 'pprof'], processors: ['pprof_decode'], exporters: ['otlp_profiles', 'file'] } },
        },
      }),
    );
    const run = await startProfcol([config], { cwd: dir });
    cleanup.push(() => run.stop());
    const demo = await startGoProgram<DdtraceDemoReady>(demoBin, [], {
      PROFCOL_AGENT_ADDR: `127.0.0.1:${ddtracePort}`,
      PROFCOL_PERIOD: '2s',
      PROFCOL_EXIT_AFTER: '120s',
    });
    cleanup.push(() => demo.stop());

    // Two uploads and two pull rounds (the pull deltas of heap, mutex and block need a second round).
    const enough = (profiles: RebuiltProfile[], service: string) => {
      const ofService = profiles.filter((p) => p.resource['service.name'] === service);
      return (
        TYPES.every((type) => ofService.filter((p) => p.attributes['profcol.profile.type'] === type).length >= 1) &&
        ofService.filter((p) => p.attributes['profcol.profile.type'] === 'cpu').length >= 2
      );
    };
    await vi.waitFor(
      async () => {
        const lines = await col.readLines();
        const profiles = await collectorProfiles(lines);
        const seen = profiles.map((p) => `${String(p.resource['service.name'])} ${String(p.attributes['profcol.profile.type'])}`);
        const problems = run.logs.filter((l) => Number(l['level']) >= 40).map((l) => String(l['msg']));
        // On a timeout the message shows what the Collector has and what profcol complained about.
        expect({ ready: enough(profiles, 'ddtrace-demo-v2') && enough(profiles, 'go-demo'), requests: lines.length, seen, problems }).toMatchObject({
          ready: true,
        });
      },
      { timeout: 90_000, interval: 500 },
    );
    await demo.stop();
    // A clean stop drains the exporters: everything profcol received has been sent.
    expect(await run.stop()).toBe(0);

    const received = await receivedProfiles(path.join(dir, 'data'), ['ddtrace-demo-v2', 'go-demo']);
    let profiles: RebuiltProfile[] = [];
    await vi.waitFor(
      async () => {
        // The file exporter flushes every 100 ms.
        profiles = await collectorProfiles(await col.readLines());
        expect(profiles.length).toBeGreaterThanOrEqual(received.length);
      },
      { timeout: 10_000, interval: 200 },
    );
    expect(profiles.length).toBe(received.length);

    for (const service of ['ddtrace-demo-v2', 'go-demo']) {
      expect([...new Set(received.filter((r) => r.service === service).map((r) => r.type))].sort(), service).toEqual(TYPES);
    }
    for (const r of received) {
      const matches = profiles.filter(
        (p) => p.resource['service.name'] === r.service && p.attributes['profcol.profile.type'] === r.type && p.pprof.timeNanos === BigInt(r.summary.timeNanos),
      );
      expect(matches.length, r.file).toBe(1);
      const sent = matches[0]!;
      const summary = summarizePprof(sent.pprof.encode());
      expect(summary.sampleTypes, r.file).toEqual(r.summary.sampleTypes);
      expect(summary.sampleCount, r.file).toBe(r.summary.sampleCount);
      expect(summary.totals, r.file).toEqual(r.summary.totals);
      // One OTLP profile per sample type, each with every sample.
      expect(
        sent.otlp.map((p) => p.samples.length),
        r.file,
      ).toEqual(r.summary.sampleTypes.map(() => r.summary.sampleCount));
      expect(sent.scope.name).toBe('profcol');
      expect(functionNames(sent.pprof), r.file).toEqual(functionNames(r.pprof));
    }
    // The Go program's own functions are in the stacks (the delta types may be empty in one window, not in all).
    for (const service of ['ddtrace-demo-v2', 'go-demo']) {
      for (const type of TYPES) {
        const own = profiles.filter(
          (p) =>
            p.resource['service.name'] === service &&
            p.attributes['profcol.profile.type'] === type &&
            [...functionNames(p.pprof)].some((name) => OWN_FUNCTIONS[type]!.test(name)),
        );
        expect(own.length, `${service} ${type}`).toBeGreaterThan(0);
      }
    }

    const push = profiles.filter((p) => p.resource['service.name'] === 'ddtrace-demo-v2');
    for (const p of push) {
      expect(p.resource).toMatchObject({
        'service.name': 'ddtrace-demo-v2',
        'deployment.environment.name': 'e2e',
        'service.version': '1.2.3',
        'telemetry.sdk.language': 'go',
        'process.runtime.name': 'go',
        'process.pid': String(demo.ready.pid),
        'process.runtime.version': demo.ready.go_version.replace(/^go/, ''),
      });
      expect(p.resource['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(p.resource['profile_seq']).toBeUndefined();
      expect(p.attributes).toMatchObject({ team: 'profcol', demo: 'ddtrace-demo-v2' });
    }
    const pull = profiles.filter((p) => p.resource['service.name'] === 'go-demo');
    for (const p of pull) {
      expect(p.resource).toMatchObject({
        'service.name': 'go-demo',
        'deployment.environment.name': 'e2e',
        'service.version': '0.0.0',
        'service.instance.id': `http://${target.ready.addr}`,
      });
    }
    // dd-trace's span and endpoint labels would be sample attributes; the demo traces nothing, so the CPU samples carry none here (see the round-trip unit test for labels).
  });
});
