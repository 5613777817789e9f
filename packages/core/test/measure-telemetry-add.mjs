// Cost of one Counter.add / Histogram.record for a label set seen before, for the record of
// issue 11 part 2; not a test (no timing assertions live in tests). Run after `pnpm exec tsc -b`:
//   node --expose-gc --max-semi-space-size=256 packages/core/test/measure-telemetry-add.mjs [OLD_TELEMETRY_JS]
// OLD_TELEMETRY_JS: the former hand-written telemetry.js, compiled, to measure side by side.
// Besides profcol's Telemetry it measures the SDK's own synchronous Counter.add, which hashes
// the attribute set on every call — the reason Telemetry records into its own series.
import { createRequire } from 'node:module';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Telemetry } from '../dist/index.js';

const require = createRequire(import.meta.url);
const { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');

const N = 1_000_000;
let scavenges = 0;
new PerformanceObserver((list) => (scavenges += list.getEntries().filter((e) => e.detail?.kind === 1).length)).observe({ entryTypes: ['gc'] });

/** ns per call and bytes allocated per call (heap growth with the young generation large enough that no scavenge runs). */
async function measure(label, fn) {
  for (let i = 0; i < 200_000; i++) fn(i); // warm up: the series exist, the code is optimised
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 10));
  scavenges = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - started) / N;
  const bytes = (process.memoryUsage().heapUsed - heapBefore) / N;
  await new Promise((r) => setTimeout(r, 10));
  console.log(`${label.padEnd(76)} ${ns.toFixed(1).padStart(6)} ns/op  ${bytes.toFixed(1).padStart(6)} B/op  ${scavenges} scavenges`);
}

const REASONS = ['too_many_uploads', 'memory_budget', 'bad_boundary', 'request_too_large'];
async function suite(name, telemetry) {
  const scoped = telemetry.scoped({ receiver: 'ddtrace' });
  const refused = scoped.counter('profcol_receiver_refused_uploads_total', 'refused');
  const fixed = { reason: 'too_many_uploads' };
  await measure(`${name}: add(1, same labels object)`, () => refused.add(1, fixed));
  await measure(`${name}: add(1, { reason: literal }) (4 label sets)`, (i) => refused.add(1, { reason: REASONS[i & 3] }));
  await measure(`${name}: add(1) no labels`, () => refused.add(1));
  if (scoped.histogram) {
    const seconds = scoped.histogram('profcol_receiver_upload_duration_seconds', 'upload', { unit: 's' });
    await measure(`${name}: histogram.record(0.004, same labels object)`, () => seconds.record(0.004, fixed));
  }
}

await suite('Telemetry (SDK MetricProducer)', new Telemetry({ onConflict: 'throw' }));
if (process.argv[2]) {
  const { Telemetry: Old } = await import(pathToFileURL(process.argv[2]).href);
  await suite('former hand-written Telemetry', new Old());
}
// A reader, or the SDK records nothing at all.
const provider = new MeterProvider({
  readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 3_600_000 })],
});
const meter = provider.getMeter('measure');
const sdkCounter = meter.createCounter('profcol_receiver_refused_uploads_total');
const sdkHistogram = meter.createHistogram('profcol_receiver_upload_duration_seconds', { unit: 's' });
const attrs = { receiver: 'ddtrace', reason: 'too_many_uploads' };
await measure('SDK sync Counter.add(1, same attributes object)', () => sdkCounter.add(1, attrs));
await measure('SDK sync Histogram.record(0.004, same attributes object)', () => sdkHistogram.record(0.004, attrs));
await provider.shutdown();
