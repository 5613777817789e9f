/** docs/operations.md stays the one list of profcol's own metrics an operator can trust. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../lib/profcol.js';

/** Every metric name written as a string literal in a package's sources: how components register them. */
function registeredMetricNames(): string[] {
  const names = new Set<string>();
  const packages = path.join(repoRoot, 'packages');
  for (const pkg of fs.readdirSync(packages)) {
    const src = path.join(packages, pkg, 'src');
    if (!fs.existsSync(src)) continue;
    for (const file of fs.readdirSync(src, { recursive: true }).map(String)) {
      if (!file.endsWith('.ts')) continue;
      const text = fs.readFileSync(path.join(src, file), 'utf8');
      for (const match of text.matchAll(/'(profcol_[a-z0-9_]+)'/g)) names.add(match[1]!);
    }
  }
  return [...names].sort();
}

describe('docs/operations.md', () => {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'operations.md'), 'utf8');

  it('lists every own metric a package registers', () => {
    const names = registeredMetricNames();
    expect(names.length).toBeGreaterThan(50);
    expect(names.filter((name) => !doc.includes(`| \`${name}\` |`))).toEqual([]);
  });

  it('lists the default port of every listener', () => {
    for (const port of ['9529', '8888', '13133', '55679']) expect(doc).toMatch(new RegExp(`^\\| ${port} \\|`, 'm'));
  });
});
