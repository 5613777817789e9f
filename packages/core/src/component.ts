/** The contracts every component, built-in or third-party, implements. */
import type { ServiceLimits } from './budget.js';
import type { Logger } from './logger.js';
import type { Batch } from './model.js';
import type { Infer, Schema } from './schema.js';
import type { ScopedTelemetry, Telemetry } from './telemetry.js';

export type ComponentKind = 'receiver' | 'processor' | 'exporter' | 'extension';
export const COMPONENT_KINDS: readonly ComponentKind[] = ['receiver', 'processor', 'exporter', 'extension'];

export type Stability = 'development' | 'alpha' | 'beta' | 'stable' | 'deprecated';

/**
 * What travels with one `consume()` call besides the batch. Optional everywhere, so a component
 * written before it existed keeps compiling and working.
 */
export interface ConsumeOptions {
  /**
   * Aborted when whoever handed the batch on stops waiting for it: a receiver's request
   * deadline, the host's shutdown. A component should stop work it does for this batch (a send,
   * a retry wait) and reject; it is not a reason to drop data it already acknowledged.
   */
  signal?: AbortSignal;
}

/** Where a batch goes next. A rejected promise travels back to the receiver as backpressure. */
export interface Consumer {
  consume(batch: Batch, options?: ConsumeOptions): Promise<void>;
}

/** What a running component can ask of the host. */
export interface Host {
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** A started extension by id (`health_check`, `file_storage/queue`). */
  getExtension(id: string): Component | undefined;
  /**
   * What an extension that shows the collector (the status page) reads. Optional so that hosts
   * written before it (tests' stand-ins, other embedders) still satisfy `Host`.
   */
  describePipelines?(): PipelineDescription[];
  /** A created component by kind and id (`receiver`, `pprof/payments`), for an extension that reports on it. */
  getComponent?(kind: ComponentKind, id: string): Component | undefined;
  /**
   * Calls `observer` with every batch whose pipeline's exporters all accepted it, until the
   * returned function is called. Observers run synchronously on the pipeline's path, must not
   * change the batch and should be cheap; one that throws is counted and logged, never passed on.
   */
  observeBatches?(observer: BatchObserver): () => void;
  /**
   * Where the host is in its life, for a readiness probe (the `health_check` extension):
   * `running` once every component started, `stopping` from the first step of a shutdown.
   * Optional so that hosts written before it still satisfy `Host`.
   */
  readonly state?: HostState;
}

/** The life of a host: components are started in `starting` and stopped in `stopping`. */
export type HostState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped';

/** One configured pipeline, by component ids, in the order the data passes them. */
export interface PipelineDescription {
  name: string;
  receivers: string[];
  processors: string[];
  exporters: string[];
}

/** Sees a batch a pipeline delivered: read it, keep what is needed, never change it. */
export type BatchObserver = (pipeline: string, batch: Batch) => void;

/** One scrape target of a pulling receiver, as a person checking on it wants to see it. */
export interface ScrapeTargetStatus {
  /** The target URL (no credentials: pulling receivers keep those in headers and files). */
  target: string;
  service?: string;
  /** The last round that ran (skipped ticks are not rounds). */
  lastRound?: { outcome: string; startedAtMs: number; durationMs: number };
  /** Failed rounds in a row; above 0 the target is backing off. */
  consecutiveFailures: number;
  /** Scheduler ticks the target still sits out (backoff). */
  ticksToSkip: number;
  /** When the next round will run, after any backoff (ms since the epoch), or undefined when rounds are run by hand. */
  nextAttemptMs?: number;
  /** A round is running now. */
  running: boolean;
}

/** A component that scrapes targets and can say how each is doing (the `pprof` receiver). */
export interface ScrapeTargetReporter {
  scrapeTargets(): ScrapeTargetStatus[];
}

export function reportsScrapeTargets(component: Component | undefined): component is Component & ScrapeTargetReporter {
  return typeof (component as Partial<ScrapeTargetReporter> | undefined)?.scrapeTargets === 'function';
}

