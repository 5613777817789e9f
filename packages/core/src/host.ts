/**
 * The host: creates the components of a plan, wires receivers → processors → exporters,
 * starts them (extensions, exporters, processors, then receivers) and stops them in
 * reverse, draining in-flight batches before exporters flush.
 */
import type {
  BatchObserver,
  Component,
  ComponentKind,
  ConsumeOptions,
  Consumer,
  Exporter,
  Host,
  HostState,
  PipelineDescription,
  Processor,
  Receiver,
} from './component.js';
import { trimUnavailableReason } from '@profcol/malloc-trim';
import { createServiceLimits, type ServiceLimits } from './budget.js';
import { BackpressureError } from './errors.js';
import { componentKey, type Plan, type PlannedComponent, type PlannedPipeline } from './graph.js';
import { silentLogger, type Logger } from './logger.js';
import { cloneBatch, type Batch } from './model.js';
import { Telemetry } from './telemetry.js';
import { ownPackageVersion } from './plugin.js';
import { TelemetryReaders, ownTelemetryResource } from './telemetry/readers.js';

/** Guarantees start-once and shutdown-at-most-once-after-start, whatever the component does. */
class Managed {
  private started = false;
  private stopped = false;
  constructor(
    readonly kind: ComponentKind,
    readonly id: string,
    readonly component: Component,
  ) {}
  async start(host: Host): Promise<void> {
    if (this.started) return;
    await this.component.start?.(host);
    this.started = true;
  }
  async shutdown(): Promise<void> {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    await this.component.shutdown?.();
  }
}

function batchSize(batch: Batch): { bundles: number; metrics: number } {
  return { bundles: batch.bundles.length, metrics: batch.metrics.length };
}

