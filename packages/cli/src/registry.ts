import { ComponentRegistry, importPlugin, PluginError, type ConfigIssue, type LoadedConfig } from '@profcol/core';
import { builtinPlugins } from './builtins.js';

/** Registers the built-in plugins, then every package named under `plugins:`; problems become config issues. */
export async function buildRegistry(loaded?: LoadedConfig): Promise<{ registry: ComponentRegistry; issues: ConfigIssue[] }> {
  const registry = new ComponentRegistry();
  for (const plugin of builtinPlugins) registry.register(plugin, { builtin: true });
  const issues: ConfigIssue[] = [];
  for (const [index, spec] of (loaded?.plugins ?? []).entries()) {
    try {
      registry.register(await importPlugin(spec), { label: spec.specifier });
    } catch (error) {
      const message = error instanceof PluginError ? error.message : `plugin "${spec.specifier}": ${(error as Error).message}`;
      issues.push({ path: `plugins::${index}`, message, ...(spec.location ?? {}) });
    }
  }
  return { registry, issues };
}
