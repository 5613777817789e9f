/**
 * Fuzz targets of @profcol/pprof (issue 10): every decompressor and zstd backend, the one-pass
 * summary (with and without stack filters), deltas, and the MemStats trailer parser. Each
 * target is an arbitrary of readable recipes (a real fixture and the edits made to it) and a
 * check that throws when a property does not hold:
 *  - nothing is thrown but the module's typed errors;
 *  - no output passes the decompression cap;
 *  - what is accepted agrees with a reference (zlib, the fixture it was compressed from,
 *    pprof-format's decode, another zstd backend, the summary of the delta's own bytes).
 *
 * Plain JavaScript so that `scripts/fuzz.mjs` runs these same targets under Node without a
 * build step for tests; the module under test is passed in (`src` under vitest, `dist` there).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { applyEdit, byteEdit, expectTyped, protobufEdit } from '../../../scripts/fuzz/mutate.mjs';

const repoFixtures = new URL('../../../test/fixtures/', import.meta.url);
const localFixtures = new URL('./fixtures/', import.meta.url);
const read = (base, name) => new Uint8Array(readFileSync(new URL(name, base)));

/** Caps from "smaller than any fixture" to "larger than any fixture but far below a bomb". */
const CAPS = [0, 1, 100, 4096, 65_536, 1 << 20, 8 << 20];

/** The raw (decompressed) pprof fixtures, by name. */
function rawProfiles() {
  const out = new Map();
  for (const name of readdirSync(new URL('ddtrace-go/', repoFixtures))) {
    if (name.endsWith('.pprof')) out.set(`ddtrace-go/${name}`, read(repoFixtures, `ddtrace-go/${name}`));
  }
  for (const name of readdirSync(new URL('go-pprof/', repoFixtures))) {
    if (name.endsWith('.pprof')) out.set(`go-pprof/${name}`, new Uint8Array(gunzipSync(read(repoFixtures, `go-pprof/${name}`))));
  }
  return out;
}

/** Edits applied to seed `recipe.seed`; splices take from the other seeds. */
function build(recipe, seeds) {
  let bytes = seeds[recipe.seed];
  for (const edit of recipe.edits) bytes = applyEdit(bytes, edit, seeds);
  return bytes;
}

function recipes(fc, seedCount, edits, maxEdits = 4) {
  return fc.record({ seed: fc.nat({ max: seedCount - 1 }), edits: fc.array(edits, { maxLength: maxEdits }) });
}