export interface Component {
  /** Called once, exporters first and receivers last. */
  start?(host: Host): Promise<void> | void;
  /**
   * Stops the component, flushing what it holds. The host calls it at most once and only
   * after start; a component should still tolerate being shut down twice or without start.
   */
  shutdown?(): Promise<void> | void;
}

export type Receiver = Component;

export interface Processor extends Component {
  /** Adds to or filters a batch. Throwing rejects the batch back to the receiver. */
  process(batch: Batch, options?: ConsumeOptions): Promise<Batch> | Batch;
}

export interface Exporter extends Component, Consumer {}

export type Extension = Component;

export interface CreateSettings {
  /** The component id from the YAML: `type[/name]`. */
  id: string;
  kind: ComponentKind;
  logger: Logger;
  /** profcol's own metrics, labelled with this component's kind and id. */
  telemetry: ScopedTelemetry;
  /**
   * The folder that relative paths in this component's options resolve against: the working
   * directory profcol was started in, as in the OpenTelemetry Collector. (Plugins resolve
   * from the configuration file's folder instead; that happens before any component exists.)
   */
  baseDir: string;
  /** For processors: the pipeline this instance belongs to. */
  pipeline?: string;
  /**
   * `service.limits`: the process-wide memory budget, the one decompression cap and the decode
   * workers (`ProfileDecoder.for(settings)` in @profcol/pprof). Absent outside a host: use
   * `defaultServiceLimits()`.
   */
  limits?: ServiceLimits;
}

interface FactoryBase<S extends Schema<unknown>> {
  type: string;
  stability: Stability;
  /** One line, shown by `profcol components`. */
  description?: string;
  config: S;
}

export interface ReceiverFactory<S extends Schema<unknown> = Schema<unknown>> extends FactoryBase<S> {
  kind: 'receiver';
  create(settings: CreateSettings, config: Infer<S>, next: Consumer): Receiver;
}

export interface ProcessorFactory<S extends Schema<unknown> = Schema<unknown>> extends FactoryBase<S> {
  kind: 'processor';
  create(settings: CreateSettings, config: Infer<S>): Processor;
}

export interface ExporterFactory<S extends Schema<unknown> = Schema<unknown>> extends FactoryBase<S> {
  kind: 'exporter';
  create(settings: CreateSettings, config: Infer<S>): Exporter;
}

export interface ExtensionFactory<S extends Schema<unknown> = Schema<unknown>> extends FactoryBase<S> {
  kind: 'extension';
  create(settings: CreateSettings, config: Infer<S>): Extension;
}

export type ComponentFactory = ReceiverFactory<any> | ProcessorFactory<any> | ExporterFactory<any> | ExtensionFactory<any>;

export function defineReceiver<S extends Schema<unknown>>(factory: Omit<ReceiverFactory<S>, 'kind'>): ReceiverFactory<S> {
  return { kind: 'receiver', ...factory };
}

export function defineProcessor<S extends Schema<unknown>>(factory: Omit<ProcessorFactory<S>, 'kind'>): ProcessorFactory<S> {
  return { kind: 'processor', ...factory };
}

export function defineExporter<S extends Schema<unknown>>(factory: Omit<ExporterFactory<S>, 'kind'>): ExporterFactory<S> {
  return { kind: 'exporter', ...factory };
}

export function defineExtension<S extends Schema<unknown>>(factory: Omit<ExtensionFactory<S>, 'kind'>): ExtensionFactory<S> {
  return { kind: 'extension', ...factory };
}

/** Splits a component id `type[/name]`. */
export function parseComponentId(id: string): { type: string; name: string | undefined } | undefined {
  const match = /^([a-zA-Z][a-zA-Z0-9_]*)(?:\/([^/\s]+))?$/.exec(id);
  return match ? { type: match[1]!, name: match[2] } : undefined;
}
