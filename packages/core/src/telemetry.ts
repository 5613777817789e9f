/**
 * profcol's own metrics: every accept, drop, retry and refusal is counted here, and the
 * durations of requests, scrape rounds, derivations and exports are recorded as histograms.
 *
 * `Telemetry` is an OpenTelemetry SDK `MetricProducer`: the SDK's readers collect it — the
 * Prometheus exporter behind `service.telemetry.metrics.address`, periodic OTLP readers under
 * `service.telemetry.metrics.readers` (see `telemetry/readers.ts`) — and it hands them
 * `MetricData` the SDK's own serializers write. What it does not take from the SDK is the
 * recording: the SDK's synchronous instruments hash the attribute set on every call (a
 * JSON.stringify of the sorted keys) — 2.7 µs per `Counter.add` and 177 young-generation GCs per
 * million calls, against 0.16 µs and none here (`test/measure-telemetry-add.mjs`) — and an
 * upload bumps several counters, so a series here is found through a trie of the call's
 * label keys and values that allocates nothing once that label set has been seen.
 */
import { hrTime } from '@opentelemetry/core';
import type { HrTime } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type MetricData,
  type MetricProducer,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { Logger } from './logger.js';
import { ProfcolError } from './errors.js';

export type Labels = Record<string, string>;

export interface Counter {
  add(value?: number, labels?: Labels): void;
}

export interface Gauge {
  set(value: number, labels?: Labels): void;
}

export interface Histogram {
  /** Records one observation (for durations: seconds). */
  record(value: number, labels?: Labels): void;
}

export interface HistogramOptions {
  /** UCUM unit, `s` for durations (written as `# UNIT` in the exposition and sent over OTLP). */
  unit?: string;
  /** Upper bounds of the buckets, ascending; one more bucket counts what lies above the last. */
  boundaries?: readonly number[];
}

/** Seconds, from 1 ms to 1 min: a typical upload takes a few ms, a scrape round up to `timeout + cpu_seconds`. */
export const DURATION_BOUNDARIES_SECONDS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);

/** The instrumentation scope own metrics are exported under (OTLP). */
export const TELEMETRY_SCOPE = { name: 'profcol' } as const;

/** One name registered twice with different meanings (description, kind, unit or buckets). */
export class TelemetryConflictError extends ProfcolError {
  constructor(message: string) {
    super('telemetry_conflict', message);
  }
}

interface CounterSeries {
  readonly labels: Labels;
  readonly startTime: HrTime;
  value: number;
}

interface HistogramSeries {
  readonly labels: Labels;
  readonly startTime: HrTime;
  /** `boundaries.length + 1` buckets, the last one unbounded. */
  readonly counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
}

interface InstrumentBase {
  readonly name: string;
  readonly description: string;
  /** The labels of whoever registered it first, to name them in a conflict. */
  readonly registeredBy: Labels;
}

interface ValueInstrument extends InstrumentBase {
  readonly kind: 'counter' | 'gauge';
  readonly unit: '';
  readonly series: Map<string, CounterSeries>;
  unscoped?: Counter;
}

interface HistogramInstrument extends InstrumentBase {
  readonly kind: 'histogram';
  readonly unit: string;
  readonly boundaries: readonly number[];
  readonly series: Map<string, HistogramSeries>;
}

type Instrument = ValueInstrument | HistogramInstrument;

/**
 * Finds the series for the labels of one call without allocating once they have been seen:
 * a trie walked key, value, key, value… in the order the call site wrote them.
 */
class SeriesFinder<S> {
  private readonly root = new TrieNode<S>();
  constructor(private readonly create: (labels: Labels) => S) {}

  find(labels: Labels): S {
    let node = this.root;
    for (const key in labels) node = node.child(key).child(labels[key]!);
    return (node.series ??= this.create(labels));
  }
}

