#!/usr/bin/env node
// Regenerates the configuration table of every component package's README from the
// component's schema (the single source of defaults, types and descriptions).
// Usage: pnpm exec tsc -b && node scripts/config-docs.mjs [--check]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const { builtinPlugins } = await import(path.join(root, 'packages/cli/dist/index.js'));
const { renderSchemaMarkdown } = await import(path.join(root, 'packages/core/dist/index.js'));
const HEADER = '| key | type | default | description |';
let stale = 0;
for (const plugin of builtinPlugins) {
  const readme = path.join(root, 'packages', plugin.name.replace('@profcol/', ''), 'README.md');
  const text = fs.readFileSync(readme, 'utf8');
  const lines = text.split('\n');
  const start = lines.indexOf(HEADER);
  if (start < 0) throw new Error(`${readme} has no configuration table`);
  let end = start;
  while (end < lines.length && lines[end].startsWith('|')) end++;
  const table = renderSchemaMarkdown(plugin.components[0].config);
  const updated = [...lines.slice(0, start), table, ...lines.slice(end)].join('\n');
  if (updated !== text) {
    stale++;
    if (!check) fs.writeFileSync(readme, updated);
    console.log(`${check ? 'stale' : 'updated'}: ${path.relative(root, readme)}`);
  }
}
process.exit(check && stale > 0 ? 1 : 0);
