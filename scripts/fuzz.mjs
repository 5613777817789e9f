#!/usr/bin/env node
/**
 * The long fuzz run (issue 10): every fuzz target of the packages (`packages/*\/test/fuzz-targets.mjs`,
 * the same ones their test suites run briefly) for `--cases` cases in all, with a random or
 * given `--seed`, against the built packages (`pnpm exec tsc -b` first).
 *
 *   node scripts/fuzz.mjs [--cases=100000] [--seed=N] [--deadline-ms=10000] [--target=TEXT]
 *
 * Each package's targets run in a worker thread. The worker counts every case it starts in a
 * shared counter; when a case runs past `--deadline-ms` (no case finished in that time), the
 * worker is terminated and the case is reported as a hang with the seed and fast-check `path`
 * that replay it, and a new worker goes on with the next batch. A worker that runs out of its
 * heap (`--heap-mb`, 512 by default) is reported the same way. So no wall-clock assertion lives
 * in a unit test: the time bound of a case is this supervisor's.
 *
 * Prints per target the cases run, failures and hangs, each failure with its seed, path and
 * counterexample (a readable recipe: fixture and edits), and ends with one summary line.
 * Exits 1 when anything failed or hung.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where each package's targets are and what they are given: fast-check and the built modules. */
const PACKAGES = {
  pprof: async (fc) => {
    const pprof = await import(dist('pprof', 'index.js'));
    const { pprofFuzzTargets } = await import(targetsOf('pprof'));
    return pprofFuzzTargets({ fc, pprof });
  },
  'receiver-ddtrace': async (fc) => {
    const [multipart, upload, errors, core, pprof] = await Promise.all(
      [
        dist('receiver-ddtrace', 'multipart.js'),
        dist('receiver-ddtrace', 'upload.js'),
        dist('receiver-ddtrace', 'errors.js'),
        dist('core', 'index.js'),
        dist('pprof', 'index.js'),
      ].map((m) => import(m)),
    );
    // Decoding on this thread (no decode workers), under the 8 MiB cap the package's own test uses.
    const decoder = pprof.ProfileDecoder.for({ limits: core.createServiceLimits({ decodeWorkers: 0, maxDecompressedBytes: 8 << 20 }) });
    const { ddtraceFuzzTargets } = await import(targetsOf('receiver-ddtrace'));
    return ddtraceFuzzTargets({ fc, multipart, upload, errors, decoder });
  },
  core: async (fc) => {
    const core = await import(dist('core', 'index.js'));
    const { configFuzzTargets } = await import(targetsOf('core'));
    return configFuzzTargets({ fc, core });
  },
};

function dist(pkg, file) {
  return pathToFileURL(path.join(root, 'packages', pkg, 'dist', file)).href;
}

function targetsOf(pkg) {
  return pathToFileURL(path.join(root, 'packages', pkg, 'test', 'fuzz-targets.mjs')).href;
}

// ---- worker: runs batches of one package's targets.