class TrieNode<S> {
  series: S | undefined;
  private children: Map<string, TrieNode<S>> | undefined;
  child(part: string): TrieNode<S> {
    const children = (this.children ??= new Map());
    let next = children.get(part);
    if (!next) children.set(part, (next = new TrieNode()));
    return next;
  }
}

function seriesKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const NO_LABELS: Labels = Object.freeze({});

export interface TelemetryOptions {
  /**
   * What a second registration of one name with another description does: `throw` (a test
   * fails at once) or `warn` (logged once per name, the first description kept). Default:
   * `throw` under vitest — every unit and in-process end-to-end test — `warn` otherwise, so a
   * conflict cannot be merged unnoticed and a running collector never stops over a label.
   */
  onConflict?: 'throw' | 'warn';
  logger?: Logger;
  /** The resource of `renderPrometheus()` and of the readers' exports. */
  resource?: Resource;
}

export class Telemetry implements MetricProducer {
  private readonly instruments = new Map<string, Instrument>();
  private readonly onConflict: 'throw' | 'warn';
  private readonly warned = new Set<string>();
  private logger: Logger | undefined;
  readonly resource: Resource;

  constructor(options: TelemetryOptions = {}) {
    this.onConflict = options.onConflict ?? (process.env['VITEST'] ? 'throw' : 'warn');
    this.logger = options.logger;
    this.resource = options.resource ?? resourceFromAttributes({ 'service.name': 'profcol' });
  }

  /** Where conflicts are reported in `warn` mode (the host sets its logger). */
  useLogger(logger: Logger): void {
    this.logger ??= logger;
  }

  counter(name: string, description: string, baseLabels: Labels = NO_LABELS): Counter {
    const instrument = this.valueInstrument(name, 'counter', description, baseLabels);
    // The host asks for its pipeline counters per batch: without scope labels one Counter (and its trie) serves every call.
    if (baseLabels === NO_LABELS && instrument.unscoped) return instrument.unscoped;
    const finder = this.valueSeries(instrument, baseLabels);
    const counter: Counter = {
      add: (value = 1, labels = NO_LABELS) => {
        finder.find(labels).value += value;
      },
    };
    if (baseLabels === NO_LABELS && instrument.kind === 'counter') instrument.unscoped = counter;
    return counter;
  }

  gauge(name: string, description: string, baseLabels: Labels = NO_LABELS): Gauge {
    const finder = this.valueSeries(this.valueInstrument(name, 'gauge', description, baseLabels), baseLabels);
    return {
      set: (value, labels = NO_LABELS) => {
        finder.find(labels).value = value;
      },
    };
  }

  histogram(name: string, description: string, options: HistogramOptions = {}, baseLabels: Labels = NO_LABELS): Histogram {
    const boundaries = options.boundaries ?? DURATION_BOUNDARIES_SECONDS;
    checkBoundaries(name, boundaries);
    const instrument = this.register(name, description, baseLabels, {
      kind: 'histogram',
      unit: options.unit ?? '',
      boundaries,
      series: new Map(),
    }) as HistogramInstrument;
    const finder = new SeriesFinder<HistogramSeries>((labels) => {
      const all = { ...baseLabels, ...labels };
      const key = seriesKey(all);
      let series = instrument.series.get(key);
      if (!series) {
        series = {
          labels: all,
          startTime: hrTime(),
          counts: new Array<number>(instrument.boundaries.length + 1).fill(0),
          count: 0,
          sum: 0,
          min: Infinity,
          max: -Infinity,
        };
        instrument.series.set(key, series);
      }
      return series;
    });
    const bounds = instrument.boundaries;
    return {
      record: (value, labels = NO_LABELS) => {
        if (!Number.isFinite(value)) return;
        const series = finder.find(labels);
        let bucket = 0;
        // Buckets are upper-inclusive, as the SDK's explicit-bucket histogram and Prometheus' `le`.
        while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
        series.counts[bucket]!++;
        series.count++;
        series.sum += value;
        if (value < series.min) series.min = value;
        if (value > series.max) series.max = value;
      },
    };
  }

