import fc from 'fast-check';
import { describe, it } from 'vitest';
import * as core from '../src/index.js';
import { fuzzSuite } from '../../../scripts/fuzz/vitest.mjs';
import { configFuzzTargets } from './fuzz-targets.mjs';

// The repository's pipelines and files with anchors, merge keys and ${env:...}, mutated: the
// properties are in fuzz-targets.mjs. The long run, with a deadline per case, is scripts/fuzz.mjs.
describe('configuration loader under fuzzed YAML', () => {
  fuzzSuite({ fc, it, targets: configFuzzTargets({ fc, core }), runs: 150 });
});
