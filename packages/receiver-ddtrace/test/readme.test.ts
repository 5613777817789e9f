import { readFileSync } from 'node:fs';
import { renderSchemaMarkdown } from '@profcol/core';
import { describe, expect, it } from 'vitest';
import plugin, { ddtraceConfigSchema, ddtraceReceiverFactory, REFUSAL_STATUS } from '../src/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('ddtrace receiver: package and documentation', () => {
  it('is a plugin with the ddtrace receiver factory', () => {
    expect(plugin).toMatchObject({ name: '@profcol/receiver-ddtrace', version: '0.1.0', profcol: '^1.0.0' });
    expect(plugin.components).toEqual([ddtraceReceiverFactory]);
    expect(ddtraceReceiverFactory).toMatchObject({ kind: 'receiver', type: 'ddtrace' });
  });

  it('documents every option: the README table is renderSchemaMarkdown of the schema', () => {
    expect(readme).toContain(renderSchemaMarkdown(ddtraceConfigSchema));
  });

  it('documents every response code with its reason', () => {
    for (const [reason, status] of Object.entries(REFUSAL_STATUS)) {
      expect(readme, reason).toMatch(new RegExp(`\\| ${status} \\| \`${reason}\` \\|`));
    }
    expect(readme).toMatch(/\| \*\*200\*\*, empty body \|/);
  });

  it('has defaults that match the issue: localhost:9529, /profiling/v1/input, 32 MiB', () => {
    const config = ddtraceConfigSchema.parse({});
    expect(config.ok && config.value).toMatchObject({
      endpoint: 'localhost:9529',
      endpoints: ['/profiling/v1/input'],
      max_request_bytes: 32 * 1024 * 1024,
      host_tag: 'upload',
      dedup_window: 300_000,
    });
    const wrong = ddtraceConfigSchema.parse({ endpoint: 'nowhere', endpoints: ['profiling'] });
    expect(wrong.ok).toBe(false);
  });
});
