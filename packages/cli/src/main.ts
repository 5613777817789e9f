/** The `profcol` command: run, validate, components, schema, convert. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  Collector,
  configJsonSchema,
  createLogger,
  formatIssue,
  HOST_API_VERSION,
  LOG_FORMATS,
  LOG_LEVELS,
  ownPackageVersion,
  loadConfigFiles,
  planPipelines,
  type ConfigIssue,
  type Logger,
  type Plan,
} from '@profcol/core';
import { convertDataKitProfileConf, ConvertError } from './convert-datakit.js';
import { buildRegistry } from './registry.js';

type LogFormat = (typeof LOG_FORMATS)[number];

const HELP: Record<string, string> = {
  main: `profcol — turns Go profiling data into metrics, with YAML pipelines.

Usage: profcol <command> [options]

Commands:
  run         run the pipelines of one or more configuration files
  validate    check configuration files without starting anything
  components  list every component type this profcol knows
  schema      print a JSON Schema of the configuration, for editors
  convert     convert another tool's configuration (DataKit's profile.conf) to a pipeline

Run 'profcol <command> --help' for a command's options.`,
  run: `Usage: profcol run --config FILE [--config FILE ...] [--log-format auto|json|pretty] [--log-level LEVEL]

Starts every pipeline. Several --config files are merged in order, later ones winning.
SIGINT or SIGTERM stops the receivers, drains in-flight batches, flushes the exporters and exits 0.`,
  validate: `Usage: profcol validate --config FILE [--config FILE ...]

Loads the configuration, resolves plugins and builds every pipeline without starting it.
Prints every problem with its path, file and line; exits 1 if there is any.`,
  convert: `Usage: profcol convert datakit FILE > pipeline.yaml

Reads a DataKit profile input configuration (conf.d/profile/profile.conf, TOML) and prints
the equivalent profcol pipeline (YAML). What cannot be carried over is kept as a comment
saying why. Check the result with 'profcol validate --config pipeline.yaml'.`,
  schema: `Usage: profcol schema [--config FILE ...] > profcol.schema.json

Prints a JSON Schema (draft 2020-12) of the whole configuration: every built-in component
and those of the plugins: of the given configuration, with descriptions and defaults. Point
an editor at it with a first line '# yaml-language-server: $schema=./profcol.schema.json'.`,
  components: `Usage: profcol components [--config FILE ...] [--json]

Lists kind, type, package, version and stability of every registered component:
the built-in ones and those from the plugins: of the given configuration.`,
};

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
}

const defaultIo: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c', multiple: true },
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      'log-format': { type: 'string' },
      'log-level': { type: 'string' },
      version: { type: 'boolean' },
    },
  });
}

/**
 * Issues in the order a person reads the files: by file (in the order given), then by line; those
 * that belong to no file come last. Within one line, in the order they were found.
 */
export function inFileOrder(issues: readonly ConfigIssue[], files: readonly string[]): ConfigIssue[] {
  const rank = (issue: ConfigIssue) => (issue.file === undefined ? files.length : Math.max(0, files.indexOf(issue.file)));
  return issues
    .map((issue, found) => ({ issue, found }))
    .sort((a, b) => rank(a.issue) - rank(b.issue) || (a.issue.line ?? 0) - (b.issue.line ?? 0) || a.found - b.found)
    .map(({ issue }) => issue);
}

function printIssues(io: CliIo, issues: ConfigIssue[], files: readonly string[]): void {
  io.stderr.write(`profcol: the configuration has ${issues.length} ${issues.length === 1 ? 'error' : 'errors'}:\n`);
  for (const issue of inFileOrder(issues, files)) io.stderr.write(`  ${formatIssue(issue)}\n`);
}

