/**
 * profcol's own metrics: every accept, drop, retry and refusal is counted here and can be
 * scraped in Prometheus text format (`service.telemetry.metrics.address`), as the
 * OpenTelemetry Collector does on :8888.
 */
export type Labels = Record<string, string>;

export interface Counter {
  add(value?: number, labels?: Labels): void;
}

export interface Gauge {
  set(value: number, labels?: Labels): void;
}

interface Series {
  labels: Labels;
  value: number;
}

interface Instrument {
  kind: 'counter' | 'gauge';
  description: string;
  series: Map<string, Series>;
}

function seriesKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

const NO_LABELS: Labels = Object.freeze({});

export class Telemetry {
  private readonly instruments = new Map<string, Instrument>();

  counter(name: string, description: string, baseLabels: Labels = {}): Counter {
    const seriesOf = this.seriesFinder(this.instrument(name, 'counter', description), baseLabels);
    return {
      add: (value = 1, labels = NO_LABELS) => {
        seriesOf(labels).value += value;
      },
    };
  }

  gauge(name: string, description: string, baseLabels: Labels = {}): Gauge {
    const seriesOf = this.seriesFinder(this.instrument(name, 'gauge', description), baseLabels);
    return {
      set: (value, labels = NO_LABELS) => {
        seriesOf(labels).value = value;
      },
    };
  }

  /**
   * The series of an instrument for the labels of one call, found through a cache keyed by the
   * labels as written at the call site: counters are bumped several times per upload, and
   * sorting and serialising every label set each time showed in the push profile.
   */
  private seriesFinder(instrument: Instrument, baseLabels: Labels): (labels: Labels) => Series {
    const cache = new Map<string, Series>();
    return (labels) => {
      let quick = '';
      for (const key in labels) quick += `${key}\u0001${labels[key]}\u0002`;
      let series = cache.get(quick);
      if (!series) {
        const all = { ...baseLabels, ...labels };
        const key = seriesKey(all);
        series = instrument.series.get(key);
        if (!series) instrument.series.set(key, (series = { labels: all, value: 0 }));
        cache.set(quick, series);
      }
      return series;
    };
  }

  /** The sum of every series of `name` whose labels include `match`. */
  value(name: string, match: Labels = {}): number {
    let total = 0;
    for (const series of this.instruments.get(name)?.series.values() ?? []) {
      if (Object.entries(match).every(([k, v]) => series.labels[k] === v)) total += series.value;
    }
    return total;
  }

  /** Every series, for logs and tests. */
  snapshot(): { name: string; labels: Labels; value: number }[] {
    const out: { name: string; labels: Labels; value: number }[] = [];
    for (const [name, instrument] of this.instruments) {
      for (const series of instrument.series.values()) out.push({ name, labels: series.labels, value: series.value });
    }
    return out;
  }

  /** Prometheus text exposition format. */
  renderPrometheus(): string {
    const lines: string[] = [];
    for (const [name, instrument] of this.instruments) {
      lines.push(`# HELP ${name} ${instrument.description}`, `# TYPE ${name} ${instrument.kind}`);
      for (const series of instrument.series.values()) {
        const labels = Object.entries(series.labels).map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`);
        lines.push(`${name}${labels.length ? `{${labels.join(',')}}` : ''} ${series.value}`);
      }
    }
    return lines.join('\n') + '\n';
  }

  /** A view that adds `labels` to everything recorded through it (e.g. `{ receiver: 'ddtrace' }`). */
  scoped(labels: Labels): ScopedTelemetry {
    return {
      counter: (name, description) => this.counter(name, description, labels),
      gauge: (name, description) => this.gauge(name, description, labels),
    };
  }

  private instrument(name: string, kind: Instrument['kind'], description: string): Instrument {
    let instrument = this.instruments.get(name);
    if (!instrument) {
      instrument = { kind, description, series: new Map() };
      this.instruments.set(name, instrument);
    }
    return instrument;
  }
}

export interface ScopedTelemetry {
  counter(name: string, description: string): Counter;
  gauge(name: string, description: string): Gauge;
}
