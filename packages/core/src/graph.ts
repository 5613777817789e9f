/**
 * Turns a loaded configuration into a validated plan: every component's parsed config and
 * every pipeline's wiring. All problems are collected and reported together.
 */
import { parseComponentId, type ComponentFactory, type ComponentKind } from './component.js';
import type { LoadedConfig } from './config/load.js';
import { PATH_SEPARATOR } from './config/load.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import type { ComponentRegistry } from './plugin.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MEMORY_BYTES } from './budget.js';
import { closestWord, s, type Infer } from './schema.js';
import { parseEndpoint } from './units.js';

const SECTIONS: Record<string, ComponentKind> = { receivers: 'receiver', processors: 'processor', exporters: 'exporter', extensions: 'extension' };
const TOP_LEVEL_KEYS = ['plugins', ...Object.keys(SECTIONS), 'service'];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

const OtlpTelemetryExporter = s.object({
  protocol: s.enum(['http/protobuf', 'http/json'] as const, { default: 'http/protobuf', description: 'OTLP encoding (OTLP/HTTP only).' }),
  endpoint: s.string({
    description: 'OTLP/HTTP URL; a URL without a path gets `/v1/metrics`.',
    check: (value) =>
      /^https?:\/\/[^/]/.test(value) && URL.canParse(value) ? undefined : `"${value}" is not an http:// or https:// URL (for example http://localhost:4318)`,
  }),
  headers: s.record(s.string(), { default: {}, secret: true, description: 'Headers sent with every export (credentials: never logged).' }),
  compression: s.enum(['gzip', 'none'] as const, { default: 'none', description: 'Request body compression.' }),
});

const TelemetryReader = s.object(
  {
    periodic: s.optional(
      s.object({
        interval: s.duration({ default: '60s', min: '1s', description: 'Time between exports (the Collector writes milliseconds, `60000`; here a duration).' }),
        timeout: s.duration({ default: '30s', min: '100ms', description: 'How long one export may take (at most the interval).' }),
        exporter: s.object({ otlp: OtlpTelemetryExporter }, { description: 'Where to push: `otlp` only.' }),
      }),
    ),
    pull: s.optional(
      s.object({
        exporter: s.object(
          {
            prometheus: s.object({
              host: s.string({ default: 'localhost', description: 'Interface to listen on.' }),
              port: s.integer({ min: 0, max: 65535, description: 'Port serving /metrics.' }),
            }),
          },
          { description: 'How to serve: `prometheus` only.' },
        ),
      }),
    ),
  },
  {
    check: (reader) =>
      reader.periodic && reader.pull
        ? 'a reader is either periodic or pull, not both'
        : !reader.periodic && !reader.pull
          ? 'expected periodic: or pull:'
          : undefined,
  },
);

export const ServiceConfig = s.object({
  extensions: s.array(s.string(), { default: [], description: 'Extensions to start, by id.' }),
  pipelines: s.record(
    s.object({
      receivers: s.array(s.string(), { minItems: 1, description: 'Receiver ids feeding this pipeline.' }),
      processors: s.array(s.string(), { default: [], description: 'Processor ids, applied in order.' }),
      exporters: s.array(s.string(), { minItems: 1, description: 'Exporter ids receiving every batch.' }),
    }),
    { description: 'Pipelines by name.' },
  ),
  telemetry: s.object({
    logs: s.object({
      level: s.enum(LOG_LEVELS, { default: 'info', description: 'Log level.' }),
      format: s.enum(LOG_FORMATS, { default: 'auto', description: 'json for machines, pretty for terminals; auto picks by stdout.' }),
    }),
    metrics: s.object({
      address: s.optional(
        s.string({
          description:
            "host:port (or [v6]:port) serving profcol's own metrics at /metrics (Prometheus text), the shorthand of a `pull` reader. Off when unset.",
          check: (value) => (parseEndpoint(value) ? undefined : `"${value}" is not a listen address (expected host:port, :port or [v6]:port)`),
        }),
      ),
      readers: s.array(TelemetryReader, {
        default: [],
        description:
          "More readers of the own metrics, as the OpenTelemetry Collector's `service.telemetry.metrics.readers`: `periodic` pushes them over OTLP/HTTP, `pull` serves them in Prometheus text.",
      }),
    }),
  }),
  shutdown_timeout: s.duration({ default: '30s', description: 'How long a stop may wait for in-flight batches to drain.' }),
  limits: s.object(
    {
      memory: s.bytes({
        default: DEFAULT_MEMORY_BYTES,
        check: (bytes) => (bytes < 1024 * 1024 ? `${bytes} bytes is below the minimum of 1MiB` : undefined),
        description:
          'One process-wide budget for the bytes in flight: upload bodies being received (twice their Content-Length, reserved before they are read) and the profiles decompressed from them (charged as decompression produces them, by every decode worker). Past it, uploads are refused with 503 and `Retry-After` (`reason="memory_budget"`), counted and logged.',
      }),
      max_decompressed_bytes: s.bytes({
        default: DEFAULT_MAX_DECOMPRESSED_BYTES,
        check: (bytes) => (bytes < 1024 ? `${bytes} bytes is below the minimum of 1KiB` : undefined),
        description:
          'The most the profiles of one bundle (one upload, one scrape round) may decompress to, all together; it stops decompression bombs. An upload past it is refused with 413 naming the attachment; a profile decoded later is dropped (counted, `too_large`). The one decompression cap of every component.',
      }),
      decode_workers: s.any({
        default: 'auto',
        check: (value) =>
          value === 'auto' || (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 64)
            ? undefined
            : `expected "auto" or a whole number from 0 to 64, got ${JSON.stringify(value)}`,
        description:
          'Worker threads that decompress and summarize large profiles (more than 256 KiB compressed or 2 MiB decompressed) on other cores; smaller ones are decoded on the event loop, where they cost less than the round trip. `auto`: one per core, at most 4. `0` decodes everything on the event loop.',
      }),
    },
    { description: 'Limits every component shares.' },
  ),
});

