import fc from 'fast-check';
import { describe, it } from 'vitest';
import * as pprof from '../src/index.js';
import { fuzzSuite } from '../../../scripts/fuzz/vitest.mjs';
import { pprofFuzzTargets } from './fuzz-targets.mjs';

// Mutated real fixtures (bit flips, truncation, splices, blown-up varint lengths, duplicated
// fields): every target's properties are in fuzz-targets.mjs. The long run is scripts/fuzz.mjs.
describe('@profcol/pprof under fuzzed input', () => {
  fuzzSuite({ fc, it, targets: pprofFuzzTargets({ fc, pprof }), runs: 200 });
});
