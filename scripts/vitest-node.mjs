#!/usr/bin/env node
// `node scripts/vitest-node.mjs <major> <vitest args...>`: runs the repository's vitest under
// Node <major>, installed from the npm registry's `node` package into the profcol cache
// (test/setup/node-install.mjs), so that each package's unit tests also run on the Node
// release profcol's users run (the `test:node24` task; scripts/test.mjs sums its reports).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installNode } from '../test/setup/node-install.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [major, ...args] = process.argv.slice(2);
if (!/^\d+$/.test(major ?? '')) {
  console.error(`usage: node scripts/vitest-node.mjs <node major, e.g. 24> <vitest arguments> (got ${JSON.stringify(major)})`);
  process.exit(2);
}
let node;
try {
  node = await installNode(Number(major));
} catch (error) {
  console.error(`cannot run the unit tests under Node ${major}: ${error.message}`);
  process.exit(1);
}
const result = spawnSync(node, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
