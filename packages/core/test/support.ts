/** Test components that record what happens to them, to check the host's wiring and lifecycle. */
import { BackpressureError, defineExporter, defineProcessor, defineReceiver, definePlugin, s, type Batch, type Consumer, type Plugin } from '../src/index.js';

export interface Recorder {
  events: string[];
  receivers: Map<string, Consumer>;
  exported: Map<string, Batch[]>;
}

export function newRecorder(): Recorder {
  return { events: [], receivers: new Map(), exported: new Map() };
}

export function testPlugin(recorder: Recorder): Plugin {
  const source = defineReceiver({
    type: 'source',
    stability: 'development',
    config: s.object({ service: s.string({ default: 'demo', description: 'service of emitted bundles' }), hang_on_stop: s.boolean({ default: false }) }),
    create: (settings, config, next) => {
      recorder.receivers.set(settings.id, next);
      return {
        start: () => void recorder.events.push(`start receiver ${settings.id}`),
        shutdown: () => {
          recorder.events.push(`stop receiver ${settings.id}`);
          // Like a receiver still waiting for a request it is answering.
          if (config.hang_on_stop) return new Promise<void>(() => {});
        },
      };
    },
  });
  const stamp = defineProcessor({
    type: 'stamp',
    stability: 'development',
    config: s.object({ key: s.string({ default: 'stamped' }), fail: s.boolean({ default: false }) }),
    create: (settings, config) => ({
      start: () => void recorder.events.push(`start processor ${settings.id}@${settings.pipeline}`),
      shutdown: () => void recorder.events.push(`stop processor ${settings.id}@${settings.pipeline}`),
      process(batch) {
        if (config.fail) throw new Error('stamp failed on purpose');
        for (const bundle of batch.bundles) bundle.tags[config.key] = settings.pipeline ?? '';
        return batch;
      },
    }),
  });
  const sink = defineExporter({
    type: 'sink',
    stability: 'development',
    config: s.object({ delay_ms: s.integer({ default: 0, min: 0 }), full: s.boolean({ default: false }) }),
    create: (settings, config) => ({
      start: () => void recorder.events.push(`start exporter ${settings.id}`),
      shutdown: () => void recorder.events.push(`stop exporter ${settings.id} holding ${recorder.exported.get(settings.id)?.length ?? 0}`),
      async consume(batch) {
        if (config.full) throw new BackpressureError('sink is full', 2000);
        if (config.delay_ms) await new Promise((r) => setTimeout(r, config.delay_ms));
        recorder.exported.set(settings.id, [...(recorder.exported.get(settings.id) ?? []), batch]);
      },
    }),
  });
  return definePlugin({ name: '@test/plugin', version: '1.0.0', profcol: '^1.0.0', components: [source, stamp, sink] });
}

export function bundleBatch(service = 'demo'): Batch {
  return {
    bundles: [{ source: 'source', resource: { service }, tags: {}, window: { startNanos: 0n, endNanos: 60_000_000_000n }, profiles: [] }],
    metrics: [],
  };
}
