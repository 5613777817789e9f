// Times parseConfigText on generated configurations of the given sizes (MB), for the
// record of issue 10 item 6 (CPU and wall time); not a test. Run after `pnpm exec tsc -b`:
//   node packages/core/test/measure-config-parse.mjs 1 8 50
import { parseConfigText } from '../dist/index.js';

/** `receivers:` with one pprof receiver per target, each a small map: many keys in one map. */
function generate(megabytes) {
  const parts = ['receivers:\n'];
  let size = parts[0].length;
  for (let i = 0; size < megabytes * 1024 * 1024; i++) {
    const entry = `  pprof/t${i}:\n    interval: 10s\n    targets:\n      - url: http://10.0.${(i >> 8) & 255}.${i & 255}:6060\n`;
    parts.push(entry);
    size += entry.length;
  }
  parts.push('exporters:\n  console: {}\n');
  return parts.join('');
}

for (const mb of process.argv.slice(2).map(Number)) {
  const text = generate(mb);
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const parsed = parseConfigText(text, `${mb}MB.yaml`, {});
  const cpu = process.cpuUsage(cpuBefore);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  // CPU time is the figure to compare on a shared machine; wall time grows with its load.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  console.log(
    `${mb} MB (${Object.keys(parsed.tree.receivers ?? {}).length} receivers): ${cpuSeconds.toFixed(2)} s CPU, ${(ms / 1000).toFixed(2)} s wall, ${parsed.issues.length} issues`,
  );
}
