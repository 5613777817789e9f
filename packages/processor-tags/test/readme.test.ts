import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSchemaMarkdown } from '@profcol/core';
import { TagsConfig } from '../src/index.js';

describe('tags README', () => {
  it('shows the configuration table generated from the schema', () => {
    expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain(renderSchemaMarkdown(TagsConfig));
  });
});