export type ServiceSettings = Infer<typeof ServiceConfig>;

export interface PlannedComponent {
  id: string;
  kind: ComponentKind;
  factory: ComponentFactory;
  config: unknown;
}

export interface PlannedPipeline {
  name: string;
  receivers: string[];
  processors: string[];
  exporters: string[];
}

export interface Plan {
  components: Map<string, PlannedComponent>;
  pipelines: PlannedPipeline[];
  service: ServiceSettings;
}

/** `kind:id`, the key of a planned component. */
export function componentKey(kind: ComponentKind, id: string): string {
  return `${kind}:${id}`;
}

/** Builds the plan, or returns every issue found. */
export function planPipelines(loaded: LoadedConfig, registry: ComponentRegistry): { plan?: Plan; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [...loaded.issues];
  // A file that could not be read or parsed is missing from the tree: every check of the whole
  // would report what it holds as absent.
  if (loaded.incomplete) return { issues };
  const report = (at: string[], message: string) => {
    const location = loaded.locate(at);
    issues.push({ path: at.join(PATH_SEPARATOR), message: loaded.redact(at, message), ...(location ?? {}) });
  };
  const didYouMean = (word: string, candidates: readonly string[]) => {
    const hint = closestWord(word, candidates);
    return hint ? ` (did you mean "${hint}"?)` : '';
  };

  for (const key of Object.keys(loaded.tree)) {
    if (!TOP_LEVEL_KEYS.includes(key))
      report([key], `unknown top-level key "${key}"${didYouMean(key, TOP_LEVEL_KEYS)} (expected one of ${TOP_LEVEL_KEYS.join(', ')})`);
  }

  const components = new Map<string, PlannedComponent>();
  for (const [section, kind] of Object.entries(SECTIONS)) {
    const entries = loaded.tree[section] ?? {};
    if (entries === null || typeof entries !== 'object' || Array.isArray(entries)) {
      report([section], 'expected a map of component ids to their settings');
      continue;
    }
    for (const [id, rawConfig] of Object.entries(entries as Record<string, unknown>)) {
      const parsedId = parseComponentId(id);
      if (!parsedId) {
        report([section, id], `"${id}" is not a component id (type[/name], e.g. pprof/payments)`);
        continue;
      }
      const registered = registry.get(kind, parsedId.type);
      if (!registered) {
        const known = registry.typesOf(kind);
        report(
          [section, id],
          `unknown ${kind} type "${parsedId.type}"${didYouMean(parsedId.type, known)} (known: ${known.join(', ') || 'none'}; third-party types need their package under plugins:)`,
        );
        continue;
      }
      const result = registered.factory.config.parse(rawConfig ?? undefined);
      if (!result.ok) {
        for (const issue of result.issues) report([section, id, ...issue.path], issue.message);
        continue;
      }
      components.set(componentKey(kind, id), { id, kind, factory: registered.factory, config: result.value });
    }
  }

  const serviceResult = ServiceConfig.parse(loaded.tree.service ?? {});
  if (!serviceResult.ok) {
    for (const issue of serviceResult.issues) report(['service', ...issue.path], issue.message);
    return { issues };
  }
  const service = serviceResult.value;
  const defined = (section: string, kind: ComponentKind, id: string) =>
    components.has(componentKey(kind, id)) || Object.hasOwn((loaded.tree[section] as Record<string, unknown>) ?? {}, id);

  const pipelines: PlannedPipeline[] = [];
  if (Object.keys(service.pipelines).length === 0) report(['service', 'pipelines'], 'no pipeline is defined; nothing would run');
  for (const [name, pipeline] of Object.entries(service.pipelines)) {
    for (const [section, kind] of [
      ['receivers', 'receiver'],
      ['processors', 'processor'],
      ['exporters', 'exporter'],
    ] as const) {
      const ids = pipeline[section];
      ids.forEach((id, index) => {
        if (!defined(section, kind, id))
          report(['service', 'pipelines', name, section, String(index)], `references undefined ${kind} "${id}" (define it under ${section}:)`);
        else if (ids.indexOf(id) !== index) report(['service', 'pipelines', name, section, String(index)], `lists ${kind} "${id}" twice`);
      });
    }
    pipelines.push({ name, ...pipeline });
  }
  service.extensions.forEach((id, index) => {
    if (!defined('extensions', 'extension', id)) report(['service', 'extensions', String(index)], `references undefined extension "${id}"`);
  });
  if (issues.length > 0) return { issues };
  return { plan: { components, pipelines, service }, issues };
}

/** Like planPipelines, but throws one ConfigError listing every issue. */
export function planOrThrow(loaded: LoadedConfig, registry: ComponentRegistry): Plan {
  const { plan, issues } = planPipelines(loaded, registry);
  if (!plan) throw new ConfigError(issues);
  return plan;
}
