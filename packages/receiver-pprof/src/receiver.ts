/**
 * The `pprof` receiver: scrapes Go `net/http/pprof` (and godeltaprof) endpoints. Every
 * round of a target fetches its enabled profiles (and the MemStats trailer) concurrently,
 * turns cumulative profiles into per-interval deltas against the previous round, and emits
 * ONE bundle for the round.
 */
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import {
  MemoryBudgetError,
  type Reservation,
  readTlsFiles,
  type Consumer,
  type Counter,
  type Histogram,
  type CreateSettings,
  type ProfileSummary,
  type MemStats,
  type Profile,
  type ProfileBundle,
  type Receiver,
  type ScrapeTargetReporter,
  type ScrapeTargetStatus,
  type TimeWindow,
} from '@profcol/core';
import {
  DecompressedTooLargeError,
  DecompressError,
  decodeFailureReason,
  ProfileDecoder,
  stackFiltersFor,
  deltaBaseline,
  deltaProfiles,
  parseMemStatsTrailer,
  PprofDecodeError,
  PULL_PROFILE_TYPES,
  type DeltaBaseline,
  type PullProfileSpec,
  type PullProfileType,
} from '@profcol/pprof';
import { delay, nowNanosOn, systemClock, type Clock, type ClockTimer } from './clock.js';
import { cpuSecondsOf, normalizeTargetUrl, type PprofReceiverConfig, type PprofTargetConfig } from './config.js';
import { hasDiscovery, TargetDiscovery } from './discovery/index.js';
import { httpGet, ScrapeError, type GetOptions, type ScrapeFailureReason, type TlsSettings } from './http.js';
import { fnv1a32, shardOf } from './shard.js';
import { DownloadSlots } from './slots.js';

/** What became of one round of one target. */
export type RoundOutcome =
  /** Every profile arrived and the bundle was accepted. */
  | 'success'
  /** Some requests failed; the bundle with the rest was accepted. */
  | 'partial'
  /** Nothing to emit yet: every delta'd profile was a first baseline (and nothing else was enabled or arrived). */
  | 'baseline'
  /** Every request failed; the target backs off. */
  | 'failed'
  /** The pipeline refused the bundle (backpressure). */
  | 'refused'
  /** Not scraped: the target is backing off after failed rounds. */
  | 'skipped_backoff'
  /** Not scraped: its previous round was still running, and another tick was already waiting for it. */
  | 'skipped_busy'
  /** The receiver shut down during the round; nothing was emitted. */
  | 'cancelled';

export interface ScrapeFailure {
  /** The profile type, or `memstats`, or `auth`, or `round` (an internal error of the round). */
  type: string;
  reason: ScrapeFailureReason;
  message: string;
}

export interface RoundReport {
  target: string;
  outcome: RoundOutcome;
  /** Profile types in the emitted bundle. */
  emitted: string[];
  /** Types that became a (first or new) baseline this round. */
  baselines: string[];
  /** Types whose counters went backwards (target restart): new baseline, nothing emitted. */
  resets: string[];
  /**
   * Cumulative types whose previous read was not in the round the bundle's window starts at (it
   * failed in between, or godeltaprof served a round that was refused): their totals would cover
   * another span than the window, so they became a new baseline and were not emitted.
   */
  realigned: string[];
  failures: ScrapeFailure[];
  bundle?: ProfileBundle;
}

export interface PprofReceiverOptions {
  /** Start the interval timers in `start()` (default true). Tests pass false and call `scrapeOnce()`. */
  autoStart?: boolean;
  /** The time source of the scheduler, the backoff, every request deadline and every window (default: the system clock). */
  clock?: Clock;
  /**
   * The collector-side delta of a cumulative profile (default: `@profcol/pprof`'s
   * `deltaProfiles`). A seam for tests that need a round to fail inside, where no request
   * can make it fail; production never sets it.
   */
  deltaProfiles?: typeof deltaProfiles;
}

/**
 * How long the rest of a round waits for the goroutine profile before starting anyway: the
 * goroutine count should not include the goroutines serving our own requests, but a target
 * that does not answer it must not hold up its CPU profile (a quarter of `timeout` if shorter).
 */
export const GOROUTINE_GRACE_MS = 1000;

/** A delta baseline: per-stack sums of the delta'd types and the TimeNanos, not the protobuf (never decoded again). */
type Baseline = DeltaBaseline;

interface Target {
  url: string;
  /** Written in `targets` (never removed), or found by discovery (removed when it is no longer found). */
  origin: 'static' | 'discovered';
  config: PprofTargetConfig;
  types: PullProfileType[];
  pathPrefix: string;
  memstats: boolean;
  resource: Record<string, string>;
  /** Collector-side delta baselines (per-stack sums of the previous accepted profile + its TimeNanos). */
  baselines: Map<PullProfileType, Baseline>;
  /** godeltaprof endpoints: the TimeNanos of the previous scrape, for the window. */
  godeltaTimes: Map<PullProfileType, bigint>;
  /**
   * Where the next bundle's window starts: when the cumulative answers (delta'd profiles,
   * godeltaprof, MemStats) of the last accepted round were read, on the receiver's clock. The
   * totals of the next round's deltas start there too, whenever that round ends.
   */
  windowStartNanos: bigint | undefined;
  /** Accepted rounds that moved `windowStartNanos`; a cumulative type's baseline is in step when it was read in the latest. */
  windowRound: number;
  /** The `windowRound` in which each cumulative type's baseline (or godeltaprof's previous answer) was read. */
  readInRound: Map<PullProfileType, number>;
  consecutiveFailures: number;
  /** Ticks still to sit out after failed rounds (backoff). */
  ticksToSkip: number;
  /** When the scheduler's next tick for this target fires (undefined when rounds are run by hand). */
  nextTickMs: number | undefined;
  /** The last round that ran, for the status page (`scrapeTargets()`). */
  lastRound: ScrapeTargetStatus['lastRound'];
  running: Promise<RoundReport> | undefined;
  /** The tick that came while `running` was: its round starts, late, when that one ends. */
  late: Promise<RoundReport> | undefined;
  timer: ClockTimer | undefined;
  /** Aborts the round in progress (the target was removed). */
  controller: AbortController | undefined;
  /** No longer a target (discovery lost it): its round in progress ends cancelled, nothing more is scheduled. */
  removed: boolean;
}

