/**
 * Fuzz targets of the configuration loader (issue 10): the repository's pipelines and a few
 * files with anchors, aliases, merge keys and `${env:...}`, mutated as bytes and with YAML
 * tokens inserted (anchors, aliases, `<<`, flow brackets, tabs, `${env:` half-written).
 * Properties: `parseConfigText`, `loadConfigFiles` and `planPipelines` never throw, each
 * problem is a `ConfigIssue` pointing into the file, and no message ever shows the value of an
 * environment variable (it stands for a secret). Time is bounded by `scripts/fuzz.mjs`, which
 * runs each case under a deadline (a billion-laughs file must be refused, not expanded).
 *
 * Plain JavaScript so that `scripts/fuzz.mjs` runs the same targets; `core` is passed in
 * (`src` under vitest, `dist` there).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyEdit, byteEdit } from '../../../scripts/fuzz/mutate.mjs';

const pipelines = new URL('../../../pipelines/', import.meta.url);

/** The value of the environment variable every seed refers to: it must never appear in a message. */
const SECRET = 'TopSecret-7f3a9c';

const EXTRA_SEEDS = [
  `x-common: &common\n  interval: 10s\n  timeout: 5s\nreceivers:\n  ddtrace:\n    endpoint: \${env:SECRET_ENDPOINT}\n    api_keys: \${env:SECRET}\n  ddtrace/b:\n    <<: *common\n    endpoint: "127.0.0.1:0"\nexporters:\n  otlp:\n    endpoint: \${env:MISSING:-http://localhost:4318}\n    headers: { Authorization: "Bearer \${env:SECRET}" }\nservice:\n  pipelines:\n    metrics: { receivers: [ddtrace, ddtrace/b], exporters: [otlp] }\n`,
  'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
  'receivers:\n  ddtrace: {}\n  ddtrace: {}\nservice: $${env:SECRET}\n',
];

const TOKENS = [
  '&a ',
  '*a',
  '<<: *a\n',
  '${env:SECRET}',
  '${env:',
  '${env:SECRET:-x}',
  '$$',
  ': ',
  '- ',
  '\n  ',
  '\t',
  '{',
  '}',
  '[',
  ']',
  '"',
  "'",
  '!!binary ',
  '%YAML 1.2\n---\n',
  '? ',
  '\n---\n',
  '#',
  '|\n',
  '>-\n',
  '\u0000',
  '\uFEFF',
];

function fail(message) {
  throw new Error(message);
}

/** @param {{ fc: typeof import('fast-check'), core: typeof import('../src/index.js') }} deps */
export function configFuzzTargets({ fc, core }) {
  const { parseConfigText, loadConfigFiles, planPipelines, ComponentRegistry, definePlugin, defineReceiver, defineExporter, s, HOST_API_VERSION } = core;
  const encoder = new TextEncoder();
  const seeds = [
    ...readdirSync(pipelines)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => readFileSync(new URL(f, pipelines), 'utf8')),
    ...EXTRA_SEEDS,
  ].map((t) => encoder.encode(t));
  const env = { SECRET, SECRET_ENDPOINT: `${SECRET}:9529`, OTLP_ENDPOINT: `http://${SECRET}` };

  // Two components with the shapes that carry secrets (the ddtrace receiver's api_keys, the otlp exporter's headers).
  const registry = new ComponentRegistry();
  registry.register(
    definePlugin({
      name: '@profcol/fuzz-components',
      version: '0.0.0',
      profcol: `^${HOST_API_VERSION}`,
      components: [
        defineReceiver({
          type: 'ddtrace',
          stability: 'development',
          config: s.object({
            endpoint: s.string({ default: 'localhost:9529' }),
            api_keys: s.array(s.string(), { default: [], secret: true }),
            interval: s.duration({ default: '10s' }),
          }),
          create: () => ({ start() {}, shutdown() {} }),
        }),
        defineExporter({
          type: 'otlp',
          stability: 'development',
          config: s.object({ endpoint: s.string({ default: 'http://localhost:4318' }), headers: s.record(s.string(), { default: {}, secret: true }) }),
          create: () => ({ start() {}, shutdown() {}, consume: async () => {} }),
        }),
      ],
    }),
  );

  const edit = fc.oneof(
    { weight: 2, arbitrary: byteEdit(fc) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('insert'),
        at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        bytes: fc.constantFrom(...TOKENS).map((t) => encoder.encode(t)),
      }),
    },
  );
  const recipe = fc.record({ seed: fc.nat({ max: seeds.length - 1 }), edits: fc.array(edit, { maxLength: 5 }) });
  const textOf = (r) => new TextDecoder().decode(r.edits.reduce((bytes, e) => applyEdit(bytes, e, seeds), seeds[r.seed]));

  const checkIssues = (issues, files, text) => {
    for (const issue of issues) {
      if (typeof issue.message !== 'string' || issue.message === '') fail(`an issue without a message: ${JSON.stringify(issue)}`);
      if (typeof issue.path !== 'string') fail(`an issue without a path: ${JSON.stringify(issue)}`);
      if (issue.message.includes(SECRET)) fail(`an issue shows the value of an environment variable: ${issue.message}`);
      if (issue.file !== undefined && !files.includes(issue.file)) fail(`an issue names file ${issue.file}, not one of ${files.join(', ')}`);
      const lines = text.split('\n').length + 1;
      if (issue.line !== undefined && !(Number.isInteger(issue.line) && issue.line >= 1 && issue.line <= lines))
        fail(`an issue points at line ${issue.line} of a ${lines}-line file`);
    }
  };

  return [
    {
      name: 'parseConfigText',
      feature: 'parseConfigText: never throws, every problem is an issue at a line of the file, no issue shows an environment value',
      arbitrary: recipe,
      check(r) {
        const text = textOf(r);
        let parsed;
        try {
          parsed = parseConfigText(text, 'fuzz.yaml', env);
        } catch (error) {
          fail(`parseConfigText threw ${error?.constructor?.name}: ${error?.message}`);
        }
        checkIssues(parsed.issues, ['fuzz.yaml'], text);
        if (r.edits.length === 0 && r.seed < seeds.length - 2 && parsed.issues.length > 0)
          fail(`an unedited seed has issues: ${parsed.issues.map((i) => i.message).join('; ')}`);
      },
    },
    {
      name: 'loadConfigFiles + planPipelines',
      feature: 'loadConfigFiles and planPipelines: two mutated files merged and validated without a throw; issues name the files, never an environment value',
      arbitrary: fc.record({ first: recipe, second: fc.option(recipe, { nil: undefined }) }),
      check({ first, second }) {
        const dir = mkdtempSync(path.join(os.tmpdir(), 'profcol-fuzz-config-'));
        try {
          const texts = [textOf(first), ...(second ? [textOf(second)] : [])];
          const files = texts.map((text, i) => {
            const file = path.join(dir, `config-${i}.yaml`);
            writeFileSync(file, text);
            return file;
          });
          let loaded;
          let planned;
          try {
            loaded = loadConfigFiles(files, env);
            planned = planPipelines(loaded, registry);
          } catch (error) {
            fail(`threw ${error?.constructor?.name}: ${error?.message}`);
          }
          checkIssues(loaded.issues, files, texts.join('\n'));
          for (const issue of planned.issues) {
            if (issue.message.includes(SECRET)) fail(`a planning issue shows the value of an environment variable: ${issue.message}`);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    },
  ];
}
