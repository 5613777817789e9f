/**
 * The short fuzz run of a package's test suite: each target as one vitest test of `runs` cases.
 * The seed is fixed so the suite is reproducible; `PROFCOL_FUZZ_SEED=N` runs another one, and
 * `scripts/fuzz.mjs` runs the long, randomly seeded campaign over the same targets.
 */
export const SUITE_SEED = Number(process.env.PROFCOL_FUZZ_SEED ?? 20261201);

/** Registers one `it` per target with `describe`/`it` of the calling test file. */
export function fuzzSuite({ fc, it, targets, runs }) {
  for (const target of targets) {
    const property = target.async
      ? fc.asyncProperty(target.arbitrary, (input) => target.check(input))
      : fc.property(target.arbitrary, (input) => target.check(input));
    it(target.feature, () => fc.assert(property, { numRuns: runs, seed: SUITE_SEED }));
  }
}