interface Fetched {
  type: PullProfileType;
  spec: PullProfileSpec;
  path: string;
  body: Uint8Array;
  decoded: ProfileSummary;
  requestStartNanos: bigint;
  /** When the answer was in, on the receiver's clock. */
  receivedAtNanos: bigint;
}

/** When every request of a round must be over, on the receiver's clock, and how a timeout says so. */
interface RoundDeadline {
  atMs: number;
  text: string;
}

/** The sample types each endpoint must carry, to tell a profile from a 200 that is not one. */
const EXPECTED_SAMPLE_TYPES: Record<string, string[]> = {
  cpu: ['cpu'],
  heap: ['alloc_space', 'inuse_space'],
  allocs: ['alloc_space', 'inuse_space'],
  goroutine: ['goroutine'],
  mutex: ['contentions', 'delay'],
  block: ['contentions', 'delay'],
  threadcreate: ['threadcreate'],
};

export class PprofReceiver implements Receiver, ScrapeTargetReporter {
  /**
   * The state of every target this replica owns (its baselines, backoff, schedule), by URL: a
   * target discovery no longer finds is deleted from it, so its state is freed. Read-only
   * outside the receiver (tests check that it shrinks).
   */
  readonly targetState = new Map<string, Target>();
  /** Rounds of removed targets still winding down: shutdown waits for them too. */
  private readonly retiring = new Set<Promise<unknown>>();
  private readonly discovery: TargetDiscovery | undefined;
  /** The scheduler runs: a target added now gets its timer at once. */
  private ticking = false;
  private readonly discoveryChanges: Counter;
  private readonly cpuSeconds: number;
  private readonly clock: Clock;
  /** Response bodies being read and decoded, across all targets (`max_concurrent_downloads`). */
  readonly downloads: DownloadSlots;
  private readonly controllers = new Set<AbortController>();
  private tls: TlsSettings | undefined;
  private started = false;
  private stopped = false;
  private readonly scrapes: Counter;
  private readonly failures: Counter;
  private readonly profiles: Counter;
  private readonly resets: Counter;
  private readonly downloadWaits: Counter;
  private readonly lateRounds: Counter;
  private readonly roundDuration: Histogram;