/** One pipeline: its own processor instances, then every exporter it names. */
class Pipeline implements Consumer {
  private inflight = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    private readonly processors: { id: string; processor: Processor }[],
    private readonly exporters: { id: string; exporter: Exporter }[],
    private readonly telemetry: Telemetry,
    private readonly logger: Logger,
    private readonly observers: ReadonlySet<BatchObserver> = new Set(),
  ) {}

  async consume(batch: Batch, options?: ConsumeOptions): Promise<void> {
    const labels = { pipeline: this.name };
    if (this.closed) {
      this.telemetry.counter('profcol_pipeline_refused_batches_total', 'Batches a pipeline refused, by reason.').add(1, { ...labels, reason: 'shutting_down' });
      throw new BackpressureError(`pipeline "${this.name}" is shutting down`, 1000);
    }
    this.inflight++;
    try {
      let current = batch;
      for (const { id, processor } of this.processors) {
        try {
          current = await processor.process(current, options);
        } catch (error) {
          this.telemetry
            .counter('profcol_pipeline_refused_batches_total', 'Batches a pipeline refused, by reason.')
            .add(1, { ...labels, reason: 'processor_error', processor: id });
          this.logger.warn({ pipeline: this.name, processor: id, err: error }, 'processor rejected a batch');
          throw error;
        }
      }
      if (current.bundles.length === 0 && current.metrics.length === 0) return;
      const results = await Promise.allSettled(this.exporters.map(({ exporter }) => exporter.consume(current, options)));
      const failures = results.flatMap((result, index) =>
        result.status === 'rejected' ? [{ id: this.exporters[index]!.id, error: result.reason as unknown }] : [],
      );
      for (const failure of failures) {
        this.telemetry
          .counter('profcol_exporter_refused_batches_total', 'Batches an exporter refused (the receiver is told and may retry).')
          .add(1, { ...labels, exporter: failure.id });
        this.logger.warn({ pipeline: this.name, exporter: failure.id, err: failure.error }, 'exporter refused a batch');
      }
      if (failures.length > 0) throw failures.find((f) => f.error instanceof BackpressureError)?.error ?? failures[0]!.error;
      for (const observe of this.observers) {
        try {
          observe(this.name, current);
        } catch (error) {
          // An observer (the status page) must never fail a batch the exporters took.
          this.telemetry
            .counter(
              'profcol_pipeline_observer_errors_total',
              'Batch observers (extensions such as status) that threw on a delivered batch; the batch was not affected.',
            )
            .add(1, labels);
          this.logger.warn({ pipeline: this.name, err: error }, 'a batch observer threw; the batch was delivered anyway');
        }
      }
      const size = batchSize(current);
      this.telemetry.counter('profcol_pipeline_bundles_total', 'Profile bundles delivered to the exporters of a pipeline.').add(size.bundles, labels);
      this.telemetry.counter('profcol_pipeline_metric_points_total', 'Metric points delivered to the exporters of a pipeline.').add(size.metrics, labels);
    } finally {
      this.inflight--;
      if (this.inflight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Refuses new batches and resolves once the in-flight ones are done (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<number> {
    this.closed = true;
    if (this.inflight === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    return this.inflight;
  }
}

/** What a receiver's `next` is: every pipeline that lists it, each given its own copy. */
class FanOut implements Consumer {
  constructor(private readonly pipelines: Pipeline[]) {}
  async consume(batch: Batch, options?: ConsumeOptions): Promise<void> {
    if (this.pipelines.length === 1) return this.pipelines[0]!.consume(batch, options);
    // Every copy is made before any pipeline starts: a pipeline's processors run synchronously
    // up to their first await, and must not change what the others receive.
    const copies = this.pipelines.map((_, i) => (i === 0 ? batch : cloneBatch(batch)));
    const results = await Promise.allSettled(this.pipelines.map((pipeline, i) => pipeline.consume(copies[i]!, options)));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (errors.length > 0) throw errors.find((e) => e instanceof BackpressureError) ?? errors[0];
  }
}

/** Resolves true when `work` settles before `deadline` (ms since the epoch), false otherwise. */
async function beforeDeadline(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([work.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

export interface CollectorOptions {
  logger?: Logger;
  telemetry?: Telemetry;
}

export type CollectorState = HostState;

export class Collector implements Host {
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  private readonly extensions: Managed[] = [];
  private readonly exporters: Managed[] = [];
  private readonly processors: Managed[] = [];
  private readonly receivers: Managed[] = [];
  private readonly pipelines: Pipeline[] = [];
  private readonly batchObservers = new Set<BatchObserver>();
  private telemetryReaders: TelemetryReaders | undefined;
  private stateValue: CollectorState = 'created';
  private stopping: Promise<void> | undefined;
  /** `service.limits`, one set shared by every component of this collector. */
  readonly limits: ServiceLimits;

  constructor(
    private readonly plan: Plan,
    options: CollectorOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger();
    this.telemetry = options.telemetry ?? new Telemetry({ logger: this.logger, resource: ownTelemetryResource(ownPackageVersion(import.meta.url)) });
    this.telemetry.useLogger(this.logger);
    const limits = plan.service.limits;
    this.limits = createServiceLimits({
      memoryBytes: limits.memory,
      maxDecompressedBytes: limits.max_decompressed_bytes,
      decodeWorkers: limits.decode_workers as number | 'auto',
    });
    this.build();
  }

  get state(): CollectorState {
    return this.stateValue;
  }

  getExtension(id: string): Component | undefined {
    return this.extensions.find((e) => e.id === id)?.component;
  }

  describePipelines(): PipelineDescription[] {
    return this.plan.pipelines.map((p) => ({ name: p.name, receivers: [...p.receivers], processors: [...p.processors], exporters: [...p.exporters] }));
  }

  getComponent(kind: ComponentKind, id: string): Component | undefined {
    const all = { extension: this.extensions, exporter: this.exporters, processor: this.processors, receiver: this.receivers }[kind];
    return all.find((c) => c.id === id)?.component;
  }

  observeBatches(observer: BatchObserver): () => void {
    // A function value per call, so the same observer registered twice is removed once each.
    const entry: BatchObserver = (pipeline, batch) => observer(pipeline, batch);
    this.batchObservers.add(entry);
    return () => void this.batchObservers.delete(entry);
  }

  private settingsFor(planned: PlannedComponent, pipeline?: string) {
    return {
      id: planned.id,
      kind: planned.kind,
      logger: this.logger.child({ [planned.kind]: planned.id, ...(pipeline ? { pipeline } : {}) }),
      telemetry: this.telemetry.scoped({ [planned.kind]: planned.id }),
      baseDir: process.cwd(),
      limits: this.limits,
      ...(pipeline ? { pipeline } : {}),
    };
  }

  private planned(kind: ComponentKind, id: string): PlannedComponent {
    const planned = this.plan.components.get(componentKey(kind, id));
    if (!planned) throw new Error(`internal: ${kind} "${id}" is not in the plan`);
    return planned;
  }

  private build(): void {
    const { plan } = this;
    for (const id of plan.service.extensions) {
      const planned = this.planned('extension', id);
      if (planned.factory.kind !== 'extension') continue;
      this.extensions.push(new Managed('extension', id, planned.factory.create(this.settingsFor(planned), planned.config)));
    }
    const exporters = new Map<string, Exporter>();
    for (const id of new Set(plan.pipelines.flatMap((p) => p.exporters))) {
      const planned = this.planned('exporter', id);
      if (planned.factory.kind !== 'exporter') continue;
      const exporter = planned.factory.create(this.settingsFor(planned), planned.config);
      exporters.set(id, exporter);
      this.exporters.push(new Managed('exporter', id, exporter));
    }
    const pipelinesByReceiver = new Map<string, Pipeline[]>();
    for (const spec of plan.pipelines) {
      const pipeline = this.buildPipeline(spec, exporters);
      this.pipelines.push(pipeline);
      for (const id of spec.receivers) pipelinesByReceiver.set(id, [...(pipelinesByReceiver.get(id) ?? []), pipeline]);
    }
    for (const [id, pipelines] of pipelinesByReceiver) {
      const planned = this.planned('receiver', id);
      if (planned.factory.kind !== 'receiver') continue;
      const receiver: Receiver = planned.factory.create(this.settingsFor(planned), planned.config, new FanOut(pipelines));
      this.receivers.push(new Managed('receiver', id, receiver));
    }
    const used = new Set([
      ...plan.pipelines.flatMap((p) => [
        ...p.receivers.map((r) => `receiver:${r}`),
        ...p.processors.map((r) => `processor:${r}`),
        ...p.exporters.map((r) => `exporter:${r}`),
      ]),
      ...plan.service.extensions.map((e) => `extension:${e}`),
    ]);
    for (const key of plan.components.keys()) {
      if (!used.has(key)) this.logger.warn({ component: key }, 'component is configured but no pipeline uses it; it will not run');
    }
  }

  private buildPipeline(spec: PlannedPipeline, exporters: Map<string, Exporter>): Pipeline {
    const processors = spec.processors.map((id) => {
      const planned = this.planned('processor', id);
      if (planned.factory.kind !== 'processor') throw new Error(`internal: ${id} is not a processor`);
      const processor = planned.factory.create(this.settingsFor(planned, spec.name), planned.config);
      this.processors.push(new Managed('processor', `${id} (pipeline ${spec.name})`, processor));
      return { id, processor };
    });
    const targets = spec.exporters.map((id) => ({ id, exporter: exporters.get(id)! }));
    return new Pipeline(spec.name, processors, targets, this.telemetry, this.logger.child({ pipeline: spec.name }), this.batchObservers);
  }

  async start(): Promise<void> {
    if (this.stateValue !== 'created') throw new Error(`cannot start a collector that is ${this.stateValue}`);
    this.stateValue = 'starting';
    const order = [...this.extensions, ...this.exporters, ...this.processors, ...this.receivers];
    try {
      this.telemetryReaders = new TelemetryReaders(this.telemetry, this.plan.service.telemetry.metrics, this.logger);
      await this.telemetryReaders.start();
      for (const component of order) {
        await component.start(this);
        this.logger.debug({ kind: component.kind, id: component.id }, 'started');
      }
    } catch (error) {
      this.logger.error({ err: error }, 'start failed; stopping what had started');
      await this.stopComponents();
      this.stateValue = 'stopped';
      throw error;
    }
    this.stateValue = 'running';
    this.logger.info(
      { pipelines: this.pipelines.map((p) => p.name), receivers: this.receivers.map((r) => r.id), exporters: this.exporters.map((e) => e.id) },
      'profcol is running',
    );
    if (trimUnavailableReason) {
      this.logger.warn(`memory freed after large uploads stays resident until reused (no malloc_trim): ${trimUnavailableReason}`);
    }
  }

  /** Stops receivers, drains in-flight batches, then stops processors, exporters and extensions. Safe to call twice. */
  shutdown(): Promise<void> {
    this.stopping ??= this.stopComponents();
    return this.stopping;
  }

  private async stopComponents(): Promise<void> {
    this.stateValue = 'stopping';
    // One deadline for stopping the receivers (which wait for the requests they are answering)
    // and draining the pipelines; past it the exporters are stopped anyway.
    const timeoutMs = this.plan.service.shutdown_timeout;
    const deadline = Date.now() + timeoutMs;
    if (!(await beforeDeadline(this.stopAll(this.receivers), deadline))) {
      this.logger.error({ timeoutMs }, 'receivers did not stop within shutdown_timeout; stopping the exporters anyway');
    }
    const left = await Promise.all(this.pipelines.map((p) => p.drain(Math.max(0, deadline - Date.now()))));
    const stuck = left.reduce((a, b) => a + b, 0);
    if (stuck > 0) {
      this.telemetry.counter('profcol_shutdown_abandoned_batches_total', 'Batches still in flight when the shutdown timeout ran out.').add(stuck);
      this.logger.error({ batches: stuck, timeoutMs }, 'batches were still in flight when the shutdown timeout ran out');
    }
    await this.stopAll(this.processors);
    await this.stopAll(this.exporters);
    await this.stopAll(this.extensions);
    // Last, so the final export of an OTLP reader carries the counts of the shutdown itself.
    await this.telemetryReaders?.shutdown();
    this.stateValue = 'stopped';
    this.logger.info('profcol stopped');
  }

  private async stopAll(components: Managed[]): Promise<void> {
    for (const component of [...components].reverse()) {
      try {
        await component.shutdown();
      } catch (error) {
        this.logger.error({ kind: component.kind, id: component.id, err: error }, 'shutdown failed');
      }
    }
  }

  /** Where own metrics are served (`service.telemetry.metrics`), with the port the system chose for a 0. */
  ownMetricsAddresses(): string[] {
    return this.telemetryReaders?.addresses() ?? [];
  }
}
