import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSchemaMarkdown } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { healthCheckConfigSchema, HealthCheckExtension } from '../src/index.js';

describe('health_check README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

  it('shows the configuration table generated from the schema', () => {
    expect(readme).toContain(renderSchemaMarkdown(healthCheckConfigSchema));
  });

  it('lists every own metric the extension registers', () => {
    const settings = createTestSettings({ id: 'health_check', kind: 'extension' });
    const parsed = healthCheckConfigSchema.parse({});
    if (!parsed.ok) throw new Error('config');
    new HealthCheckExtension(settings, parsed.value);
    const names = [...settings.registry.renderPrometheus().matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!);
    expect(names.length).toBe(2);
    for (const name of names) expect(readme).toContain(`| \`${name}\` |`);
  });
});
