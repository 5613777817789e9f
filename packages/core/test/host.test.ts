import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackpressureError, Collector, ComponentRegistry, loadConfigFiles, planOrThrow, planPipelines, type Plan } from '../src/index.js';
import { bundleBatch, newRecorder, testPlugin, type Recorder } from './support.js';

function planFrom(yaml: string, recorder: Recorder): Plan {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-host-'));
  fs.writeFileSync(path.join(dir, 'pipeline.yaml'), yaml);
  const registry = new ComponentRegistry();
  registry.register(testPlugin(recorder));
  return planOrThrow(loadConfigFiles([path.join(dir, 'pipeline.yaml')], {}), registry);
}

function issuesFor(yaml: string): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-host-'));
  fs.writeFileSync(path.join(dir, 'pipeline.yaml'), yaml);
  const registry = new ComponentRegistry();
  registry.register(testPlugin(newRecorder()));
  return planPipelines(loadConfigFiles([path.join(dir, 'pipeline.yaml')], {}), registry).issues.map((i) => `${i.path}: ${i.message} (line ${i.line})`);
}

const TWO_PIPELINES = `
receivers:
  source: {}
  source/extra: {}
processors:
  stamp: {}
exporters:
  sink/a: {}
  sink/b: {}
service:
  pipelines:
    first:
      receivers: [source]
      processors: [stamp]
      exporters: [sink/a, sink/b]
    second:
      receivers: [source, source/extra]
      processors: [stamp]
      exporters: [sink/b]
`;

describe('pipeline graph', () => {
  it('fans a receiver out to every pipeline that lists it, each with its own processor instance', async () => {
    const recorder = newRecorder();
    const collector = new Collector(planFrom(TWO_PIPELINES, recorder));
    await collector.start();
    await recorder.receivers.get('source')!.consume(bundleBatch());
    expect(recorder.exported.get('sink/a')!.map((b) => b.bundles[0]!.tags.stamped)).toEqual(['first']);
    // sink/b is shared by both pipelines (fan-in) and sees each pipeline's own copy.
    expect(
      recorder.exported
        .get('sink/b')!
        .map((b) => b.bundles[0]!.tags.stamped)
        .sort(),
    ).toEqual(['first', 'second']);
    await recorder.receivers.get('source/extra')!.consume(bundleBatch());
    expect(recorder.exported.get('sink/a')).toHaveLength(1);
    expect(recorder.exported.get('sink/b')).toHaveLength(3);
    await collector.shutdown();
  });

  it("gives each pipeline a copy made before any pipeline's processors run", async () => {
    const recorder = newRecorder();
    const yaml = TWO_PIPELINES.replace('  sink/b: {}\n', '  sink/b: {}\n  sink/c: {}\n').replace(
      '    second:\n',
      '    plain:\n      receivers: [source]\n      exporters: [sink/c]\n    second:\n',
    );
    const collector = new Collector(planFrom(yaml, recorder));
    await collector.start();
    await recorder.receivers.get('source')!.consume(bundleBatch());
    expect(recorder.exported.get('sink/c')!.map((b) => b.bundles[0]!.tags)).toEqual([{}]);
    expect(recorder.exported.get('sink/a')!.map((b) => b.bundles[0]!.tags)).toEqual([{ stamped: 'first' }]);
    await collector.shutdown();
  });

  it('starts exporters first and receivers last, and stops in reverse', async () => {
    const recorder = newRecorder();
    const collector = new Collector(planFrom(TWO_PIPELINES, recorder));
    await collector.start();
    await collector.shutdown();
    const kinds = recorder.events.map((e) => e.split(' ').slice(0, 2).join(' '));
    expect(kinds).toEqual([
      'start exporter',
      'start exporter',
      'start processor',
      'start processor',
      'start receiver',
      'start receiver',
      'stop receiver',
      'stop receiver',
      'stop processor',
      'stop processor',
      'stop exporter',
      'stop exporter',
    ]);
  });

  it('shuts down only once, and a collector that never started stops nothing', async () => {
    const recorder = newRecorder();
    const collector = new Collector(planFrom(TWO_PIPELINES, recorder));
    await collector.shutdown();
    await collector.shutdown();
    expect(recorder.events).toEqual([]);
    const started = new Collector(planFrom(TWO_PIPELINES, recorder));
    await started.start();
    await Promise.all([started.shutdown(), started.shutdown()]);
    expect(recorder.events.filter((e) => e.startsWith('stop receiver source '))).toHaveLength(0);
    expect(recorder.events.filter((e) => e === 'stop receiver source')).toHaveLength(1);
  });

  it('drains in-flight batches before the exporters stop', async () => {
    const recorder = newRecorder();
    const collector = new Collector(planFrom(TWO_PIPELINES.replace('sink/a: {}', 'sink/a: { delay_ms: 200 }'), recorder));
    await collector.start();
    const inFlight = recorder.receivers.get('source')!.consume(bundleBatch());
    await new Promise((r) => setTimeout(r, 20));
    await collector.shutdown();
    await inFlight;
    expect(recorder.events).toContain('stop exporter sink/a holding 1');
  });

  it('stops the exporters once shutdown_timeout has passed, even if a receiver never finishes stopping', async () => {
    const recorder = newRecorder();
    const yaml = TWO_PIPELINES.replace('  source: {}\n', '  source: { hang_on_stop: true }\n').replace('service:\n', 'service:\n  shutdown_timeout: 300ms\n');
    const collector = new Collector(planFrom(yaml, recorder));
    await collector.start();
    const began = Date.now();
    await collector.shutdown();
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(recorder.events.filter((e) => e.startsWith('stop exporter'))).toHaveLength(2);
  });

  it('refuses batches that arrive after the shutdown began', async () => {
    const recorder = newRecorder();
    const collector = new Collector(planFrom(TWO_PIPELINES, recorder));
    await collector.start();
    const next = recorder.receivers.get('source')!;
    await collector.shutdown();
    await expect(next.consume(bundleBatch())).rejects.toBeInstanceOf(BackpressureError);
  });
});