async function work() {
  const { pkg, progress } = workerData;
  const counter = new Int32Array(progress);
  // fast-check as the package resolves it (a devDependency of each package with targets).
  const fc = createRequire(path.join(root, 'packages', pkg, 'package.json'))('fast-check');
  const targets = await PACKAGES[pkg](fc);
  parentPort.postMessage({ type: 'targets', names: targets.map((t) => t.name) });
  parentPort.on('message', async ({ target: name, seed, runs }) => {
    const target = targets.find((t) => t.name === name);
    const started = (input) => {
      Atomics.add(counter, 0, 1);
      return target.check(input);
    };
    const property = target.async ? fc.asyncProperty(target.arbitrary, started) : fc.property(target.arbitrary, started);
    const details = await fc.check(property, { numRuns: runs, seed });
    parentPort.postMessage({
      type: 'done',
      numRuns: details.numRuns,
      failed: details.failed,
      seed: details.seed,
      path: details.counterexamplePath,
      counterexample: details.failed ? clip(fc.stringify(details.counterexample), 600) : undefined,
      error: details.failed ? clip(String(details.errorInstance?.cause?.message ?? details.errorInstance?.message ?? details.error), 600) : undefined,
    });
  });
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ---- main: supervises the workers.

function parseArgs(argv) {
  const options = { cases: 100_000, seed: (Date.now() ^ (process.pid << 10)) >>> 1, deadlineMs: 10_000, heapMb: 512, target: undefined, batch: 1000 };
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (!m) throw new Error(`fuzz: unknown argument "${arg}" (accepted: --cases=N --seed=N --deadline-ms=N --heap-mb=N --target=TEXT --batch=N)`);
    const [, key, value] = m;
    const number = Number(value);
    if (key === 'target') options.target = value;
    else if (['cases', 'seed', 'deadline-ms', 'heap-mb', 'batch'].includes(key) && Number.isInteger(number) && number >= 0) {
      options[key.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = number;
    } else
      throw new Error(`fuzz: --${key}=${value}: expected --cases, --seed, --deadline-ms, --heap-mb or --batch with a non-negative integer, or --target=TEXT`);
  }
  return options;
}

class PackageWorker {
  constructor(pkg, options) {
    this.pkg = pkg;
    this.options = options;
    this.progress = new SharedArrayBuffer(4);
    this.counter = new Int32Array(this.progress);
  }

  /** Starts the worker and resolves with its target names. */
  start() {
    this.worker = new Worker(fileURLToPath(import.meta.url), {
      workerData: { pkg: this.pkg, progress: this.progress },
      resourceLimits: { maxOldGenerationSizeMb: this.options.heapMb },
      stdout: true,
    });
    this.worker.stdout.resume(); // what the code under test prints is not the report
    return new Promise((resolve, reject) => {
      this.worker.once('message', (m) => resolve(m.names));
      this.worker.once('error', reject);
    });
  }

  /** Runs one batch; resolves with its result, or a hang/crash once the worker had to go. */
  run(target, seed, runs) {
    const before = Atomics.load(this.counter, 0);
    return new Promise((resolve) => {
      let last = before;
      let lastChange = Date.now();
      const settle = (result) => {
        clearInterval(watch);
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
        resolve(result);
      };
      const onMessage = (m) => m.type === 'done' && settle(m);
      const onError = (error) => {
        const started = Atomics.load(this.counter, 0) - before;
        settle({ crashed: `${error.code ?? error.name}: ${error.message}`, numRuns: Math.max(0, started - 1), seed, path: String(Math.max(0, started - 1)) });
      };
      // The structural time bound: a case that has not finished within the deadline ends the worker.
      const watch = setInterval(() => {
        const now = Atomics.load(this.counter, 0);
        if (now !== last) {
          last = now;
          lastChange = Date.now();
        } else if (Date.now() - lastChange > this.options.deadlineMs) {
          const started = now - before;
          settle({ hung: true, numRuns: Math.max(0, started - 1), seed, path: String(Math.max(0, started - 1)) });
        }
      }, 100);
      this.worker.on('message', onMessage);
      this.worker.on('error', onError);
      this.worker.postMessage({ target, seed, runs });
    });
  }

  async restart() {
    await this.worker.terminate();
    await this.start();
  }

  stop() {
    return this.worker.terminate();
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  for (const pkg of Object.keys(PACKAGES)) {
    if (!existsSync(fileURLToPath(dist(pkg, 'index.js')))) {
      console.error(`fuzz: packages/${pkg}/dist is missing: build first (pnpm exec tsc -b)`);
      process.exit(2);
    }
  }
  const workers = [];
  for (const pkg of Object.keys(PACKAGES)) {
    const worker = new PackageWorker(pkg, options);
    const names = await worker.start();
    workers.push({ worker, names: names.filter((n) => !options.target || `${pkg}/${n}`.includes(options.target)) });
  }
  const targetCount = workers.reduce((n, w) => n + w.names.length, 0);
  if (targetCount === 0) {
    console.error(`fuzz: no target matches --target=${options.target}`);
    process.exit(2);
  }
  const perTarget = Math.ceil(options.cases / targetCount);
  console.log(
    `fuzz: ${options.cases} cases over ${targetCount} targets (${perTarget} each), seed ${options.seed}, a case may take ${options.deadlineMs} ms (node ${process.version})`,
  );
  const rows = [];
  const problems = [];
  const startedAll = Date.now();
  let targetIndex = 0;
  for (const { worker, names } of workers) {
    for (const name of names) {
      const row = { target: `${worker.pkg}/${name}`, cases: 0, failures: 0, hangs: 0, ms: 0 };
      const started = Date.now();
      for (let batch = 0; row.cases < perTarget; batch++) {
        // Reproducible from --seed alone: each batch of each target has its own derived seed.
        const seed = (options.seed + targetIndex * 1_000_003 + batch * 7919) | 0;
        const runs = Math.min(options.batch, perTarget - row.cases);
        const result = await worker.run(name, seed, runs);
        row.cases += result.hung || result.crashed ? result.numRuns + 1 : result.numRuns;
        if (result.hung || result.crashed) {
          row.hangs++;
          problems.push({
            target: row.target,
            kind: result.hung ? `hang (no case finished in ${options.deadlineMs} ms)` : `crash (${result.crashed})`,
            seed,
            path: result.path,
          });
          await worker.restart();
        } else if (result.failed) {
          row.failures++;
          problems.push({
            target: row.target,
            kind: 'property failed',
            seed: result.seed,
            path: result.path,
            counterexample: result.counterexample,
            error: result.error,
          });
          // The batch ended at its failure; the rest of its cases run in the next batches.
        } else if (result.numRuns < runs) {
          throw new Error(`fuzz: ${row.target} ran ${result.numRuns} of ${runs} cases without failing (fast-check skipped cases?)`);
        }
      }
      row.ms = Date.now() - started;
      rows.push(row);
      console.log(
        `  ${row.target.padEnd(44)} ${String(row.cases).padStart(7)} cases  ${String(row.failures).padStart(3)} failed  ${String(row.hangs).padStart(3)} hung  ${(row.ms / 1000).toFixed(1).padStart(6)} s`,
      );
      targetIndex++;
    }
    await worker.stop();
  }
  for (const p of problems) {
    console.log(`\n${p.target}: ${p.kind}\n  replay: fc.check(property, { seed: ${p.seed}, path: "${p.path}" })`);
    if (p.counterexample) console.log(`  counterexample: ${p.counterexample}`);
    if (p.error) console.log(`  error: ${p.error}`);
  }
  const total = rows.reduce((n, r) => n + r.cases, 0);
  const failed = rows.reduce((n, r) => n + r.failures, 0);
  const hung = rows.reduce((n, r) => n + r.hangs, 0);
  console.log(
    `\nfuzz: ${total} cases, ${rows.length} targets, ${failed} failed, ${hung} hung or crashed, seed ${options.seed}, ${((Date.now() - startedAll) / 1000).toFixed(1)} s`,
  );
  process.exitCode = failed + hung > 0 ? 1 : 0;
}

// Last, so that every declaration above is initialised before either side runs.
if (isMainThread) await main();
else await work();
