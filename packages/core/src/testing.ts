/** Small helpers for testing a component on its own, without YAML or a host. */
import type { ServiceLimits } from './budget.js';
import type { ComponentKind, Consumer, CreateSettings, Host } from './component.js';
import { silentLogger, type Logger } from './logger.js';
import type { Batch } from './model.js';
import { Telemetry } from './telemetry.js';

export interface TestSettings extends CreateSettings {
  /** The telemetry behind `telemetry`, to read counters back. */
  registry: Telemetry;
  host: Host;
}

export function createTestSettings(options: {
  id: string;
  kind: ComponentKind;
  logger?: Logger;
  baseDir?: string;
  pipeline?: string;
  limits?: ServiceLimits;
}): TestSettings {
  // A second registration of one name with another description fails the test at once.
  const registry = new Telemetry({ onConflict: 'throw' });
  const logger = options.logger ?? silentLogger();
  return {
    id: options.id,
    kind: options.kind,
    logger,
    telemetry: registry.scoped({ [options.kind]: options.id }),
    baseDir: options.baseDir ?? process.cwd(),
    ...(options.pipeline ? { pipeline: options.pipeline } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    registry,
    host: { telemetry: registry, logger, getExtension: () => undefined },
  };
}

/** A consumer that keeps every batch it is given; `refuseWith` makes it reject instead. */
export class CollectingConsumer implements Consumer {
  readonly batches: Batch[] = [];
  refuseWith: Error | undefined;
  private waiters: { count: number; resolve: () => void }[] = [];

  async consume(batch: Batch): Promise<void> {
    if (this.refuseWith) throw this.refuseWith;
    this.batches.push(batch);
    this.waiters = this.waiters.filter((w) => (this.batches.length >= w.count ? (w.resolve(), false) : true));
  }

  get bundles() {
    return this.batches.flatMap((b) => b.bundles);
  }

  get metrics() {
    return this.batches.flatMap((b) => b.metrics);
  }

  /** Resolves once `count` batches have arrived, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.batches.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`waited ${timeoutMs} ms for ${count} batches, got ${this.batches.length}`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}