describe('backpressure', () => {
  it("carries an exporter's refusal back to the receiver and counts it", async () => {
    const recorder = newRecorder();
    const collector = new Collector(planFrom(TWO_PIPELINES.replace('sink/b: {}', 'sink/b: { full: true }'), recorder));
    await collector.start();
    const refusal = recorder.receivers.get('source')!.consume(bundleBatch());
    await expect(refusal).rejects.toMatchObject({ kind: 'backpressure', retryAfterMs: 2000 });
    expect(collector.telemetry.value('profcol_exporter_refused_batches_total', { exporter: 'sink/b' })).toBe(2);
    await collector.shutdown();
  });

  it("carries a processor's failure back to the receiver and counts it", async () => {
    const recorder = newRecorder();
    const collector = new Collector(planFrom(TWO_PIPELINES.replace('stamp: {}', 'stamp: { fail: true }'), recorder));
    await collector.start();
    await expect(recorder.receivers.get('source/extra')!.consume(bundleBatch())).rejects.toThrow('stamp failed on purpose');
    expect(collector.telemetry.value('profcol_pipeline_refused_batches_total', { reason: 'processor_error' })).toBe(1);
    await collector.shutdown();
  });
});

describe('configuration errors', () => {
  it('reports every mistake at once, each with its path and line', () => {
    const issues = issuesFor(`receivers:
  source:
    servce: x
processors:
  stamp: {}
exporters:
  sink:
    delay_ms: -5
service:
  pipelines:
    main:
      receivers: [source, pprof/payments]
      processors: [stamp]
      exporters: [sink]
`);
    expect(issues).toEqual([
      'receivers::source::servce: unknown key "servce" (did you mean "service"?) (line 3)',
      'exporters::sink::delay_ms: -5 is below the minimum of 0 (line 8)',
      'service::pipelines::main::receivers::1: references undefined receiver "pprof/payments" (define it under receivers:) (line 12)',
    ]);
  });

  it('names an unknown component type and lists the known ones', () => {
    expect(issuesFor('exporters:\n  kafka: {}\nservice:\n  pipelines: {}\n')).toEqual([
      'exporters::kafka: unknown exporter type "kafka" (known: sink; third-party types need their package under plugins:) (line 2)',
      'service::pipelines: no pipeline is defined; nothing would run (line 4)',
    ]);
  });

  it('suggests the component type that was probably meant', () => {
    expect(issuesFor('exporters:\n  snik/a: {}\n')[0]).toBe(
      'exporters::snik/a: unknown exporter type "snik" (did you mean "sink"?) (known: sink; third-party types need their package under plugins:) (line 2)',
    );
  });

  it('after a YAML syntax error reports only that, not the pipelines the broken file would have defined', () => {
    expect(issuesFor('receivers:\n  source: {}\nservice:\n  pipelines: [\n')).toEqual([expect.stringMatching(/^: YAML syntax error: .* \(line \d+\)$/)]);
  });

  it('never echoes a value that came from the environment, even when it has the wrong type', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-host-'));
    fs.writeFileSync(
      path.join(dir, 'p.yaml'),
      `${TWO_PIPELINES}  extensions: "\${env:SECRET}"\n  telemetry:\n    metrics:\n      address: "key-\${env:SECRET}"\n`,
    );
    const registry = new ComponentRegistry();
    registry.register(testPlugin(newRecorder()));
    const { issues } = planPipelines(loadConfigFiles([path.join(dir, 'p.yaml')], { SECRET: 'TopSecret-123456' }), registry);
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'service::extensions: expected a list, got the value of ${env:SECRET}',
      'service::telemetry::metrics::address: the value of ${env:SECRET} is not a listen address (expected host:port, :port or [v6]:port)',
    ]);
    expect(JSON.stringify(issues)).not.toContain('TopSecret');
  });

  it('rejects unknown top-level keys and malformed ids', () => {
    expect(issuesFor('recievers: {}\nexporters:\n  "sink//x": {}\nservice:\n  pipelines:\n    p: { receivers: [], exporters: [] }\n')).toEqual([
      'recievers: unknown top-level key "recievers" (did you mean "receivers"?) (expected one of plugins, receivers, processors, exporters, extensions, service) (line 1)',
      'exporters::sink//x: "sink//x" is not a component id (type[/name], e.g. pprof/payments) (line 3)',
      'service::pipelines::p::receivers: needs at least 1 item (line 6)',
      'service::pipelines::p::exporters: needs at least 1 item (line 6)',
    ]);
  });
});

