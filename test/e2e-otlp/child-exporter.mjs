// A profcol exporter in its own process, for the SIGKILL test: builds the `otlp` exporter
// through its factory (as the host does), feeds it the windows FROM..FROM+COUNT-1 and prints
// `acked <w> <ms>` each time consume() resolved — the moment a receiver would answer its client.
//   env: OTLP_CONFIG (JSON exporter config), BASE (bigint ns), FROM, COUNT
// SIGTERM shuts the exporter down (drain) and exits 0.
import { createLogger } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { otlpExporterFactory } from '@profcol/exporter-otlp';
import { batchFor } from './points.mjs';

const config = otlpExporterFactory.config.parse(JSON.parse(process.env.OTLP_CONFIG ?? '{}'));
if (!config.ok) {
  console.error(JSON.stringify(config.issues));
  process.exit(2);
}
const settings = createTestSettings({ id: 'otlp', kind: 'exporter', logger: createLogger({ level: 'info', format: 'json', destination: process.stderr }) });
const exporter = otlpExporterFactory.create(settings, config.value);
const stats = () => ({
  sent: settings.registry.value('profcol_exporter_sent_metric_points_total'),
  queue: settings.registry.value('profcol_exporter_queue_size'),
  replayed: settings.registry.value('profcol_exporter_queue_replayed_requests_total'),
  corrupt: settings.registry.value('profcol_exporter_queue_corrupt_files_total'),
  dropped: settings.registry.value('profcol_exporter_send_failed_metric_points_total'),
});
const say = (line) => process.stdout.write(line + '\n');

process.on('SIGTERM', async () => {
  await exporter.shutdown();
  say(`stopped ${JSON.stringify(stats())}`);
  process.exit(0);
});

await exporter.start(settings.host);
say(`ready ${JSON.stringify(stats())}`);
setInterval(() => say(`stats ${JSON.stringify(stats())}`), 100);
const base = BigInt(process.env.BASE ?? '0');
const from = Number(process.env.FROM ?? 0);
const count = Number(process.env.COUNT ?? 0);
for (let w = from; w < from + count; w++) {
  const started = performance.now();
  await exporter.consume(batchFor(base, w));
  say(`acked ${w} ${(performance.now() - started).toFixed(3)}`);
}
say('produced');