  /** The one decode path of the host (service.limits: the cap, the memory budget, the decode workers). */
  private readonly decoder: ProfileDecoder;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: PprofReceiverConfig,
    private readonly next: Consumer,
    private readonly options: PprofReceiverOptions = {},
  ) {
    this.cpuSeconds = cpuSecondsOf(config);
    this.clock = options.clock ?? systemClock;
    this.downloads = new DownloadSlots(config.max_concurrent_downloads);
    this.decoder = ProfileDecoder.for(settings);
    const t = settings.telemetry;
    this.scrapes = t.counter(
      'profcol_receiver_scrapes_total',
      'Scrape rounds of a target, by outcome (success, partial, baseline, failed, refused, skipped_backoff, skipped_busy, cancelled).',
    );
    this.failures = t.counter('profcol_receiver_scrape_failures_total', 'Failed requests of scrape rounds, by target, profile type and reason.');
    this.profiles = t.counter('profcol_receiver_profiles_total', 'Profiles scraped, by target, type and outcome (emitted, baseline, reset).');
    this.resets = t.counter(
      'profcol_receiver_delta_resets_total',
      'Cumulative profiles whose counters went backwards (a restarted target): taken as a new baseline.',
    );
    this.lateRounds = t.counter(
      'profcol_receiver_late_rounds_total',
      "Rounds that started after their tick because the target's previous round was still running (one tick waits for it; a further one is skipped_busy).",
    );
    this.roundDuration = t.histogram(
      'profcol_receiver_scrape_round_duration_seconds',
      "Time a scrape round of a target took (every profile type, the CPU profile's seconds included), by outcome, in seconds.",
      { unit: 's' },
    );
    this.downloadWaits = t.counter(
      'profcol_receiver_download_waits_total',
      'Answers that waited, paused, for a download slot because max_concurrent_downloads bodies were being read and decoded.',
    );
    this.discoveryChanges = t.counter(
      'profcol_receiver_discovery_target_changes_total',
      'Targets this replica started (added) or stopped (removed) scraping, or whose labels changed (updated), because of discovery.',
    );
    const { index, total } = config.shard;
    for (const target of config.targets.filter((target) => shardOf(target.url, total) === index)) {
      const made = this.makeTarget(target, 'static');
      this.targetState.set(made.url, made);
    }
    if (hasDiscovery(config)) {
      this.discovery = new TargetDiscovery(settings, config, this.clock, new Set(config.targets.map((t) => normalizeTargetUrl(t.url))), (targets) =>
        this.applyDiscovered(targets),
      );
    }
  }

  /** Every target this replica owns now, static and discovered. */
  get targets(): Target[] {
    return [...this.targetState.values()];
  }

  private makeTarget(config: PprofTargetConfig, origin: Target['origin']): Target {
    const url = normalizeTargetUrl(config.url);
    return {
      url,
      origin,
      config,
      types: [...new Set(config.enabled_types ?? this.config.enabled_types)],
      pathPrefix: (config.path_prefix ?? this.config.path_prefix).replace(/\/+$/, ''),
      memstats: config.memstats ?? this.config.memstats,
      resource: resourceOf(url, config),
      baselines: new Map(),
      godeltaTimes: new Map(),
      windowStartNanos: undefined,
      windowRound: 0,
      readInRound: new Map(),
      consecutiveFailures: 0,
      ticksToSkip: 0,
      nextTickMs: undefined,
      lastRound: undefined,
      running: undefined,
      late: undefined,
      timer: undefined,
      controller: undefined,
      removed: false,
    };
  }

  /**
   * Makes the discovered targets this replica owns (its shard of them) the ones it scrapes,
   * beside the static ones: a new one is scheduled at once (at its jitter offset), a lost one
   * stops — its round in progress is cancelled and its state (delta baselines, backoff) freed —
   * and one whose labels changed keeps its baselines with the new service/env/version/tags.
   * Logged once per change.
   */
  private applyDiscovered(discovered: PprofTargetConfig[]): void {
    if (this.stopped) return;
    const { index, total } = this.config.shard;
    const wanted = new Map<string, PprofTargetConfig>();
    for (const config of discovered) {
      const url = normalizeTargetUrl(config.url);
      if (shardOf(url, total) === index) wanted.set(url, config);
    }
    const added: string[] = [];
    const removed: string[] = [];
    const updated: string[] = [];
    for (const target of this.targetState.values()) {
      if (target.origin === 'discovered' && !wanted.has(target.url)) {
        this.retire(target);
        removed.push(target.url);
      }
    }
    for (const [url, config] of wanted) {
      const existing = this.targetState.get(url);
      if (!existing) {
        const target = this.makeTarget(config, 'discovered');
        this.targetState.set(url, target);
        if (this.ticking) this.scheduleTick(target, this.clock.now() + this.jitterOffset(target));
        added.push(url);
      } else if (existing.origin === 'discovered' && JSON.stringify(labelsOf(existing.config)) !== JSON.stringify(labelsOf(config))) {
        existing.config = config;
        existing.resource = resourceOf(url, config);
        updated.push(url);
      }
    }
    if (added.length + removed.length + updated.length === 0) return;
    this.discoveryChanges.add(added.length, { change: 'added' });
    this.discoveryChanges.add(removed.length, { change: 'removed' });
    this.discoveryChanges.add(updated.length, { change: 'updated' });
    const list = (urls: string[]) => (urls.length > 10 ? `${urls.slice(0, 10).join(', ')}, ...` : urls.join(', '));
    const parts = [
      added.length > 0 ? `added ${plural(added.length, 'target')} (${list(added)})` : '',
      removed.length > 0 ? `removed ${plural(removed.length, 'target')} (${list(removed)})` : '',
      updated.length > 0 ? `updated the labels of ${plural(updated.length, 'target')} (${list(updated)})` : '',
    ].filter(Boolean);
    this.settings.logger.info(
      { receiver: this.settings.id, added, removed, updated, targets: this.targetState.size, shard: `${index}/${total}` },
      `pprof receiver ${this.settings.id}: discovery ${parts.join(', ')}; scraping ${plural(this.targetState.size, 'target')}${total > 1 ? ` (shard ${index} of ${total})` : ''}`,
    );
  }

  /** Stops scraping a target and frees its state; a round in progress ends cancelled (shutdown still waits for it). */
  private retire(target: Target): void {
    target.removed = true;
    this.clock.clearTimeout(target.timer);
    target.controller?.abort();
    this.targetState.delete(target.url);
    for (const round of [target.running, target.late]) {
      if (!round) continue;
      this.retiring.add(round);
      void round.finally(() => this.retiring.delete(round));
    }
  }

  /** Reads every discovery mechanism now (they also read on their own refresh_interval and, for files, on changes). */
  async refreshDiscovery(): Promise<void> {
    await this.discovery?.refresh();
  }

  private jitterOffset(target: Target): number {
    const jitter = this.config.jitter ?? this.config.interval;
    return Math.floor((fnv1a32(`jitter:${target.url}`) / 2 ** 32) * jitter);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.tls = await this.loadTls();
    // The first read of each discovery, so the first ticks include what it found; one that
    // fails (counted, logged) finds its targets on a later refresh.
    await this.discovery?.start();
    const { index, total } = this.config.shard;
    const discovery = this.discovery
      ? ` (${this.config.targets.length} static, the rest discovered by ${this.discovery.mechanisms.map((m) => m.name).join(', ')})`
      : ` of ${this.config.targets.length}`;
    this.settings.logger.info(
      {
        receiver: this.settings.id,
        targets: this.targets.map((t) => t.url),
        shard: `${index}/${total}`,
        interval_ms: this.config.interval,
        cpu_seconds: this.cpuSeconds,
      },
      `pprof receiver scrapes ${plural(this.targetState.size, 'target')}${discovery} (shard ${index} of ${total}) every ${this.config.interval / 1000}s`,
    );
    if (this.options.autoStart === false || this.stopped) return;
    this.ticking = true;
    for (const target of this.targets) this.scheduleTick(target, this.clock.now() + this.jitterOffset(target));
  }

  private scheduleTick(target: Target, atMs: number): void {
    if (this.stopped || target.removed) return;
    target.nextTickMs = atMs;
    target.timer = this.clock.setTimeout(
      () => {
        // Keep the target's phase: the next tick is a whole number of intervals after this one.
        this.scheduleTick(target, atMs + this.config.interval * Math.max(1, Math.ceil((this.clock.now() - atMs + 1) / this.config.interval)));
        void this.runRound(target);
      },
      Math.max(0, atMs - this.clock.now()),
    );
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    this.discovery?.stop();
    for (const target of this.targets) this.clock.clearTimeout(target.timer);
    for (const controller of this.controllers) controller.abort();
    await Promise.allSettled([...this.targets.flatMap((t) => [t.running, t.late]), ...this.retiring]);
    await this.decoder.close();
  }

  /**
   * One round of every target this replica owns, now (the scheduler calls the same code on
   * each tick). Backing-off and busy targets are reported as skipped.
   */
  async scrapeOnce(): Promise<RoundReport[]> {
    if (!this.started) await this.start();
    return Promise.all(this.targets.map((target) => this.runRound(target)));
  }

  private runRound(target: Target): Promise<RoundReport> {
    const empty = { target: target.url, emitted: [], baselines: [], resets: [], realigned: [], failures: [] };
    if (target.running) {
      // Like Go's time.Ticker (and so Alloy's scrape loop): one tick waits for a round that
      // runs over, so a round a little late on a busy machine is late, not lost; a second
      // tick while it waits is dropped.
      if (!target.late) {
        const dueMs = this.clock.now();
        target.late = target.running.then(() => {
          target.late = undefined;
          this.lateRounds.add(1, { target: target.url });
          this.settings.logger.debug(
            { target: target.url, late_ms: this.clock.now() - dueMs },
            `pprof target ${target.url}: round starts ${this.clock.now() - dueMs} ms late, after the previous one`,
          );
          return this.runRound(target);
        });
        return target.late;
      }
      this.scrapes.add(1, { target: target.url, outcome: 'skipped_busy' });
      this.settings.logger.warn({ target: target.url }, `pprof target ${target.url}: previous round still running and another waiting, skipping this one`);
      return Promise.resolve({ ...empty, outcome: 'skipped_busy' });
    }
    if (target.ticksToSkip > 0) {
      target.ticksToSkip--;
      this.scrapes.add(1, { target: target.url, outcome: 'skipped_backoff' });
      this.settings.logger.debug(
        { target: target.url, ticks_to_skip: target.ticksToSkip },
        `pprof target ${target.url}: backing off after ${plural(target.consecutiveFailures, 'failed round')} (${plural(target.ticksToSkip, 'more round')} to sit out)`,
      );
      return Promise.resolve({ ...empty, outcome: 'skipped_backoff' });
    }
    // Nothing may escape a round: the scheduler does not await it, and an unhandled rejection
    // ends the process. An internal error is a failed round; the scheduler goes on.
    const startedAtMs = this.clock.now();
    const round = this.scrape(target)
      .catch((error: unknown) => this.finishInternalError(target, error))
      .then((report) => {
        target.lastRound = { outcome: report.outcome, startedAtMs, durationMs: this.clock.now() - startedAtMs };
        this.roundDuration.record(target.lastRound.durationMs / 1000, { outcome: report.outcome });
        return report;
      })
      .finally(() => {
        target.running = undefined;
      });
    target.running = round;
    return round;
  }

  private async scrape(target: Target): Promise<RoundReport> {
    const report: RoundReport = { target: target.url, outcome: 'success', emitted: [], baselines: [], resets: [], realigned: [], failures: [] };
    if (this.stopped || target.removed) {
      report.outcome = 'cancelled';
      this.scrapes.add(1, { target: target.url, outcome: 'cancelled' });
      return report;
    }
    const roundStart = nowNanosOn(this.clock);
    const controller = new AbortController();
    const lanes: HttpAgent[] = [];
    // What the round's profiles decompress to stays charged to the memory budget until the
    // pipeline has taken the bundle (or the round ends without one).
    const reservation = this.decoder.limits.budget.tryReserve(0)!;
    this.controllers.add(controller);
    target.controller = controller;
    try {
      const fail = (type: string, error: unknown) => {
        // A removed target's requests fail because its round was cancelled: the round is counted as such, not each request.
        if (target.removed) return;
        const scrapeError = toScrapeError(error);
        report.failures.push({ type, reason: scrapeError.reason, message: scrapeError.message });
        this.failures.add(1, { target: target.url, type, reason: scrapeError.reason });
        this.settings.logger.warn(
          { target: target.url, type, reason: scrapeError.reason },
          `pprof target ${target.url}: ${type} failed (${scrapeError.reason}): ${scrapeError.message}`,
        );
      };

      let headers: Record<string, string> = {};
      try {
        headers = await this.authHeaders(target);
      } catch (error) {
        fail('auth', error);
        return this.finishFailed(target, report);
      }

      // One deadline bounds the round: no request of it outlives timeout (+ cpu_seconds when
      // the CPU profile is enabled) after the round started.
      const hasCpu = target.types.includes('cpu');
      const deadline: RoundDeadline = {
        atMs: this.clock.now() + this.config.timeout + (hasCpu ? this.cpuSeconds * 1000 : 0),
        text: `before the round's deadline (timeout${hasCpu ? ' + cpu_seconds' : ''} = ${this.config.timeout + (hasCpu ? this.cpuSeconds * 1000 : 0)} ms after the round started)`,
      };
      // Two connections per round instead of one per request (a connect is the largest cost
      // of a round on our side): the CPU profile's own, and one kept alive for the rest, which
      // go one after another (goroutine first), closed with the round, so that no idle
      // connection adds a goroutine to the target between rounds.
      let lane: HttpAgent | undefined = target.url.startsWith('https:')
        ? new HttpsAgent({ keepAlive: true, maxSockets: 1 })
        : new HttpAgent({ keepAlive: true, maxSockets: 1 });
      lanes.push(lane);
      const fetchOne = (type: PullProfileType, onHeaders?: () => void) =>
        this.fetchProfile(target, type, headers, controller.signal, deadline, type === 'cpu' ? undefined : lane, reservation, onHeaders).then(
          (fetched) => fetched,
          (error: unknown) => (fail(type, error), undefined),
        );
      // The goroutine profile counts the goroutines serving our own requests too: take it
      // alone, before the others open their connections, so it is off by one at most. Its
      // response headers mean the target has taken it (net/http/pprof writes nothing before
      // the profile is collected), so the rest starts then, not after its body is decoded;
      // a target slow to answer gets a short grace, not its whole timeout.
      let goroutineFirst: Promise<Fetched | undefined> = Promise.resolve(undefined);
      if (target.types.includes('goroutine')) {
        let answered!: () => void;
        const headersIn = new Promise<void>((resolve) => (answered = resolve));
        goroutineFirst = fetchOne('goroutine', answered);
        const grace = delay(this.clock, Math.min(GOROUTINE_GRACE_MS, this.config.timeout / 4));
        let answeredInTime = false;
        await Promise.race([headersIn.then(() => (answeredInTime = true)), goroutineFirst.then(() => (answeredInTime = true)), grace.done]);
        grace.cancel();
        // A target that has not answered gets a connection per request, as nothing may queue
        // behind a request that may never end, and each request fails on its own.
        if (!answeredInTime) lane = undefined;
      }
      const fetches = target.types.filter((type) => type !== 'goroutine').map((type) => fetchOne(type));
      const memStatsFetch = target.memstats
        ? this.fetchMemStats(target, headers, controller.signal, deadline, lane).catch((error: unknown) => (fail('memstats', error), undefined))
        : Promise.resolve(undefined);
      const [goroutine, others, memStats] = await Promise.all([goroutineFirst, Promise.all(fetches), memStatsFetch]);
      // Profiles keep the configured order of enabled_types.
      const fetched = target.types.map((type) => (type === 'goroutine' ? goroutine : others.shift()));
      if (this.stopped || target.removed) {
        report.outcome = 'cancelled';
        this.scrapes.add(1, { target: target.url, outcome: 'cancelled' });
        return report;
      }
      const roundEnd = nowNanosOn(this.clock);
      const requests = target.types.length + (target.memstats ? 1 : 0);
      if (report.failures.length >= requests) return this.finishFailed(target, report);
      target.consecutiveFailures = 0;
      target.ticksToSkip = 0;

      // Turn what arrived into profiles; baselines advance only once the bundle is accepted.
      const profiles: Profile[] = [];
      const advance = new Map<PullProfileType, Baseline>();
      for (const item of fetched) {
        if (!item) continue;
        const profile = this.toProfile(target, item, report, advance, fail);
        if (profile) profiles.push(profile);
      }

      // The window the totals describe: from the previous accepted round's cumulative reads to
      // this round's, not to the round's end. A round cut short (a target dying during its CPU
      // profile) ends early, but its deltas and MemStats still cover the whole interval since
      // the previous reads; and a full round's end is cpu_seconds after them.
      const cumulativeReads = fetched.filter((item): item is Fetched => item !== undefined && isCumulative(item.spec)).map((item) => item.receivedAtNanos);
      if (memStats) cumulativeReads.push(memStats.readAtNanos);
      const readAt = cumulativeReads.length > 0 ? cumulativeReads.reduce((a, b) => (a > b ? a : b)) : undefined;
      const hasCumulative = target.memstats || target.types.some((type) => isCumulative(PULL_PROFILE_TYPES[type]));
      // Without any cumulative source the round's end is as good a point as any; with some, none
      // of which answered, the window must not move: the next deltas start where it starts now.
      const windowEnd = readAt ?? roundEnd;
      const moveWindow = readAt !== undefined || !hasCumulative;
      const acceptReads = () => {
        for (const [type, baseline] of advance) target.baselines.set(type, baseline);
        if (!moveWindow) return;
        target.windowStartNanos = windowEnd;
        target.windowRound++;
        for (const item of fetched) if (item && isCumulative(item.spec)) target.readInRound.set(item.type, target.windowRound);
      };

      if (profiles.length === 0 && !memStats) {
        acceptReads();
        report.outcome = 'baseline';
        this.scrapes.add(1, { target: target.url, outcome: 'baseline' });
        this.settings.logger.debug({ target: target.url }, `pprof target ${target.url}: baseline round, nothing to emit yet`);
        return report;
      }

      const bundle: ProfileBundle = {
        source: this.settings.id,
        resource: { ...target.resource },
        tags: { ...target.config.tags },
        window: { startNanos: target.windowStartNanos ?? roundStart, endNanos: windowEnd },
        profiles,
        ...(memStats ? { memStats } : {}),
      };
      try {
        await this.next.consume({ bundles: [bundle], metrics: [] });
      } catch (error) {
        // Baselines stay where they were: the next delta covers this window too.
        report.outcome = 'refused';
        this.scrapes.add(1, { target: target.url, outcome: 'refused' });
        this.settings.logger.warn(
          { target: target.url, err: error instanceof Error ? error.message : String(error) },
          `pprof target ${target.url}: the pipeline refused the bundle (${profiles.length} profiles); deltas will cover this window next round`,
        );
        return report;
      }
      acceptReads();
      report.outcome = report.failures.length > 0 ? 'partial' : 'success';
      report.emitted = profiles.map((p) => p.type);
      report.bundle = bundle;
      for (const profile of profiles) this.profiles.add(1, { target: target.url, type: profile.type, outcome: 'emitted' });
      this.scrapes.add(1, { target: target.url, outcome: report.outcome });
      this.settings.logger.debug(
        { target: target.url, profiles: report.emitted, memstats: Boolean(memStats) },
        `pprof target ${target.url}: emitted ${profiles.length} profiles`,
      );
      return report;
    } finally {
      reservation.release();
      this.controllers.delete(controller);
      target.controller = undefined;
      for (const lane of lanes) lane.destroy();
    }
  }

  /** A round that threw (a bug, not a failed request): logged with the target, counted as a failed round. */
  private finishInternalError(target: Target, error: unknown): RoundReport {
    const message = error instanceof Error ? error.message : String(error);
    const report: RoundReport = {
      target: target.url,
      outcome: 'failed',
      emitted: [],
      baselines: [],
      resets: [],
      realigned: [],
      failures: [{ type: 'round', reason: 'internal', message }],
    };
    this.failures.add(1, { target: target.url, type: 'round', reason: 'internal' });
    this.settings.logger.error(
      { target: target.url, type: 'round', reason: 'internal', err: error instanceof Error ? error.stack : message },
      `pprof target ${target.url}: the round failed on an internal error, nothing was emitted: ${message}`,
    );
    return this.finishFailed(target, report, 'the round failed on an internal error');
  }

  private finishFailed(target: Target, report: RoundReport, why = 'every request failed'): RoundReport {
    target.consecutiveFailures++;
    // Sit out 1, 3, 7, ... ticks, at most backoff_max worth of them (none when it is below the interval).
    const maxTicks = Math.floor((this.config.backoff_max ?? this.config.interval) / this.config.interval);
    target.ticksToSkip = Math.min(maxTicks, 2 ** Math.min(target.consecutiveFailures, 20) - 1);
    report.outcome = 'failed';
    this.scrapes.add(1, { target: target.url, outcome: 'failed' });
    const nextAttemptMs = this.nextAttemptMs(target);
    const sittingOut = target.ticksToSkip > 0 ? `sitting out ${plural(target.ticksToSkip, 'round')}` : 'not backing off';
    const when =
      nextAttemptMs === undefined
        ? sittingOut
        : `next attempt at ${new Date(nextAttemptMs).toISOString()} (in ${Math.round(Math.max(0, nextAttemptMs - this.clock.now()) / 100) / 10}s; ${sittingOut})`;
    this.settings.logger.warn(
      {
        target: target.url,
        consecutive_failures: target.consecutiveFailures,
        ticks_to_skip: target.ticksToSkip,
        ...(nextAttemptMs === undefined ? {} : { next_attempt_at: new Date(nextAttemptMs).toISOString() }),
      },
      `pprof target ${target.url}: ${why} (${plural(target.consecutiveFailures, 'failed round')} in a row); ${when}`,
    );
    return report;
  }

  /** How each target this replica owns is doing, for the status page: read-only, no credentials. */
  scrapeTargets(): ScrapeTargetStatus[] {
    return this.targets.map((target) => {
      const nextAttemptMs = this.nextAttemptMs(target);
      return {
        target: target.url,
        ...(target.config.service ? { service: target.config.service } : {}),
        ...(target.lastRound ? { lastRound: { ...target.lastRound } } : {}),
        consecutiveFailures: target.consecutiveFailures,
        ticksToSkip: target.ticksToSkip,
        ...(nextAttemptMs !== undefined ? { nextAttemptMs } : {}),
        running: target.running !== undefined,
      };
    });
  }

  /**
   * When the scheduler will next scrape `target` after its backoff: the tick after the ones it
   * sits out. A tick that came during the failed round and waits for it is the first one.
   */
  private nextAttemptMs(target: Target): number | undefined {
    if (target.nextTickMs === undefined || this.stopped) return undefined;
    const ticks = target.late ? [this.clock.now(), target.nextTickMs] : [target.nextTickMs];
    const k = target.ticksToSkip;
    return k < ticks.length ? ticks[k]! : target.nextTickMs + (k - ticks.length + 1) * this.config.interval;
  }

  private toProfile(
    target: Target,
    item: Fetched,
    report: RoundReport,
    advance: Map<PullProfileType, Baseline>,
    fail: (type: string, error: unknown) => void,
  ): Profile | undefined {
    const { type, spec, decoded } = item;
    const base = { type: spec.type, name: item.path };
    /** This read as the type's next baseline (applied when the bundle is accepted); false when it cannot be one (the profile failed). */
    const advanceToThisRead = (): boolean => {
      try {
        advance.set(type, deltaBaseline(decoded.pprof, spec.deltaTypes));
        return true;
      } catch (error) {
        fail(type, error);
        return false;
      }
    };
    // A cumulative type read before the round the window starts at (it failed since) would
    // bring totals over a longer span than the window: it starts over from this read instead.
    const readIn = target.readInRound.get(type);
    if (isCumulative(spec) && readIn !== undefined && readIn !== target.windowRound) {
      if (spec.alreadyDelta) target.godeltaTimes.set(type, decoded.timeNanos);
      else if (!advanceToThisRead()) return undefined;
      report.realigned.push(type);
      this.profiles.add(1, { target: target.url, type: spec.type, outcome: 'realigned' });
      this.settings.logger.warn(
        { target: target.url, type },
        `pprof target ${target.url}: ${type} was not read in the round this bundle's window starts at (it failed there, or that bundle was refused), so its totals would not cover the window; not emitted this round, it starts over from this read`,
      );
      return undefined;
    }
    if (spec.deltaTypes.length > 0) {
      const previous = target.baselines.get(type);
      if (!previous) {
        if (!advanceToThisRead()) return undefined;
        report.baselines.push(type);
        this.profiles.add(1, { target: target.url, type: spec.type, outcome: 'baseline' });
        return undefined;
      }
      let result;
      try {
        result = (this.options.deltaProfiles ?? deltaProfiles)(previous, decoded, spec.deltaTypes);
      } catch (error) {
        // A malformed profile fails this profile; anything else is a bug, and fails the round.
        if (!(error instanceof PprofDecodeError)) throw error;
        // Start over from this profile if it can be a baseline at all.
        try {
          target.baselines.set(type, deltaBaseline(decoded.pprof, spec.deltaTypes));
        } catch {
          target.baselines.delete(type);
        }
        fail(type, error);
        return undefined;
      }
      if (result.kind === 'reset') {
        advance.set(type, result.baseline);
        report.resets.push(type);
        this.resets.add(1, { target: target.url, type: spec.type });
        this.profiles.add(1, { target: target.url, type: spec.type, outcome: 'reset' });
        this.settings.logger.warn(
          { target: target.url, type, reason: result.reason },
          `pprof target ${target.url}: ${type} counters reset (${result.reason}); starting a new baseline`,
        );
        return undefined;
      }
      advance.set(type, result.baseline);
      return {
        ...base,
        data: result.pprof,
        decoded: result.decoded,
        delta: true,
        window: { startNanos: previous.timeNanos, endNanos: decoded.timeNanos },
      };
    }
    if (spec.alreadyDelta) {
      const previous = target.godeltaTimes.get(type);
      target.godeltaTimes.set(type, decoded.timeNanos);
      if (previous === undefined) {
        // The first answer covers everything since the target started (or since another client's call).
        report.baselines.push(type);
        this.profiles.add(1, { target: target.url, type: spec.type, outcome: 'baseline' });
        return undefined;
      }
      return { ...base, data: item.body, decoded, delta: true, window: { startNanos: previous, endNanos: decoded.timeNanos } };
    }
    if (type === 'cpu') {
      const window: TimeWindow =
        decoded.timeNanos > 0n && decoded.durationNanos > 0n
          ? { startNanos: decoded.timeNanos, endNanos: decoded.timeNanos + decoded.durationNanos }
          : { startNanos: item.requestStartNanos, endNanos: item.requestStartNanos + BigInt(this.cpuSeconds) * 1_000_000_000n };
      return { ...base, data: item.body, decoded, window };
    }
    return { ...base, data: item.body, decoded };
  }

  private urlFor(target: Target, path: string): URL {
    return new URL(target.url + target.pathPrefix + path);
  }

  /**
   * The options of one request of a round: its own timeout, cut short by the round's
   * deadline; its body read and decoded under a download slot, which `withDownloadSlot`
   * gives back.
   */
  private requestOptions(
    headers: Record<string, string>,
    signal: AbortSignal,
    ownTimeoutMs: number,
    deadline: RoundDeadline,
    slot: { held: boolean },
    lane: HttpAgent | undefined,
    onHeaders?: () => void,
  ): GetOptions {
    const untilDeadlineMs = deadline.atMs - this.clock.now();
    const capped = untilDeadlineMs < ownTimeoutMs;
    return {
      timeoutMs: capped ? untilDeadlineMs : ownTimeoutMs,
      ...(capped ? { deadlineText: deadline.text } : {}),
      maxBytes: this.config.max_body_bytes,
      headers,
      ...(this.tls ? { tls: this.tls } : {}),
      signal,
      clock: this.clock,
      ...(lane ? { agent: lane } : {}),
      beforeBody: (aborted) => {
        onHeaders?.();
        if (this.downloads.inUse >= this.downloads.limit) this.downloadWaits.add(1);
        return this.downloads.acquire(aborted).then(() => {
          slot.held = true;
        });
      },
    };
  }

  /** Runs a request made with `requestOptions(…, slot)` and the work on its body, then frees the slot it took. */
  private async withDownloadSlot<T>(run: (slot: { held: boolean }) => Promise<T>): Promise<T> {
    const slot = { held: false };
    try {
      return await run(slot);
    } finally {
      if (slot.held) this.downloads.release();
    }
  }

  private fetchProfile(
    target: Target,
    type: PullProfileType,
    headers: Record<string, string>,
    signal: AbortSignal,
    deadline: RoundDeadline,
    lane: HttpAgent | undefined,
    reservation: Reservation,
    onHeaders?: () => void,
  ): Promise<Fetched> {
    const ownTimeoutMs = this.config.timeout + (type === 'cpu' ? this.cpuSeconds * 1000 : 0);
    return this.withDownloadSlot((slot) =>
      this.fetchAndDecode(target, type, this.requestOptions(headers, signal, ownTimeoutMs, deadline, slot, lane, onHeaders), reservation),
    );
  }

  private async fetchAndDecode(target: Target, type: PullProfileType, options: GetOptions, reservation: Reservation): Promise<Fetched> {
    const spec = PULL_PROFILE_TYPES[type];
    const url = this.urlFor(target, spec.path + (type === 'cpu' ? `?seconds=${this.cpuSeconds}` : ''));
    const requestStartNanos = nowNanosOn(this.clock);
    const response = await httpGet(url, options);
    const receivedAtNanos = nowNanosOn(this.clock);
    if (response.status !== 200) throw statusError(url, response.status, response.body);
    if (response.body.length === 0) throw new ScrapeError('pprof', `GET ${url.pathname} returned an empty body`);
    // Each profile on its own under service.limits.max_decompressed_bytes: a scrape round's
    // profiles arrive one by one, unlike an upload's.
    const [outcome] = await this.decoder.decodeAll([{ bytes: response.body, stackFilters: stackFiltersFor(spec.type) }], {
      signal: options.signal,
      reservation,
    });
    if (!outcome!.ok) throw toScrapeError(outcome!.error);
    const decoded: ProfileSummary = outcome!.decoded!;
    const expected = EXPECTED_SAMPLE_TYPES[spec.type] ?? [];
    const have = decoded.sampleTypes.map((t) => t.type);
    const missing = expected.filter((t) => !have.includes(t));
    if (missing.length > 0 || have.length === 0) {
      throw new ScrapeError(
        'unexpected_profile',
        `GET ${url.pathname} returned a profile with sample types [${have.join(', ')}], expected ${expected.join(' and ')}`,
      );
    }
    return { type, spec, path: spec.path, body: response.body, decoded, requestStartNanos, receivedAtNanos };
  }

  private fetchMemStats(
    target: Target,
    headers: Record<string, string>,
    signal: AbortSignal,
    deadline: RoundDeadline,
    lane: HttpAgent | undefined,
  ): Promise<MemStats> {
    return this.withDownloadSlot(async (slot) => {
      const url = this.urlFor(target, '/debug/pprof/heap?debug=1');
      const response = await httpGet(url, this.requestOptions(headers, signal, this.config.timeout, deadline, slot, lane));
      if (response.status !== 200) throw statusError(url, response.status, response.body);
      try {
        return parseMemStatsTrailer(new TextDecoder().decode(response.body), nowNanosOn(this.clock));
      } catch (error) {
        throw new ScrapeError('memstats', (error as Error).message, { cause: error });
      }
    });
  }

  private async authHeaders(target: Target): Promise<Record<string, string>> {
    const file = target.config.bearer_token_file ?? (target.config.bearer_token === undefined ? this.config.bearer_token_file : undefined);
    const token = target.config.bearer_token ?? (file === undefined ? this.config.bearer_token : undefined);
    if (file !== undefined) {
      try {
        const text = (await readFile(this.resolve(file), 'utf8')).trim();
        return { authorization: `Bearer ${text}` };
      } catch (error) {
        throw new ScrapeError('auth', `cannot read bearer_token_file ${this.resolve(file)}: ${(error as Error).message}`, { cause: error });
      }
    }
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  private resolve(path: string): string {
    return isAbsolute(path) ? path : resolvePath(this.settings.baseDir, path);
  }

  private async loadTls(): Promise<TlsSettings | undefined> {
    const tls = this.config.tls;
    const { ca, cert, key } = await readTlsFiles(this.settings.baseDir, tls, `receivers::${this.settings.id}::tls`);
    const settings: TlsSettings = { rejectUnauthorized: !tls.insecure_skip_verify };
    if (ca) settings.ca = ca;
    if (cert) settings.cert = cert;
    if (key) settings.key = key;
    if (tls.server_name) settings.servername = tls.server_name;
    return settings;
  }
}