describe("profcol's own metrics", () => {
  it('refuses an address that is not host:port', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-host-'));
    fs.writeFileSync(path.join(dir, 'p.yaml'), TWO_PIPELINES.replace('service:\n', 'service:\n  telemetry:\n    metrics:\n      address: localhost\n'));
    const registry = new ComponentRegistry();
    registry.register(testPlugin(newRecorder()));
    const { issues } = planPipelines(loadConfigFiles([path.join(dir, 'p.yaml')], {}), registry);
    expect(issues.map((i) => i.message)).toEqual(['"localhost" is not a listen address (expected host:port, :port or [v6]:port)']);
  });

  it('listens on an IPv6 address', async () => {
    const recorder = newRecorder();
    const port = 20000 + Math.floor(Math.random() * 20000);
    const collector = new Collector(
      planFrom(TWO_PIPELINES.replace('service:\n', `service:\n  telemetry:\n    metrics:\n      address: "[::1]:${port}"\n`), recorder),
    );
    await collector.start();
    await recorder.receivers.get('source')!.consume(bundleBatch());
    expect(await (await fetch(`http://[::1]:${port}/metrics`)).text()).toContain('profcol_pipeline_bundles_total{pipeline="first"} 1');
    await collector.shutdown();
  });

  it('serves every counter in Prometheus text at service.telemetry.metrics.address', async () => {
    const net = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as { port: number };
        server.close(() => resolve(free));
      });
    });
    const recorder = newRecorder();
    const yaml = TWO_PIPELINES.replace('service:\n', `service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:${port}\n`);
    const collector = new Collector(planFrom(yaml, recorder));
    await collector.start();
    await recorder.receivers.get('source')!.consume(bundleBatch());
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain('# TYPE profcol_pipeline_bundles_total counter');
    expect(text).toContain('profcol_pipeline_bundles_total{pipeline="first"} 1');
    expect(text).toContain('profcol_pipeline_bundles_total{pipeline="second"} 1');
    await collector.shutdown();
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});
