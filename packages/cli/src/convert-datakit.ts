/**
 * `profcol convert datakit profile.conf`: a DataKit `profile` input configuration (TOML) as a
 * profcol pipeline (YAML). What carries over becomes configuration; what cannot (DataKit's
 * election, other languages' pull inputs, unknown keys) becomes a comment saying why, so a
 * user reads in one file what changed.
 *
 * Mapping (DataKit → profcol):
 * - `[[inputs.profile]]` → the `ddtrace` receiver on DataKit's HTTP address (localhost:9529);
 *   `endpoints` → its `endpoints`.
 * - `[inputs.profile.tags]` → a `tags` processor that sets them on everything.
 * - `generate_metrics` (default true) → the `goruntime` processor (the `prof_go_*` metrics).
 * - each `[[inputs.profile.go]]` → a `pprof` receiver target (`url`, `service`, `env`,
 *   `version`, `enabled_types`, `tags`); the interval is per receiver in profcol, so targets
 *   are grouped into one receiver per distinct `interval` (`pprof`, `pprof/30s`, …).
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { Document, isMap, isScalar, visit, type YAMLMap, type Node } from 'yaml';

export class ConvertError extends Error {
  override name = 'ConvertError';
}

/** DataKit's documented default, also profcol's. */
const DEFAULT_ENDPOINTS = ['/profiling/v1/input'];
const GO_KEYS = new Set(['url', 'interval', 'service', 'env', 'version', 'enabled_types', 'tags']);
const PROFILE_KEYS = new Set(['endpoints', 'election', 'generate_metrics', 'tags', 'go']);
const DEFAULT_INTERVAL = '10s';

type Table = Record<string, unknown>;

interface Note {
  /** Where the comment goes: above this top-level section of the output. */
  section: 'header' | 'receivers' | 'processors';
  text: string;
}

interface GoTarget {
  url: string;
  service?: string;
  env?: string;
  version?: string;
  enabled_types?: string[];
  tags?: Record<string, string>;
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function tomlValue(value: unknown): string {
  return JSON.stringify(value instanceof Date ? value.toISOString() : value);
}

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new ConvertError(`${where}: expected a list of strings, got ${tomlValue(value)}`);
  return value;
}