  /** A view that adds `labels` to everything recorded through it (e.g. `{ receiver: 'ddtrace' }`). */
  scoped(labels: Labels): ScopedTelemetry {
    return {
      counter: (name, description) => this.counter(name, description, labels),
      gauge: (name, description) => this.gauge(name, description, labels),
      histogram: (name, description, options) => this.histogram(name, description, options, labels),
    };
  }

  /** The sum of every series of `name` whose labels include `match` (a histogram: its count). */
  value(name: string, match: Labels = {}): number {
    const instrument = this.instruments.get(name);
    let total = 0;
    for (const series of instrument?.series.values() ?? []) {
      if (!Object.entries(match).every(([k, v]) => series.labels[k] === v)) continue;
      total += 'value' in series ? series.value : series.count;
    }
    return total;
  }

  /** Every counter and gauge series, for logs, the status page and tests. */
  snapshot(): { name: string; labels: Labels; value: number }[] {
    const out: { name: string; labels: Labels; value: number }[] = [];
    for (const [name, instrument] of this.instruments) {
      if (instrument.kind === 'histogram') continue;
      for (const series of instrument.series.values()) out.push({ name, labels: series.labels, value: series.value });
    }
    return out;
  }

  /** A histogram's series whose labels include `match`, summed: count, sum and per-bucket counts. */
  histogramSnapshot(name: string, match: Labels = {}): { boundaries: readonly number[]; counts: number[]; count: number; sum: number } | undefined {
    const instrument = this.instruments.get(name);
    if (instrument?.kind !== 'histogram') return undefined;
    const counts = new Array<number>(instrument.boundaries.length + 1).fill(0);
    let count = 0;
    let sum = 0;
    for (const series of instrument.series.values()) {
      if (!Object.entries(match).every(([k, v]) => series.labels[k] === v)) continue;
      series.counts.forEach((n, i) => (counts[i]! += n));
      count += series.count;
      sum += series.sum;
    }
    return { boundaries: instrument.boundaries, counts, count, sum };
  }

  /** Everything recorded so far as the SDK's `ResourceMetrics`: cumulative sums, gauges, explicit-bucket histograms. */
  produce(): ResourceMetrics {
    const endTime = hrTime();
    const metrics: MetricData[] = [];
    for (const instrument of this.instruments.values()) metrics.push(toMetricData(instrument, endTime));
    return { resource: this.resource, scopeMetrics: [{ scope: TELEMETRY_SCOPE, metrics }] };
  }

  /** `MetricProducer`: what the SDK's readers (Prometheus, periodic OTLP) collect. */
  async collect(): Promise<CollectionResult> {
    return { resourceMetrics: this.produce(), errors: [] };
  }

  /**
   * The Prometheus text the metrics address serves, written by the SDK Prometheus exporter's
   * serializer (without `otel_scope_*` labels and `target_info`, so names and labels are
   * exactly profcol's).
   */
  renderPrometheus(): string {
    return prometheusSerializer().serialize(this.produce());
  }

  private valueSeries(instrument: ValueInstrument, baseLabels: Labels): SeriesFinder<CounterSeries> {
    return new SeriesFinder<CounterSeries>((labels) => {
      const all = { ...baseLabels, ...labels };
      const key = seriesKey(all);
      let series = instrument.series.get(key);
      if (!series) instrument.series.set(key, (series = { labels: all, startTime: hrTime(), value: 0 }));
      return series;
    });
  }

  private valueInstrument(name: string, kind: 'counter' | 'gauge', description: string, by: Labels): ValueInstrument {
    return this.register(name, description, by, { kind, unit: '', series: new Map() }) as ValueInstrument;
  }

