/**
 * What every discovery mechanism shares: a read on a timer (the mechanism's `refresh_interval`,
 * on the receiver's clock), reads that never overlap (a read asked for during one runs once
 * after it), the last good target groups kept when a read fails, and the counters and logs.
 */
import type { Counter, Logger } from '@profcol/core';
import type { Clock, ClockTimer } from '../clock.js';
import { DiscoveryError, type TargetGroup } from './target-groups.js';

export type Mechanism = 'file_sd' | 'http_sd' | 'dns_sd';

export interface DiscoveryContext {
  clock: Clock;
  logger: Logger;
  receiverId: string;
  /** Relative paths (file_sd) resolve against it. */
  baseDir: string;
  /** Per request (http_sd). */
  timeoutMs: number;
  maxBodyBytes: number;
  refreshes: Counter;
  failures: Counter;
  /** Called after a read that changed the groups. */
  changed(): void;
}

/** A failure of one part of a read (one file, one DNS name) that keeps that part's previous targets. */
export interface PartialFailure {
  error: DiscoveryError;
}

export abstract class RefreshingDiscovery {
  /** The last good groups (a failed read keeps them). */
  private current: TargetGroup[] = [];
  private currentKey = '[]';
  private reading: Promise<void> | undefined;
  private again = false;
  private timer: ClockTimer | undefined;
  protected stopped = false;

  constructor(
    protected readonly context: DiscoveryContext,
    readonly mechanism: Mechanism,
    /** `file_sd[0]`: the config entry, for logs. */
    readonly name: string,
    readonly scheme: 'http' | 'https',
    private readonly refreshIntervalMs: number,
  ) {}

  get groups(): readonly TargetGroup[] {
    return this.current;
  }

  /**
   * Reads every source once. Throws a `DiscoveryError` when nothing could be read (the last good
   * groups stay); reports a failed part (one file, one name) with `partFailed` and keeps that
   * part's previous groups itself.
   */
  protected abstract read(): Promise<TargetGroup[]>;

  /** The first read, then one every refresh_interval until `stop()`. */
  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.context.clock.clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.context.clock.setTimeout(() => {
      void this.refresh().then(() => this.schedule());
    }, this.refreshIntervalMs);
  }

  /** Reads now (or once more after the read in progress); resolves when the groups are current. */
  refresh(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        await this.readOnce();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    let groups: TargetGroup[];
    try {
      groups = await this.read();
    } catch (error) {
      const failure =
        error instanceof DiscoveryError ? error : new DiscoveryError('network', error instanceof Error ? error.message : String(error), { cause: error });
      this.context.refreshes.add(1, { mechanism: this.mechanism, outcome: 'failed' });
      this.partFailed(failure, ` keeping the last good list (${this.current.reduce((n, g) => n + g.targets.length, 0)} targets)`);
      return;
    }
    if (this.stopped) return;
    this.context.refreshes.add(1, { mechanism: this.mechanism, outcome: 'success' });
    const key = JSON.stringify(groups);
    if (key === this.currentKey) return;
    this.current = groups;
    this.currentKey = key;
    this.context.changed();
  }

  /** Counts and logs a failed read (or part of one). */
  protected partFailed(error: DiscoveryError, kept: string): void {
    this.context.failures.add(1, { mechanism: this.mechanism, reason: error.reason });
    this.context.logger.warn(
      { receiver: this.context.receiverId, discovery: this.name, reason: error.reason },
      `pprof receiver ${this.context.receiverId}: ${this.name} failed (${error.reason}): ${error.message};${kept}`,
    );
  }
}
