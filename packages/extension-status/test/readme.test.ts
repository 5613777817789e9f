import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSchemaMarkdown } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { StatusExtension, statusConfigSchema } from '../src/index.js';

describe('status README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

  it('shows the configuration table generated from the schema', () => {
    expect(readme).toContain(renderSchemaMarkdown(statusConfigSchema));
  });

  it('lists every own metric of the extension', () => {
    const settings = createTestSettings({ id: 'status', kind: 'extension' });
    const parsed = statusConfigSchema.parse({});
    if (!parsed.ok) throw new Error('config');
    new StatusExtension(settings, parsed.value);
    const names = [...settings.registry.renderPrometheus().matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!);
    expect(names.length).toBe(5);
    for (const name of names) expect(readme).toContain(`| \`${name}\` |`);
  });
});
