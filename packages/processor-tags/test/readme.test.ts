import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSchemaMarkdown } from '@profcol/core';
import { createTestSettings } from '@profcol/core/testing';
import { createTagsProcessor, TagsConfig } from '../src/index.js';

describe('tags README', () => {
  it('shows the configuration table generated from the schema', () => {
    expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain(renderSchemaMarkdown(TagsConfig));
  });

  it('names every own metric profcol_processor_tags_* and lists each in the README', () => {
    const settings = createTestSettings({ id: 'tags', kind: 'processor' });
    const parsed = TagsConfig.parse({});
    if (!parsed.ok) throw new Error('config');
    createTagsProcessor(settings, parsed.value);
    const names = [...settings.registry.renderPrometheus().matchAll(/^# HELP (\S+)/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(0);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of names) {
      expect(name).toMatch(/^profcol_processor_tags_[a-z_]+_total$/);
      expect(readme).toContain(`| \`${name}\` |`);
    }
  });
});
