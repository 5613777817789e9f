import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Collector, ComponentRegistry, createLogger, defineReceiver, definePlugin, loadConfigFiles, planOrThrow, s } from '../src/index.js';
import { bundleBatch, newRecorder, testPlugin } from './support.js';

/** A JSON logger writing into `lines`, one raw line per entry (raw: duplicate keys vanish once parsed). */
function jsonLogger() {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk, _encoding, done) => (lines.push(...String(chunk).split('\n').filter(Boolean)), done()) });
  return { lines, logger: createLogger({ format: 'json', destination }) };
}

function occurrences(line: string, text: string): number {
  return line.split(text).length - 1;
}

describe('log lines', () => {
  it('write a field once when a log call repeats what its logger binds', () => {
    const { lines, logger } = jsonLogger();
    logger.child({ exporter: 'file' }).info({ exporter: 'file', path: 'metrics.jsonl' }, 'rotated');
    expect(lines).toHaveLength(1);
    expect(occurrences(lines[0]!, '"exporter":')).toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ exporter: 'file', path: 'metrics.jsonl', msg: 'rotated' });
  });

  it('keep a field whose value differs from the bound one, so nothing is lost', () => {
    const { lines, logger } = jsonLogger();
    logger.child({ pipeline: 'metrics' }).warn({ pipeline: 'traces' }, 'moved');
    expect(lines[0]).toContain('"pipeline":"metrics"');
    expect(lines[0]).toContain('"pipeline":"traces"');
  });

  it('leave calls without fields, and errors passed alone, as they were', () => {
    const { lines, logger } = jsonLogger();
    const child = logger.child({ receiver: 'ddtrace' });
    child.info('listening');
    child.error(new Error('bind failed'));
    expect(JSON.parse(lines[0]!)).toMatchObject({ receiver: 'ddtrace', msg: 'listening' });
    expect(JSON.parse(lines[1]!)).toMatchObject({ receiver: 'ddtrace', err: { message: 'bind failed' } });
  });

  it('from a component and from the host name the component and the pipeline once each', async () => {
    const { lines, logger } = jsonLogger();
    const recorder = newRecorder();
    // A receiver that names itself in its log call, as the built-in ones do.
    const chatty = defineReceiver({
      type: 'chatty',
      stability: 'development',
      config: s.object({}),
      create: (settings) => ({ start: () => settings.logger.info({ receiver: settings.id, port: 1 }, 'listening') }),
    });
    const registry = new ComponentRegistry();
    registry.register(testPlugin(recorder));
    registry.register(definePlugin({ name: '@test/chatty', version: '1.0.0', profcol: '^1.0.0', components: [chatty] }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-logger-'));
    const file = path.join(dir, 'pipeline.yaml');
    fs.writeFileSync(
      file,
      'receivers:\n  chatty: {}\n  source: {}\nexporters:\n  sink: { full: true }\nservice:\n  pipelines:\n    main:\n      receivers: [chatty, source]\n      exporters: [sink]\n',
    );
    const collector = new Collector(planOrThrow(loadConfigFiles([file], {}), registry), { logger });
    await collector.start();
    await expect(recorder.receivers.get('source')!.consume(bundleBatch())).rejects.toThrow('sink is full');
    await collector.shutdown();
    const listening = lines.find((line) => line.includes('"listening"'))!;
    const refused = lines.find((line) => line.includes('exporter refused a batch'))!;
    expect(occurrences(listening, '"receiver":')).toBe(1);
    expect(occurrences(refused, '"pipeline":')).toBe(1);
    expect(JSON.parse(refused)).toMatchObject({ pipeline: 'main', exporter: 'sink' });
  });
});
