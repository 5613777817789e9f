import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ComponentRegistry, HOST_API_VERSION, checkPlugin, importPlugin } from '../src/index.js';
import { newRecorder, testPlugin } from './support.js';

function pluginDir(
  source: string,
  manifest: Record<string, unknown> = { name: '@acme/profcol-x', type: 'module', exports: { '.': { import: './index.js' } } },
): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-plugin-'));
  const dir = path.join(root, 'node_modules', String(manifest.name));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest));
  fs.writeFileSync(path.join(dir, 'index.js'), source);
  return root;
}

const COMPONENT = `{ kind: 'exporter', type: 'acme', stability: 'alpha', config: { parse: () => ({ ok: true, value: {} }) }, create: () => ({ consume: async () => {} }) }`;

describe('plugins', () => {
  it('loads a package from the node_modules beside the configuration file', async () => {
    const root = pluginDir(`export default { name: '@acme/profcol-x', version: '2.0.0', profcol: '^1.0.0', components: [${COMPONENT}] };`);
    const plugin = await importPlugin({ specifier: '@acme/profcol-x', fromDir: path.join(root), location: undefined });
    const registry = new ComponentRegistry();
    registry.register(plugin);
    expect(registry.get('exporter', 'acme')?.plugin.version).toBe('2.0.0');
  });

  it('loads a plugin from a relative path', async () => {
    const root = pluginDir(`export default { name: 'local', version: '0.0.1', profcol: '>=1', components: [] };`);
    const plugin = await importPlugin({ specifier: './node_modules/@acme/profcol-x', fromDir: root, location: undefined });
    expect(plugin.name).toBe('local');
  });

  it('refuses a plugin written for another host API, naming both versions', async () => {
    const root = pluginDir(`export default { name: '@acme/profcol-x', version: '9.0.0', profcol: '^2.0.0', components: [] };`);
    await expect(importPlugin({ specifier: '@acme/profcol-x', fromDir: root, location: undefined })).rejects.toThrow(
      `plugin "@acme/profcol-x": requires profcol host API ^2.0.0, but this host provides ${HOST_API_VERSION}`,
    );
  });

  it('says where it looked for a missing package', async () => {
    await expect(importPlugin({ specifier: '@acme/missing', fromDir: os.tmpdir(), location: undefined })).rejects.toThrow(
      /plugin "@acme\/missing": package not found in node_modules/,
    );
  });

  it('names what is malformed', () => {
    expect(() => checkPlugin({ name: 'x', version: '1.0.0' }, 'x')).toThrow('plugin "x": malformed plugin: missing or invalid "profcol", "components"');
    expect(() => checkPlugin({ name: 'x', version: '1', profcol: '^1', components: [{ kind: 'exporter' }] }, 'x')).toThrow(
      /components\[0\] is not a component factory/,
    );
    expect(() => checkPlugin(undefined, 'x')).toThrow(/default export is not a plugin object/);
  });

  it('refuses two plugins that provide the same component type', () => {
    const registry = new ComponentRegistry();
    registry.register(testPlugin(newRecorder()));
    expect(() => registry.register({ ...testPlugin(newRecorder()), name: '@other/plugin' })).toThrow(
      'plugin "@other/plugin": receiver type "source" is already provided by "@test/plugin"',
    );
  });
});
