/**
 * The promise the file exporter makes: every .pprof it writes opens in the official pprof
 * tool. This runs the machine's Go (`go tool pprof -top FILE`) on what it wrote.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ProfileBundle } from '@profcol/core';
import { decompressAndSummarize } from '@profcol/pprof';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DDTRACE_SHOWS,
  ddtraceBundle,
  fixture,
  GO_PPROF_FIXTURES,
  readJsonLines,
  scrapeBundle,
  setup,
  removeTempDirs,
  tempDir,
  zstdRawFrame,
} from './helpers.js';

afterAll(removeTempDirs);

const run = promisify(execFile);

interface PprofRun {
  file: string;
  code: number;
  output: string;
}

async function goToolPprofTop(file: string, scratch: string): Promise<PprofRun> {
  try {
    const { stdout, stderr } = await run('go', ['tool', 'pprof', '-top', file], {
      timeout: 60_000,
      // pprof keeps fetched profiles under $PPROF_TMPDIR; keep anything it writes in the test's folder.
      env: { ...process.env, PPROF_TMPDIR: scratch },
    });
    return { file, code: 0, output: stdout + stderr };
  } catch (error) {
    const failure = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (failure.code === 'ENOENT') throw new Error('`go` is not on PATH: this test needs Go to run `go tool pprof` (see the README)');
    return { file, code: typeof failure.code === 'number' ? failure.code : -1, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}${failure.message}` };
  }
}

/** Runs pprof on every file, two at a time (the machines have two cores). */
async function openAll(files: string[], scratch: string): Promise<PprofRun[]> {
  const results: PprofRun[] = [];
  const queue = [...files];
  await Promise.all(
    [0, 1].map(async () => {
      for (let file = queue.shift(); file; file = queue.shift()) results.push(await goToolPprofTop(file, scratch));
    }),
  );
  return results.sort((a, b) => a.file.localeCompare(b.file));
}

/** Every written file opens in `go tool pprof -top` (exit code 0) and shows the sample type expected of it. */
async function expectEachOpens(written: { file: string; path: string; shows: string }[], dir: string): Promise<void> {
  const runs = await openAll(
    written.map((w) => w.file),
    dir,
  );
  for (const w of written) {
    const result = runs.find((r) => r.file === w.file)!;
    expect({ file: w.path, code: result.code }).toEqual({ file: w.path, code: 0 });
    expect(result.output, w.path).toContain(`Type: ${w.shows}`);
  }
}

/** Exports the bundles and returns each written file with the sample type pprof must show. */
async function exportAndList(
  config: Record<string, unknown>,
  expectations: { service: string; type: string; shows: string }[],
  bundles = [ddtraceBundle(), scrapeBundle()],
) {
  const dir = await tempDir();
  const { exporter } = setup(dir, config);
  await exporter.consume({ bundles, metrics: [] });
  await exporter.shutdown?.();
  const written = readJsonLines(path.join(dir, 'bundles.jsonl')).flatMap((line) =>
    (line['profiles'] as { type: string; path: string; encoding: string; decompressed: boolean }[]).map((p) => ({
      service: (line['resource'] as { service: string }).service,
      ...p,
      file: path.join(dir, p.path),
    })),
  );
  expect(written.map((w) => `${w.service}:${w.type}`).sort()).toEqual(expectations.map((e) => `${e.service}:${e.type}`).sort());
  return { dir, written: written.map((w) => ({ ...w, shows: expectations.find((e) => e.service === w.service && e.type === w.type)!.shows })) };
}

const EXPECTED = [
  ...Object.entries(DDTRACE_SHOWS).map(([type, shows]) => ({ service: 'go-demo', type, shows })),
  ...GO_PPROF_FIXTURES.map(({ type, shows }) => ({ service: 'payments', type, shows })),
];

describe('every .pprof the file exporter writes opens in `go tool pprof -top`', () => {
  // Go builds `go tool pprof` on first use into its build cache (about 30 s on 2 idle cores, more
  // under the suite's load): do it once here, so no test's own timeout pays for it.
  beforeAll(async () => {
    try {
      await run('go', ['tool', '-n', 'pprof'], { timeout: 15 * 60_000 });
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') throw new Error('`go` is not on PATH: this test needs Go to run `go tool pprof` (see the README)');
      throw error;
    }
  }, 15 * 60_000);

  it('the check can fail: pprof refuses a file that is not a profile', async () => {
    const dir = await tempDir();
    const bogus = path.join(dir, 'bogus.pprof');
    writeFileSync(bogus, 'this is not a profile');
    const result = await goToolPprofTop(bogus, dir);
    expect(result.code).not.toBe(0);
  }, 60_000);

  it('as received: gzip bodies from net/http/pprof and raw protobuf from dd-trace-go', async () => {
    const { dir, written } = await exportAndList({}, EXPECTED);
    expect(new Set(written.map((w) => w.encoding))).toEqual(new Set(['gzip', 'none']));
    expect(written.every((w) => !w.decompressed)).toBe(true);
    await expectEachOpens(written, dir);
  }, 180_000);

  it('with decompress: true, and a zstd profile decompressed because pprof cannot read zstd', async () => {
    const zstdBundle = ddtraceBundle({
      resource: { service: 'zstd-demo' },
      profiles: [{ type: 'cpu', name: 'cpu.pprof', data: zstdRawFrame(fixture('ddtrace-go/cpu.pprof')) }],
    });
    const expectations = [...EXPECTED, { service: 'zstd-demo', type: 'cpu', shows: 'cpu' }];
    const { dir, written } = await exportAndList({ decompress: true }, expectations, [ddtraceBundle(), scrapeBundle(), zstdBundle]);
    expect(written.filter((w) => w.encoding !== 'none').every((w) => w.decompressed)).toBe(true);
    await expectEachOpens(written, dir);
  }, 180_000);

  it('after pprof_decode with keep_raw: false: only the decoded form is left, and that is written', async () => {
    const decodedOnly = (bundle: ProfileBundle): ProfileBundle => ({
      ...bundle,
      profiles: bundle.profiles.map((p) => ({ ...p, decoded: decompressAndSummarize(p.data), data: new Uint8Array(0) })),
    });
    const { dir, written } = await exportAndList({}, EXPECTED, [decodedOnly(ddtraceBundle()), decodedOnly(scrapeBundle())]);
    expect(written.every((w) => w.decompressed && w.encoding === 'none')).toBe(true);
    await expectEachOpens(written, dir);
  }, 180_000);
});