function sameBytes(a, b) {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

function fail(message) {
  throw new Error(message);
}

/** Equal as a sum of 64-bit integers read into doubles: exact below 2^53, else within double rounding. */
function closeEnough(a, b) {
  if (a === b) return true;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

/**
 * What pprof-format (an independent decoder) makes of `raw`: sample types, per-type totals,
 * sample count, and per filter the totals over samples with a matching frame. Undefined when
 * it cannot decode the bytes or they refer to strings, functions or locations that do not exist.
 */
function reference(raw, filters) {
  let p;
  try {
    p = Profile.decode(raw);
  } catch {
    return undefined;
  }
  const strings = p.stringTable.strings;
  const str = (i) => {
    const n = Number(i);
    return n >= 0 && n < strings.length ? strings[n] : undefined;
  };
  const sampleTypes = p.sampleType.map((t) => ({ type: str(t.type), unit: str(t.unit) }));
  if (sampleTypes.some((t) => t.type === undefined || t.unit === undefined)) return undefined;
  const n = sampleTypes.length;
  const totals = new Array(n).fill(0);
  for (const sample of p.sample) for (let i = 0; i < n && i < sample.value.length; i++) totals[i] += Number(sample.value[i]);
  let stackTotals;
  if (filters) {
    const fnNames = new Map(p.function.map((f) => [Number(f.id), str(f.name)]));
    const locations = new Map(p.location.map((l) => [Number(l.id), l]));
    const matches = (name, patterns) => patterns.some((pat) => (pat.endsWith('*') ? name.startsWith(pat.slice(0, -1)) : name === pat));
    stackTotals = {};
    for (const filter of filters) {
      const sums = new Array(n).fill(0);
      for (const sample of p.sample) {
        const hit = sample.locationId.some((id) => {
          const location = locations.get(Number(id));
          return location?.line.some((line) => {
            const name = fnNames.get(Number(line.functionId));
            return name !== undefined && matches(name, filter.patterns);
          });
        });
        if (hit) for (let i = 0; i < n && i < sample.value.length; i++) sums[i] += Number(sample.value[i]);
      }
      stackTotals[filter.name] = sums;
    }
  }
  return { sampleTypes, totals, sampleCount: p.sample.length, stackTotals };
}

/** Function names of the fixtures (and prefixes of them), for stack filters that match something. */
function functionNames(raws) {
  const names = new Set();
  for (const raw of raws) {
    const p = Profile.decode(raw);
    for (const f of p.function) names.add(p.stringTable.strings[Number(f.name)]);
  }
  return [...names].filter((n) => n && !n.includes('*')).sort();
}

/**
 * @param {{ fc: typeof import('fast-check'), pprof: typeof import('../src/index.js') }} deps
 * @returns {{ name: string, feature: string, arbitrary: unknown, check: (input: any) => void }[]}
 */
export function pprofFuzzTargets({ fc, pprof }) {
  const { decompress, decompressZstdWith, zstdBackends, summarizePprof, deltaProfiles, parseMemStatsTrailer, GC_STACK_FILTER } = pprof;
  const { DecompressError, DecompressedTooLargeError, PprofDecodeError, MemStatsParseError } = pprof;
  const raws = rawProfiles();
  const cap = fc.constantFrom(...CAPS);
  const anyEdit = fc.oneof({ weight: 3, arbitrary: byteEdit(fc) }, { weight: 2, arbitrary: protobufEdit(fc) });

  /**
   * A decompress target: seeds with what they decompress to (`expected`, or a zero run of
   * `zeros` bytes), mutated; the output never passes the cap, an unedited seed under a cap that
   * fits it gives back exactly what was compressed, and only DecompressError is thrown.
   */
  const decompressTarget = (name, seeds, run) => ({
    name,
    feature: `${name}: typed errors only, output within the cap, unedited input round-trips`,
    arbitrary: fc.record({ recipe: recipes(fc, seeds.length, byteEdit(fc)), maxBytes: cap }),
    check({ recipe, maxBytes }) {
      const input = build(
        recipe,
        seeds.map((s) => s.bytes),
      );
      let out;
      try {
        out = run(input, maxBytes);
      } catch (error) {
        expectTyped(error, DecompressError);
        const seed = seeds[recipe.seed];
        const size = seed.expected ? seed.expected.length : seed.zeros;
        if (recipe.edits.length === 0 && size <= maxBytes && !(error instanceof DecompressedTooLargeError))
          fail(`the unedited ${seed.name} was refused under a cap of ${maxBytes}: ${error.message}`);
        if (error instanceof DecompressedTooLargeError && error.maxBytes !== maxBytes)
          fail(`DecompressedTooLargeError names a cap of ${error.maxBytes}, the cap was ${maxBytes}`);
        return;
      }
      if (!(out instanceof Uint8Array)) fail(`returned ${typeof out}, not a Uint8Array`);
      if (out.length > maxBytes) fail(`returned ${out.length} bytes past the cap of ${maxBytes}`);
      if (recipe.edits.length === 0) {
        const seed = seeds[recipe.seed];
        if (seed.expected && !sameBytes(out, seed.expected))
          fail(`the unedited ${seed.name} decompressed to ${out.length} bytes that differ from the ${seed.expected.length} compressed`);
        if (seed.zeros !== undefined && (out.length !== seed.zeros || out.some((b) => b !== 0)))
          fail(`the unedited ${seed.name} did not decompress to ${seed.zeros} zeros`);
      }
    },
  });

  const mixedRaw = read(localFixtures, 'mixed.raw');
  const gzipSeeds = [
    ...[...raws].filter(([name]) => name.startsWith('go-pprof/')).map(([name, raw]) => ({ name, bytes: read(repoFixtures, name), expected: raw })),
    { name: 'mixed.raw, gzip level 1', bytes: new Uint8Array(gzipSync(mixedRaw, { level: 1 })), expected: mixedRaw },
    // Two members: gzip readers must decode both (RFC 1952 2.2).
    {
      name: 'two gzip members',
      bytes: new Uint8Array(Buffer.concat([gzipSync(mixedRaw.subarray(0, 1000)), gzipSync(mixedRaw.subarray(1000))])),
      expected: mixedRaw,
    },
    { name: '8 MiB of zeros, gzip', bytes: new Uint8Array(gzipSync(new Uint8Array(8 << 20), { level: 9 })), zeros: 8 << 20 },
  ];
  const zstdSeeds = [
    { name: 'goroutine.pprof.stream.zst', bytes: read(localFixtures, 'goroutine.pprof.stream.zst'), expected: raws.get('go-pprof/goroutine.pprof') },
    { name: 'cpu.pprof.stream.zst', bytes: read(localFixtures, 'cpu.pprof.stream.zst'), expected: raws.get('ddtrace-go/cpu.pprof') },
    { name: 'delta-heap.pprof.sized.zst', bytes: read(localFixtures, 'delta-heap.pprof.sized.zst'), expected: raws.get('ddtrace-go/delta-heap.pprof') },
    { name: 'zeros-1MiB.stream.zst', bytes: read(localFixtures, 'zeros-1MiB.stream.zst'), zeros: 1 << 20 },
    { name: 'bomb-64MiB-zeros.zst', bytes: read(localFixtures, 'bomb-64MiB-zeros.zst'), zeros: 64 << 20 },
    {
      name: 'two zstd frames (sized + streamed)',
      bytes: new Uint8Array(Buffer.concat([read(localFixtures, 'delta-heap.pprof.sized.zst'), read(localFixtures, 'cpu.pprof.stream.zst')])),
      expected: new Uint8Array(Buffer.concat([raws.get('ddtrace-go/delta-heap.pprof'), raws.get('ddtrace-go/cpu.pprof')])),
    },
  ];
  const lz4Seeds = [
    ...['mixed.independent.lz4', 'mixed.linked-blockchecksum-contentsize.lz4', 'mixed.nocrc.stdin.lz4'].map((name) => ({
      name,
      bytes: read(localFixtures, name),
      expected: mixedRaw,
    })),
    { name: 'bomb-8MiB-zeros.lz4', bytes: read(localFixtures, 'bomb-8MiB-zeros.lz4'), zeros: 8 << 20 },
  ];
  const rawSeeds = [...raws].map(([name, raw]) => ({ name, bytes: raw, expected: raw }));

  const targets = [
    decompressTarget('decompress gzip', gzipSeeds, (input, maxBytes) => decompress(input, { maxBytes })),
    decompressTarget('decompress zstd', zstdSeeds, (input, maxBytes) => decompress(input, { maxBytes })),
    decompressTarget('decompress lz4', lz4Seeds, (input, maxBytes) => decompress(input, { maxBytes })),
    decompressTarget('decompress raw', rawSeeds, (input, maxBytes) => decompress(input, { maxBytes })),
    ...zstdBackends().map((backend) =>
      decompressTarget(`zstd backend ${backend}`, zstdSeeds, (input, maxBytes) => decompressZstdWith(backend, input, maxBytes)),
    ),
    {
      name: 'zstd backends agree',
      feature: 'zstd backends agree: every backend that accepts an input gives the same bytes',
      arbitrary: fc.record({ recipe: recipes(fc, zstdSeeds.length, byteEdit(fc)), maxBytes: fc.constantFrom(65_536, 1 << 20, 8 << 20) }),
      check({ recipe, maxBytes }) {
        const input = build(
          recipe,
          zstdSeeds.map((s) => s.bytes),
        );
        const outcomes = zstdBackends().map((backend) => {
          try {
            return { backend, out: decompressZstdWith(backend, input, maxBytes) };
          } catch (error) {
            return { backend, error: expectTyped(error, DecompressError) };
          }
        });
        const accepted = outcomes.filter((o) => o.out);
        for (const o of accepted.slice(1)) {
          if (!sameBytes(o.out, accepted[0].out))
            fail(
              `zstd backends ${accepted[0].backend} and ${o.backend} accepted the input but gave ${accepted[0].out.length} and ${o.out.length} different bytes`,
            );
        }
      },
    },
  ];

  // summarizePprof: mutated raw profiles, with no filter, the GC filter, or filters on the fixtures' own function names.
  const profileSeeds = [...raws.values()];
  const names = functionNames(profileSeeds);
  const pattern = fc.oneof(
    fc.constantFrom(...names),
    fc.constantFrom(...names).map((n) => `${n.slice(0, Math.max(1, n.length >> 1))}*`),
    fc.constantFrom('runtime.*', 'main.*', 'a'),
  );
  const filters = fc.oneof(
    fc.constant(undefined),
    fc.constant([GC_STACK_FILTER]),
    fc
      .array(fc.array(pattern, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 })
      .map((sets) => sets.map((patterns, i) => ({ name: `f${i}`, patterns }))),
  );
  targets.push({
    name: 'summarizePprof',
    feature: "summarizePprof: PprofDecodeError only; totals, sample count and stack totals equal pprof-format's",
    arbitrary: fc.record({ recipe: recipes(fc, profileSeeds.length, anyEdit), filters }),
    check({ recipe, filters: stackFilters }) {
      const raw = build(recipe, profileSeeds);
      let summary;
      try {
        summary = summarizePprof(raw, { stackFilters });
      } catch (error) {
        expectTyped(error, PprofDecodeError);
        if (recipe.edits.length === 0) fail(`the unedited fixture ${recipe.seed} was refused: ${error.message}`);
        return;
      }
      if (summary.totals.length !== summary.sampleTypes.length) fail(`${summary.totals.length} totals for ${summary.sampleTypes.length} sample types`);
      const ref = reference(raw, stackFilters);
      if (!ref) {
        if (recipe.edits.length === 0) fail('pprof-format could not decode an unedited fixture');
        return;
      }
      if (JSON.stringify(ref.sampleTypes) !== JSON.stringify(summary.sampleTypes.map((t) => ({ type: t.type, unit: t.unit })))) {
        fail(`sample types ${JSON.stringify(summary.sampleTypes)} differ from pprof-format's ${JSON.stringify(ref.sampleTypes)}`);
      }
      if (ref.sampleCount !== summary.sampleCount) fail(`sample count ${summary.sampleCount}, pprof-format counts ${ref.sampleCount}`);
      ref.totals.forEach((total, i) => {
        if (!closeEnough(total, summary.totals[i])) fail(`total of ${ref.sampleTypes[i].type} is ${summary.totals[i]}, pprof-format sums ${total}`);
      });
      for (const [filter, sums] of Object.entries(ref.stackTotals ?? {})) {
        const got = summary.stackTotals?.[filter];
        if (!got || sums.some((s, i) => !closeEnough(s, got[i])))
          fail(`stack totals of ${filter} are ${JSON.stringify(got)}, pprof-format sums ${JSON.stringify(sums)}`);
      }
    },
  });

  // deltaProfiles: pairs of mutations of one cumulative profile family.
  const families = [
    { types: ['alloc_objects', 'alloc_space'], seeds: ['go-pprof/heap.pprof', 'go-pprof/allocs.pprof', 'ddtrace-go/delta-heap.pprof'] },
    {
      types: ['contentions', 'delay'],
      seeds: ['go-pprof/mutex.pprof', 'go-pprof/block.pprof', 'ddtrace-go/delta-mutex.pprof', 'ddtrace-go/delta-block.pprof'],
    },
  ].map((f) => ({ types: f.types, seeds: f.seeds.map((name) => raws.get(name)) }));
  const family = fc.nat({ max: families.length - 1 });
  const deltaCase = family.chain((f) =>
    fc.record({
      family: fc.constant(f),
      prev: recipes(fc, families[f].seeds.length, anyEdit, 3),
      cur: recipes(fc, families[f].seeds.length, anyEdit, 3),
      self: fc.boolean(),
    }),
  );
  targets.push({
    name: 'deltaProfiles',
    feature: "deltaProfiles: PprofDecodeError only; a delta's summary is that of its bytes, other types are kept from cur, x − x is zero",
    arbitrary: deltaCase,
    check({ family: f, prev: prevRecipe, cur: curRecipe, self }) {
      const { types, seeds } = families[f];
      const cur = build(curRecipe, seeds);
      const prev = self ? cur : build(prevRecipe, seeds);
      let result;
      try {
        result = deltaProfiles(prev, cur, types);
      } catch (error) {
        expectTyped(error, PprofDecodeError);
        return;
      }
      if (result.kind === 'reset') {
        if (self) fail(`a profile minus itself was taken for a reset: ${result.reason}`);
        return;
      }
      if (result.kind !== 'delta') fail(`kind ${result.kind}`);
      let own;
      try {
        own = summarizePprof(result.pprof);
      } catch (error) {
        fail(`the delta's own bytes do not decode: ${error.message}`);
      }
      const curSummary = summarizePprof(cur);
      const { decoded } = result;
      if (JSON.stringify(own.totals) !== JSON.stringify(decoded.totals) || own.sampleCount !== decoded.sampleCount || own.timeNanos !== decoded.timeNanos) {
        fail(
          `the delta's summary (${JSON.stringify(decoded.totals)}, ${decoded.sampleCount} samples) is not that of its bytes (${JSON.stringify(own.totals)}, ${own.sampleCount})`,
        );
      }
      decoded.sampleTypes.forEach((t, i) => {
        const isDelta = types.includes(t.type);
        if (!isDelta && !closeEnough(decoded.totals[i], curSummary.totals[i]))
          fail(`${t.type} is not delta'd, yet its total went from ${curSummary.totals[i]} to ${decoded.totals[i]}`);
        if (isDelta && self && decoded.totals[i] !== 0) fail(`${t.type} of a profile minus itself is ${decoded.totals[i]}, not 0`);
      });
    },
  });

  // parseMemStatsTrailer: the real heap?debug=1 text, mutated as bytes and as lines.
  const memText = read(localFixtures, 'heap-debug1.go126.txt');
  const lineEdit = fc.oneof(
    byteEdit(fc),
    fc.record({
      op: fc.constant('set'),
      at: fc.double({ min: 0.8, max: 1, maxExcluded: true, noNaN: true }),
      bytes: fc.constantFrom(
        ...['-1', 'Infinity', '1e400', '0x10', ' ', 'NaN', '[', ']', '/', '=', '\n# ', '\n# NumGC = ', '1/2'].map((s) => new TextEncoder().encode(s)),
      ),
    }),
  );
  targets.push({
    name: 'parseMemStatsTrailer',
    feature: 'parseMemStatsTrailer: MemStatsParseError only; what it accepts is finite, non-negative numbers as Go prints them',
    arbitrary: fc.record({ recipe: recipes(fc, 1, lineEdit, 6), latin1: fc.boolean() }),
    check({ recipe, latin1 }) {
      const text = Buffer.from(build(recipe, [memText])).toString(latin1 ? 'latin1' : 'utf8');
      let stats;
      try {
        stats = parseMemStatsTrailer(text, 1n);
      } catch (error) {
        expectTyped(error, MemStatsParseError);
        if (recipe.edits.length === 0) fail(`the unedited trailer was refused: ${error.message}`);
        return;
      }
      for (const [name, value] of Object.entries(stats.values)) {
        if (!Number.isFinite(value) || value < 0) fail(`accepted ${name} = ${value}: Go's MemStats fields are unsigned integers or a fraction`);
      }
      stats.pauseNs.forEach((v, i) => {
        if (!Number.isFinite(v) || v < 0) fail(`accepted PauseNs[${i}] = ${v}`);
      });
      stats.pauseEnd.forEach((v, i) => {
        if (v < 0n) fail(`accepted PauseEnd[${i}] = ${v}`);
      });
    },
  });
  return targets;
}