function stringTable(value: unknown, where: string): Record<string, string> {
  if (!isTable(value)) throw new ConvertError(`${where}: expected a table of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw new ConvertError(`${where}.${k}: expected a string, got ${tomlValue(v)}`);
    out[k] = String(v);
  }
  return out;
}

function optionalString(table: Table, key: string, where: string): string | undefined {
  const value = table[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ConvertError(`${where}.${key}: expected a string, got ${tomlValue(value)}`);
  return value;
}

/** `text` in lines of at most `width` characters (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = `  ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** The receiver id for targets of `interval`: the first interval seen gets plain `pprof`. */
function receiverIdFor(interval: string, ids: Map<string, string>): string {
  let id = ids.get(interval);
  if (!id) {
    id = ids.size === 0 ? 'pprof' : `pprof/${interval.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    ids.set(interval, id);
  }
  return id;
}

/**
 * The profcol pipeline (YAML text, with comments) equivalent to a DataKit `profile.conf`.
 * `source` names the file in the header and in errors. Throws `ConvertError` naming what is
 * wrong when the file is not TOML or has no `[[inputs.profile]]`.
 */
export function convertDataKitProfileConf(toml: string, source = 'profile.conf'): string {
  let parsed: Table;
  try {
    parsed = parseToml(toml) as Table;
  } catch (error) {
    if (error instanceof TomlError) throw new ConvertError(`${source}:${error.line}:${error.column}: not valid TOML: ${error.message.split('\n')[0]}`);
    throw error;
  }
  const inputs = isTable(parsed.inputs) ? parsed.inputs : undefined;
  const profiles = inputs?.profile;
  const profileList: unknown[] = Array.isArray(profiles) ? profiles : profiles === undefined ? [] : [profiles];
  if (profileList.length === 0) throw new ConvertError(`${source}: no [[inputs.profile]] section: this is not a DataKit profile input configuration`);

  const notes: Note[] = [];
  let endpoints: string[] | undefined;
  let generateMetrics = true;
  const globalTags: Record<string, string> = {};
  const targetsByReceiver = new Map<string, GoTarget[]>();
  const intervals = new Map<string, string>(); // interval → receiver id
  const receiverInterval = new Map<string, string>();

  profileList.forEach((profile, p) => {
    const where = profileList.length === 1 ? 'inputs.profile' : `inputs.profile[${p}]`;
    if (!isTable(profile)) throw new ConvertError(`${source}: ${where}: expected a table`);
    if (profile.endpoints !== undefined) {
      const list = stringList(profile.endpoints, `${source}: ${where}.endpoints`);
      endpoints = [...new Set([...(endpoints ?? []), ...list])];
    }
    if (profile.election !== undefined) {
      notes.push({
        section: 'receivers',
        text: `${where}.election = ${tomlValue(profile.election)}: profcol has no leader election. Push receivers can run on any number of replicas; pull targets are split between replicas with the pprof receiver's \`shard: {index, total}\`.`,
      });
    }
    if (profile.generate_metrics !== undefined) {
      if (typeof profile.generate_metrics !== 'boolean')
        throw new ConvertError(`${source}: ${where}.generate_metrics: expected true or false, got ${tomlValue(profile.generate_metrics)}`);
      generateMetrics = profile.generate_metrics;
    }
    if (profile.tags !== undefined) Object.assign(globalTags, stringTable(profile.tags, `${source}: ${where}.tags`));
    for (const [key, value] of Object.entries(profile)) {
      if (PROFILE_KEYS.has(key)) continue;
      const what = Array.isArray(value) && value.every(isTable) ? `[[${where}.${key}]] (${value.length})` : `${where}.${key} = ${tomlValue(value)}`;
      notes.push({
        section: 'receivers',
        text: `not carried over: ${what}${key === 'pyroscope' ? ' — profcol pulls only Go net/http/pprof targets' : ': profcol has no equivalent'}.`,
      });
    }
    const goList: unknown[] = Array.isArray(profile.go) ? profile.go : profile.go === undefined ? [] : [profile.go];
    goList.forEach((go, g) => {
      const goWhere = `${where}.go[${g}]`;
      if (!isTable(go)) throw new ConvertError(`${source}: ${goWhere}: expected a table`);
      const url = optionalString(go, 'url', `${source}: ${goWhere}`);
      if (!url) throw new ConvertError(`${source}: ${goWhere}.url is required (the Go program's net/http/pprof address)`);
      const interval = optionalString(go, 'interval', `${source}: ${goWhere}`) ?? DEFAULT_INTERVAL;
      const target: GoTarget = { url };
      for (const key of ['service', 'env', 'version'] as const) {
        const value = optionalString(go, key, `${source}: ${goWhere}`);
        if (value !== undefined) target[key] = value;
      }
      if (go.enabled_types !== undefined) target.enabled_types = stringList(go.enabled_types, `${source}: ${goWhere}.enabled_types`);
      if (go.tags !== undefined) target.tags = stringTable(go.tags, `${source}: ${goWhere}.tags`);
      for (const [key, value] of Object.entries(go)) {
        if (!GO_KEYS.has(key))
          notes.push({ section: 'receivers', text: `not carried over: ${goWhere}.${key} = ${tomlValue(value)}: the pprof receiver has no equivalent.` });
      }
      const id = receiverIdFor(interval, intervals);
      receiverInterval.set(id, interval);
      targetsByReceiver.set(id, [...(targetsByReceiver.get(id) ?? []), target]);
    });
  });

  const receivers: Record<string, unknown> = {
    ddtrace: {
      endpoint: 'localhost:9529',
      ...(endpoints && endpoints.join() !== DEFAULT_ENDPOINTS.join() ? { endpoints } : {}),
    },
  };
  for (const [id, targets] of targetsByReceiver) receivers[id] = { interval: receiverInterval.get(id), targets };
  const processors: Record<string, unknown> = { pprof_decode: {} };
  if (Object.keys(globalTags).length > 0) processors.tags = { set: globalTags };
  if (generateMetrics) processors.goruntime = {};
  else
    notes.push({
      section: 'processors',
      text: 'generate_metrics = false: no goruntime processor, so no prof_go_* metrics; profiles are still written by the file exporter.',
    });

  const config = {
    receivers,
    processors,
    exporters: { file: { directory: './data' } },
    service: {
      pipelines: {
        go: { receivers: Object.keys(receivers), processors: Object.keys(processors), exporters: ['file'] },
      },
    },
  };
  const doc = new Document(config);
  doc.commentBefore = [
    ` Converted from the DataKit profile input configuration ${source} by \`profcol convert datakit\`.`,
    ' Check it with `profcol validate --config <this file>`.',
    ' dd-trace profilers keep uploading to the same address (DataKit serves its inputs on',
    ' localhost:9529 unless datakit.conf [http_api] listen says otherwise: set `endpoint` to match).',
    ' DataKit sends what it collects to its own platform; this pipeline writes profiles and metric',
    ' points under ./data. To send the metrics to an OpenTelemetry backend, add an exporter:',
    '   exporters: { otlp: { endpoint: http://localhost:4318 } }  and list it in the pipeline.',
  ].join('\n');
  const section = (name: 'receivers' | 'processors'): Node | undefined => {
    const map = doc.contents;
    if (!isMap(map)) return undefined;
    return (map as YAMLMap).items.find((pair) => (pair.key as { value?: unknown }).value === name)?.key as Node | undefined;
  };
  for (const name of ['receivers', 'processors'] as const) {
    const lines = notes.filter((n) => n.section === name).flatMap((n) => wrap(n.text, 96).map((line) => ` ${line}`));
    const key = section(name);
    if (key && lines.length > 0) key.commentBefore = lines.join('\n');
  }
  // Lists of plain values on one line (`enabled_types: [cpu, heap]`), as the docs write them.
  visit(doc, {
    Seq(_, seq) {
      if (seq.items.every((item) => isScalar(item))) seq.flow = true;
    },
  });
  return doc.toString({ lineWidth: 100, flowCollectionPadding: false });
}