/** Loads, resolves plugins and plans; returns the plan or every issue. */
export async function prepare(files: string[], env: CliIo['env']): Promise<{ plan?: Plan; issues: ConfigIssue[] }> {
  const loaded = loadConfigFiles(files, env);
  // A file that could not be read or parsed: what it says is unknown, so nothing else is checked.
  if (loaded.incomplete) return { issues: loaded.issues };
  const { registry, issues: pluginIssues } = await buildRegistry(loaded);
  const { plan, issues } = planPipelines(loaded, registry);
  const all = [...pluginIssues, ...issues];
  return all.length > 0 ? { issues: all } : { plan: plan!, issues: [] };
}

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.stderr.write(`profcol: ${(error as Error).message}\n\n${HELP.main}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.version) {
    io.stdout.write(`profcol ${ownPackageVersion(import.meta.url)} (host API ${HOST_API_VERSION})\n`);
    return 0;
  }
  if (!command || !(command in HELP) || command === 'main') {
    if (command) io.stderr.write(`profcol: unknown command "${command}"\n\n`);
    (command ? io.stderr : io.stdout).write(`${HELP.main}\n`);
    return command ? 2 : values.help ? 0 : 2;
  }
  if (values.help) {
    io.stdout.write(`${HELP[command]}\n`);
    return 0;
  }
  for (const [flag, allowed] of [
    ['log-level', LOG_LEVELS],
    ['log-format', LOG_FORMATS],
  ] as const) {
    const value = values[flag];
    if (value !== undefined && !(allowed as readonly string[]).includes(value)) {
      io.stderr.write(`profcol ${command}: --${flag} "${value}" is not one of ${allowed.join(', ')}\n`);
      return 2;
    }
  }
  if (command === 'convert') return convert(positionals.slice(1), io);
  const files = values.config ?? [];
  if (command === 'components') return components(files, values.json ?? false, io);
  if (command === 'schema') return schema(files, io);
  if (files.length === 0) {
    io.stderr.write(`profcol ${command}: --config FILE is required\n\n${HELP[command]}\n`);
    return 2;
  }
  const { plan, issues } = await prepare(files, io.env);
  if (!plan) {
    printIssues(io, issues, files);
    return 1;
  }
  if (command === 'validate') {
    const pipelines = plan.pipelines.map(
      (p) => `${p.name} (${p.receivers.join(', ')} → ${p.processors.join(', ') || 'no processors'} → ${p.exporters.join(', ')})`,
    );
    io.stdout.write(
      `configuration is valid: ${plan.pipelines.length} ${plan.pipelines.length === 1 ? 'pipeline' : 'pipelines'}\n${pipelines.map((p) => `  ${p}\n`).join('')}`,
    );
    return 0;
  }
  const logs = plan.service.telemetry.logs;
  const logger = createLogger({ level: values['log-level'] ?? logs.level, format: (values['log-format'] as LogFormat | undefined) ?? logs.format });
  return run(plan, logger);
}

async function run(plan: Plan, logger: Logger): Promise<number> {
  let collector: Collector;
  try {
    collector = new Collector(plan, { logger });
    await collector.start();
  } catch (error) {
    logger.fatal({ err: error }, 'profcol could not start');
    return 1;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  logger.info({ signal }, 'stopping: receivers first, then draining in-flight batches, then exporters');
  const force = () => {
    logger.error('second signal: exiting without waiting for the drain');
    process.exit(1);
  };
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  await collector.shutdown();
  return 0;
}

async function convert(args: string[], io: CliIo): Promise<number> {
  const [from, file, ...rest] = args;
  if (from !== 'datakit' || !file || rest.length > 0) {
    io.stderr.write(
      `profcol convert: expected 'datakit FILE'${from && from !== 'datakit' ? ` (unknown format "${from}"; known: datakit)` : ''}\n\n${HELP.convert}\n`,
    );
    return 2;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    io.stderr.write(`profcol convert: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
    return 1;
  }
  try {
    io.stdout.write(convertDataKitProfileConf(text, file));
    return 0;
  } catch (error) {
    if (!(error instanceof ConvertError)) throw error;
    io.stderr.write(`profcol convert: ${error.message}\n`);
    return 1;
  }
}

async function schema(files: string[], io: CliIo): Promise<number> {
  const loaded = files.length > 0 ? loadConfigFiles(files, io.env) : undefined;
  if (loaded && loaded.issues.length > 0) {
    printIssues(io, loaded.issues, files);
    return 1;
  }
  const { registry, issues } = await buildRegistry(loaded);
  if (issues.length > 0) {
    printIssues(io, issues, files);
    return 1;
  }
  io.stdout.write(`${JSON.stringify(configJsonSchema(registry), null, 2)}\n`);
  return 0;
}

async function components(files: string[], json: boolean, io: CliIo): Promise<number> {
  const loaded = files.length > 0 ? loadConfigFiles(files, io.env) : undefined;
  if (loaded && loaded.issues.length > 0) {
    printIssues(io, loaded.issues, files);
    return 1;
  }
  const { registry, issues } = await buildRegistry(loaded);
  const rows = registry.list().map(({ factory, plugin, builtin }) => ({
    kind: factory.kind,
    type: factory.type,
    package: plugin.name,
    version: plugin.version,
    stability: factory.stability,
    origin: builtin ? 'built-in' : 'plugin',
    description: factory.description ?? '',
  }));
  if (json) io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    const header = { kind: 'KIND', type: 'TYPE', package: 'PACKAGE', version: 'VERSION', stability: 'STABILITY', origin: 'ORIGIN', description: 'DESCRIPTION' };
    const columns = Object.keys(header) as (keyof typeof header)[];
    const widths = columns.map((c) => Math.max(header[c].length, ...rows.map((r) => r[c].length)));
    for (const row of [header, ...rows])
      io.stdout.write(`${columns.map((c, i) => (i === columns.length - 1 ? row[c] : row[c].padEnd(widths[i]!))).join('  ')}\n`);
  }
  if (issues.length > 0) {
    printIssues(io, issues, files);
    return 1;
  }
  return 0;
}
