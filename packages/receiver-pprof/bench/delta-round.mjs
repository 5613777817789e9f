// Cost of the pull-mode delta path of one cumulative profile per round: against the previous
// round's raw bytes (decoded again every round) and against a compact DeltaBaseline (what
// the receiver keeps), beside pprof-format's full decode + encode of the same profile (the
// floor of the previous, object-model implementation). Build first (`pnpm exec tsc -b packages/receiver-pprof` at the root), then
// `pnpm bench [heap-or-allocs.pprof.gz ...]` here (default: test/fixtures/go-pprof/heap.pprof,
// and a copy of it with 50x the samples). Reports the best of 7 batches: the machine may be busy.
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decompressAndSummarize, deltaBaseline, deltaProfiles, summarizePprof } from '@profcol/pprof';
import { Label, Profile, Sample } from 'pprof-format';

const root = new URL('../../../', import.meta.url);
const TYPES = ['alloc_objects', 'alloc_space'];

/** `rounds` successive cumulative scrapes of the fixture (alloc_* grow, time advances 10s); `widen` duplicates every stack with a distinct label. */
function series(gz, rounds, widen = 1) {
  const base = Profile.decode(gunzipSync(gz));
  const strings = base.stringTable.strings;
  const idx = base.sampleType.map((t, i) => (TYPES.includes(strings[Number(t.type)]) ? i : -1)).filter((i) => i >= 0);
  if (widen > 1) {
    const samples = [];
    const key = base.stringTable.dedup('copy');
    for (let c = 0; c < widen; c++) {
      const value = base.stringTable.dedup(String(c));
      for (const s of base.sample)
        samples.push(new Sample({ locationId: s.locationId, label: [...s.label, new Label({ key, str: value })], value: s.value.map(Number) }));
    }
    base.sample = samples;
  }
  const raw = base.encode();
  return Array.from({ length: rounds }, (_, n) => {
    const p = Profile.decode(raw);
    for (const s of p.sample) s.value = s.value.map((v, i) => (idx.includes(i) ? Number(v) * (n + 1) : Number(v)));
    p.timeNanos = BigInt(p.timeNanos) + BigInt(n) * 10_000_000_000n;
    return new Uint8Array(gzipSync(p.encode()));
  });
}

/** Best of 7 batches of ~200 ms, in µs per round: the machine may be busy, the minimum is the cost. */
function time(label, rounds, fn) {
  const n = rounds.length - 1;
  let best = Infinity;
  for (let batch = 0; batch < 7; batch++) {
    const start = process.hrtime.bigint();
    let reps = 0;
    while (reps === 0 || process.hrtime.bigint() - start < 200_000_000n) {
      for (let i = 0; i < n; i++) fn(i);
      reps += n;
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / reps);
  }
  console.log(`  ${label.padEnd(58)} ${best.toFixed(1).padStart(9)} µs/round`);
  return best;
}

function run(name, bodies) {
  const raws = bodies.map((b) => decompressAndSummarize(b).pprof);
  const baselines = raws.map((raw) => deltaBaseline(raw, TYPES));
  const deltas = raws
    .slice(1)
    .map((cur, i) => deltaProfiles(raws[i], cur, TYPES))
    .map((r) => r.pprof);
  console.log(`${name}: ${bodies[0].length} B gzip, ${raws[0].length} B raw, ${summarizePprof(raws[0]).sampleCount} samples, delta ${deltas[0].length} B`);
  time('(warm-up)', bodies, (i) => deltaProfiles(baselines[i], decompressAndSummarize(bodies[i + 1]), TYPES).decoded);
  // What the receiver did before baselines: the previous round's raw bytes decoded again.
  const before = time('round with raw previous bytes (decoded again)', bodies, (i) => {
    const cur = decompressAndSummarize(bodies[i + 1]);
    return deltaProfiles(raws[i], cur.pprof, TYPES).decoded;
  });
  // What the receiver does now: a compact baseline, the current profile's summary reused,
  // the delta's summary (result.decoded) computed with it.
  const now = time('round with a DeltaBaseline (what the receiver does)', bodies, (i) => {
    const cur = decompressAndSummarize(bodies[i + 1]);
    return deltaProfiles(baselines[i], cur, TYPES).decoded;
  });
  time('  of which decompressAndSummarize(body): gunzip + summarize (needed)', bodies, (i) => decompressAndSummarize(bodies[i + 1]));
  time("  of which summarizePprof(delta) (the delta's own summary)", bodies, (i) => summarizePprof(deltas[i]));
  // The floor of the previous implementation, which decoded the current profile with
  // pprof-format and encoded the delta with it (~750 µs a round on heap.pprof).
  const objects = time('baseline: pprof-format Profile.decode + encode of the current profile', bodies, (i) => Profile.decode(raws[i + 1]).encode());
  console.log(
    `  a round costs ${Math.round((1 - now / before) * 100)}% less with a baseline; it is ${(objects / now).toFixed(1)}x faster than pprof-format's decode + encode alone\n`,
  );
}

const args = process.argv.slice(2);
if (args.length > 0) for (const file of args) run(file, series(readFileSync(file), 8));
else {
  const heap = readFileSync(new URL('test/fixtures/go-pprof/heap.pprof', root));
  run('go-pprof/heap.pprof', series(heap, 8));
  run('go-pprof/heap.pprof x50 stacks', series(heap, 8, 50));
}
