import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as core from '../src/index.js';
import { fuzzSuite } from '../../../scripts/fuzz/vitest.mjs';
import { configFuzzTargets } from './fuzz-targets.mjs';

// The repository's pipelines and files with anchors, merge keys and ${env:...}, mutated: the
// properties are in fuzz-targets.mjs. The long run, with a deadline per case, is scripts/fuzz.mjs.
describe('configuration loader under fuzzed YAML', () => {
  fuzzSuite({ fc, it, targets: configFuzzTargets({ fc, core }), runs: 150 });
});

// Found by the long fuzz run (seed 392424831): a map as a key with a merge key inside it made
// parseConfigText throw the yaml library's "Merge sources must be maps or map aliases".
describe('configuration keys that are maps or lists', () => {
  it.each(['? <<: *a\nx: 1\n', 'receivers:\n  ? [a, b]\n  : 1\n'])('are an issue at their line, not an exception: %j', (text) => {
    const parsed = core.parseConfigText(text, 'keys.yaml', {});
    expect(parsed.issues).toEqual([
      expect.objectContaining({ message: 'a key must be a plain value (a name), not a map or a list', file: 'keys.yaml', line: text.startsWith('?') ? 1 : 2 }),
    ]);
  });
});