  /**
   * The instrument of `name`, created on first use. Components register their counters as they
   * are created, so two of them giving one name two meanings is caught here, before anything
   * is recorded: the exposition has one HELP per name and OTLP backends one description.
   */
  private register(
    name: string,
    description: string,
    by: Labels,
    shape: Omit<ValueInstrument, keyof InstrumentBase> | Omit<HistogramInstrument, keyof InstrumentBase>,
  ): Instrument {
    const existing = this.instruments.get(name);
    if (!existing) {
      const created = { name, description, registeredBy: by, ...shape } as Instrument;
      this.instruments.set(name, created);
      return created;
    }
    const differences: string[] = [];
    if (existing.kind !== shape.kind) differences.push(`kind ${existing.kind} then ${shape.kind}`);
    if (existing.description !== description) differences.push(`description ${JSON.stringify(existing.description)} then ${JSON.stringify(description)}`);
    if (existing.kind === 'histogram' && shape.kind === 'histogram') {
      if (existing.unit !== shape.unit) differences.push(`unit "${existing.unit}" then "${shape.unit}"`);
      if (existing.boundaries.join() !== shape.boundaries.join())
        differences.push(`boundaries [${existing.boundaries.join(', ')}] then [${shape.boundaries.join(', ')}]`);
    }
    if (differences.length > 0) this.conflict(name, existing.registeredBy, by, differences);
    if (existing.kind !== shape.kind) {
      // Recording into another kind's series would corrupt the first one's: keep the
      // conflicting one apart (never exposed) so its call sites still work.
      return { name, description, registeredBy: by, ...shape } as Instrument;
    }
    return existing;
  }

  private conflict(name: string, first: Labels, second: Labels, differences: string[]): void {
    const who = (labels: Labels) =>
      Object.keys(labels).length
        ? Object.entries(labels)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : 'the host';
    const message =
      `own metric "${name}" is registered by ${who(first)} and again by ${who(second)} with a different meaning (${differences.join('; ')}); ` +
      'one name must mean one thing in the exposition and over OTLP: give the second its own name, or use the same description';
    if (this.onConflict === 'throw') throw new TelemetryConflictError(message);
    if (this.warned.has(name)) return;
    this.warned.add(name);
    this.logger?.warn({ metric: name }, `${message} (the first registration is kept)`);
  }
}

export interface ScopedTelemetry {
  counter(name: string, description: string): Counter;
  gauge(name: string, description: string): Gauge;
  histogram(name: string, description: string, options?: HistogramOptions): Histogram;
}

function checkBoundaries(name: string, boundaries: readonly number[]): void {
  for (let i = 0; i < boundaries.length; i++) {
    const bound = boundaries[i]!;
    if (!Number.isFinite(bound) || (i > 0 && bound <= boundaries[i - 1]!)) {
      throw new TelemetryConflictError(`histogram "${name}": boundaries must be finite and strictly ascending, got [${boundaries.join(', ')}]`);
    }
  }
}

function toMetricData(instrument: Instrument, endTime: HrTime): MetricData {
  const descriptor = { name: instrument.name, description: instrument.description, unit: instrument.unit, valueType: 1 /* ValueType.DOUBLE */ };
  if (instrument.kind === 'histogram') {
    return {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: [...instrument.series.values()].map((series) => ({
        startTime: series.startTime,
        endTime,
        attributes: series.labels,
        value: {
          buckets: { boundaries: [...instrument.boundaries], counts: [...series.counts] },
          count: series.count,
          sum: series.sum,
          ...(series.count > 0 ? { min: series.min, max: series.max } : {}),
        },
      })),
    };
  }
  const dataPoints = [...instrument.series.values()].map((series) => ({
    startTime: series.startTime,
    endTime,
    attributes: series.labels,
    value: series.value,
  }));
  if (instrument.kind === 'gauge')
    return { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints };
  return { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints };
}

let serializer: PrometheusSerializer | undefined;
/** The Prometheus exporter's serializer with the options `telemetry/readers.ts` gives the exporter. */
export function prometheusSerializer(): PrometheusSerializer {
  return (serializer ??= new PrometheusSerializer(undefined, false, undefined, true, true));
}
