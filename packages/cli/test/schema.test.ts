import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { main } from '../src/index.js';

const pipelinesDir = fileURLToPath(new URL('../../../pipelines/', import.meta.url));
const committedSchema = fileURLToPath(new URL('../../../profcol.schema.json', import.meta.url));

async function printedSchema(): Promise<Record<string, unknown>> {
  let stdout = '';
  const io = { stdout: new Writable({ write: (c, _e, done) => ((stdout += String(c)), done()) }), stderr: process.stderr, env: {} };
  expect(await main(['schema'], io)).toBe(0);
  return JSON.parse(stdout);
}

function validator(schema: Record<string, unknown>) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  return ajv.compile(schema);
}

describe('profcol schema', () => {
  it('is a valid JSON Schema that accepts every ready-made pipeline', async () => {
    const validate = validator(await printedSchema());
    const files = fs.readdirSync(pipelinesDir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const config = parse(fs.readFileSync(path.join(pipelinesDir, file), 'utf8'), { merge: true });
      expect({ file, ok: validate(config), errors: validate.errors ?? [] }).toEqual({ file, ok: true, errors: [] });
    }
  });

  it('flags a misspelt key, a component type it does not know and a wrong value, where they are', async () => {
    const validate = validator(await printedSchema());
    const config = {
      receivers: { 'ddtrace/eu': { endpoint: 'localhost:9529' }, goruntme: {} },
      exporters: { file: { dirctory: './data' } },
      processors: { goruntime: {} },
      service: { pipelines: { go: { receivers: ['ddtrace/eu'], exporters: ['file'] } }, limits: { memory: 'lots' } },
    };
    expect(validate(config)).toBe(false);
    const problems = validate.errors!.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    expect(problems).toContainEqual(expect.stringMatching(/^\/receivers must NOT have additional properties .*"goruntme"/));
    expect(problems).toContainEqual(expect.stringMatching(/^\/exporters\/file must NOT have additional properties .*"dirctory"/));
    expect(problems).toContainEqual(expect.stringMatching(/^\/service\/limits\/memory /));
  });

  it('carries descriptions and defaults an editor shows, and accepts ${env:...} in any scalar', async () => {
    const schema = await printedSchema();
    const validate = validator(schema);
    const pprof = (schema as any).properties.receivers.properties.pprof;
    expect(pprof.properties.interval.default).toBe('10s');
    expect(pprof.properties.interval.description).toMatch(/scrape rounds/);
    expect(
      validate({
        receivers: { pprof: { interval: '${env:INTERVAL}', targets: [{ url: 'http://localhost:6060', service: 'go-demo' }] } },
        exporters: { console: {} },
        service: { pipelines: { p: { receivers: ['pprof'], exporters: ['console'] } } },
      }),
    ).toBe(true);
  });

  it('is committed as profcol.schema.json, up to date (regenerate: pnpm exec profcol schema > profcol.schema.json)', async () => {
    expect(JSON.parse(fs.readFileSync(committedSchema, 'utf8'))).toEqual(await printedSchema());
  });
});
