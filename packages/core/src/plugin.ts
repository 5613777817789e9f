/**
 * Plugin packages. Built-in components ship exactly like third-party ones: a package whose
 * default export declares its name, version, the host API range it supports and its
 * components. The host checks the range before it registers anything (as fastify does).
 */
import { createRequire } from 'node:module';
import semver from 'semver';
import { COMPONENT_KINDS, type ComponentFactory, type ComponentKind } from './component.js';
import { ProfcolError } from './errors.js';

/** The version of the contracts in this package that plugins declare a range against. */
export const HOST_API_VERSION = '1.0.0';

export interface Plugin {
  name: string;
  version: string;
  /** The host API versions this plugin works with, as a semver range (`^1.0.0`). */
  profcol: string;
  components: ComponentFactory[];
}

export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}

export class PluginError extends ProfcolError {
  constructor(
    readonly plugin: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('plugin', `plugin "${plugin}": ${message}`, options);
  }
}

/** Checks a plugin's shape and host range; `label` names it in errors (its package name or path). */
export function checkPlugin(value: unknown, label: string): Plugin {
  if (value === null || typeof value !== 'object') {
    throw new PluginError(label, 'its default export is not a plugin object ({ name, version, profcol, components })');
  }
  const plugin = value as Partial<Plugin>;
  const missing = (['name', 'version', 'profcol'] as const).filter((key) => typeof plugin[key] !== 'string');
  if (missing.length > 0 || !Array.isArray(plugin.components)) {
    const what = [...missing, ...(Array.isArray(plugin.components) ? [] : ['components'])];
    throw new PluginError(label, `malformed plugin: missing or invalid ${what.map((k) => `"${k}"`).join(', ')}`);
  }
  if (!semver.validRange(plugin.profcol)) {
    throw new PluginError(label, `"profcol" is not a semver range: ${JSON.stringify(plugin.profcol)}`);
  }
  if (!semver.satisfies(HOST_API_VERSION, plugin.profcol!)) {
    throw new PluginError(label, `requires profcol host API ${plugin.profcol}, but this host provides ${HOST_API_VERSION}`);
  }
  plugin.components.forEach((component, index) => {
    const c = component as Partial<ComponentFactory> | null;
    if (
      !c ||
      typeof c !== 'object' ||
      !COMPONENT_KINDS.includes(c.kind as ComponentKind) ||
      typeof c.type !== 'string' ||
      typeof c.create !== 'function' ||
      !c.config
    ) {
      throw new PluginError(label, `components[${index}] is not a component factory (needs kind, type, stability, config, create)`);
    }
  });
  return plugin as Plugin;
}

export interface RegisteredComponent {
  factory: ComponentFactory;
  plugin: Plugin;
  builtin: boolean;
}

/** Every component type the host knows, by kind and type. */
export class ComponentRegistry {
  private readonly entries = new Map<string, RegisteredComponent>();

  register(plugin: Plugin, options: { builtin?: boolean; label?: string } = {}): void {
    const checked = checkPlugin(plugin, options.label ?? plugin?.name ?? 'unknown');
    for (const factory of checked.components) {
      const key = `${factory.kind}:${factory.type}`;
      const existing = this.entries.get(key);
      if (existing) {
        if (existing.plugin.name === checked.name) continue;
        throw new PluginError(checked.name, `${factory.kind} type "${factory.type}" is already provided by "${existing.plugin.name}"`);
      }
      this.entries.set(key, { factory, plugin: checked, builtin: options.builtin ?? false });
    }
  }

  get(kind: ComponentKind, type: string): RegisteredComponent | undefined {
    return this.entries.get(`${kind}:${type}`);
  }

  typesOf(kind: ComponentKind): string[] {
    return this.list()
      .filter((e) => e.factory.kind === kind)
      .map((e) => e.factory.type);
  }

  list(): RegisteredComponent[] {
    return [...this.entries.values()].sort(
      (a, b) => COMPONENT_KINDS.indexOf(a.factory.kind) - COMPONENT_KINDS.indexOf(b.factory.kind) || a.factory.type.localeCompare(b.factory.type),
    );
  }
}

/**
 * The `version` of the package a module belongs to, from its package.json, so a plugin
 * declares the version it is published as. The module must sit one folder below the
 * package root (`src/` under test, `dist/` once built).
 */
export function ownPackageVersion(moduleUrl: string): string {
  const manifest = createRequire(moduleUrl)('../package.json') as { version?: unknown };
  if (typeof manifest.version !== 'string') throw new Error(`no version in the package.json above ${moduleUrl}`);
  return manifest.version;
}
