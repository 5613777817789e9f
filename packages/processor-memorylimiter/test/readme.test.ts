import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSchemaMarkdown } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { createMemoryLimiter, memoryLimiterConfigSchema } from '../src/index.js';

describe('memory_limiter README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

  it('shows the configuration table generated from the schema', () => {
    expect(readme).toContain(renderSchemaMarkdown(memoryLimiterConfigSchema));
  });

  it('lists every own metric the processor registers', () => {
    const settings = createTestSettings({ id: 'memory_limiter', kind: 'processor' });
    const parsed = memoryLimiterConfigSchema.parse({ limit_mib: 100 });
    if (!parsed.ok) throw new Error('config');
    createMemoryLimiter(settings, parsed.value);
    const names = [...settings.registry.renderPrometheus().matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!);
    expect(names.length).toBe(7);
    for (const name of names) expect(readme).toContain(`| \`${name}\` |`);
  });
});