/** The resource of a target's bundles: service, env, version (each omitted when empty), the language, and where it is. */
function resourceOf(url: string, config: PprofTargetConfig): Record<string, string> {
  const resource: Record<string, string> = {};
  for (const key of ['service', 'env', 'version'] as const) if (config[key]) resource[key] = config[key];
  resource.language = 'golang';
  resource.instance = url;
  resource.host = new URL(url).host;
  return resource;
}

/** What discovery can change about a target: its labels. */
function labelsOf(config: PprofTargetConfig): unknown {
  return [config.service, config.env, config.version, Object.entries(config.tags).sort(([a], [b]) => a.localeCompare(b))];
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Profiles whose totals cover the time since the previous read (collector-side deltas, godeltaprof). */
function isCumulative(spec: PullProfileSpec): boolean {
  return spec.deltaTypes.length > 0 || spec.alreadyDelta;
}

function statusError(url: URL, status: number, body: Uint8Array): ScrapeError {
  const text = new TextDecoder().decode(body.subarray(0, 300)).replace(/\s+/g, ' ').trim();
  return new ScrapeError('http_status', `GET ${url.pathname}${url.search} returned HTTP ${status}${text ? `: ${text}` : ''}`);
}

function toScrapeError(error: unknown): ScrapeError {
  if (error instanceof ScrapeError) return error;
  if (error instanceof DecompressedTooLargeError) return new ScrapeError('too_large', error.message, { cause: error });
  if (error instanceof DecompressError) return new ScrapeError('decompress', error.message, { cause: error });
  if (error instanceof PprofDecodeError) return new ScrapeError('pprof', error.message, { cause: error });
  if (error instanceof MemoryBudgetError) return new ScrapeError('memory_budget', error.message, { cause: error });
  if (decodeFailureReason(error) === 'worker') return new ScrapeError('decoder_failed', (error as Error).message, { cause: error });
  return new ScrapeError('network', error instanceof Error ? error.message : String(error), { cause: error });
}
