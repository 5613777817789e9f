import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSchemaMarkdown } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { createGoRuntimeProcessor, DEFAULT_GC_FRAMES, GO_METRICS, GO_METRIC_NAMES, GoRuntimeConfig } from '../src/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('goruntime README', () => {
  it('shows the configuration table generated from the schema', () => {
    expect(readme).toContain(renderSchemaMarkdown(GoRuntimeConfig));
  });

  it('states the unit of each of the 15 metrics as the points carry it', () => {
    for (const name of GO_METRIC_NAMES) expect(readme).toContain(`| \`${name}\` | \`${GO_METRICS[name].unit}\` |`);
  });

  it('lists every default GC frame', () => {
    for (const pattern of DEFAULT_GC_FRAMES) expect(readme).toContain(`\`${pattern.replace(/\.func\*$/, '')}`);
  });

  it('lists every own metric, each named profcol_processor_<verb>_<noun>_total like the other components', () => {
    const settings = createTestSettings({ id: 'goruntime', kind: 'processor' });
    const parsed = GoRuntimeConfig.parse({});
    if (!parsed.ok) throw new Error('config');
    createGoRuntimeProcessor(settings, parsed.value);
    const names = [...settings.registry.renderPrometheus().matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!);
    expect(names).toContain('profcol_processor_decode_failed_profiles_total');
    for (const name of names) {
      expect(name).not.toMatch(/_(omitted|missed|dropped|failed)_total$/);
      expect(readme).toContain(`| \`${name}\` |`);
    }
  });
});
