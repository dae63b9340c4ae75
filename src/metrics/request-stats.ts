/**
 * Request counts and latencies kept in plain maps and arrays, exposed to prom-client as
 * two metrics (`trent_requests_total`, a counter, and `trent_request_duration_seconds`,
 * a histogram) built when the registry is scraped.
 *
 * Why not prom-client's own Counter and Histogram: each of their calls hashes the sorted
 * label set, validates it and (for the histogram) allocates a closure, about 2 µs for the
 * pair per request on the reference machine; this does a map lookup, an increment and a
 * short bucket scan, about 0.1 µs (bench/metrics-hot-path.ts, docs/metrics.md). The
 * registry asks what is registered only for `name`, `type`, `get()` and `reset()`, the same
 * contract prom-client's own `AggregatorRegistry.aggregate` relies on when it registers
 * the plain objects it builds.
 *
 * @module
 */
import type { Metric, MetricValue, Registry } from 'prom-client'

interface OperationStats {
  readonly outcomes: Map<string, number>
  /** Per bucket (not cumulative): observations whose value is at most that bound and above the previous; the last is +Inf. */
  readonly buckets: number[]
  sum: number
  count: number
}

export interface RequestStatsNames {
  counter: { name: string; help: string }
  histogram: { name: string; help: string }
}

export class RequestStats {
  readonly #byOperation = new Map<string, OperationStats>()
  readonly #bounds: readonly number[]
  readonly #boundLabels: readonly string[]

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds
    this.#boundLabels = [...bounds.map(String), '+Inf']
  }

  /** The hot path: one answered request. */
  observe(operation: string, outcome: string, seconds: number): void {
    let stats = this.#byOperation.get(operation)
    if (stats === undefined) {
      stats = { outcomes: new Map(), buckets: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0, count: 0 }
      this.#byOperation.set(operation, stats)
    }
    stats.outcomes.set(outcome, (stats.outcomes.get(outcome) ?? 0) + 1)
    const bounds = this.#bounds
    let bucket = 0
    while (bucket < bounds.length && seconds > (bounds[bucket] ?? Infinity)) bucket++
    stats.buckets[bucket] = (stats.buckets[bucket] ?? 0) + 1
    stats.sum += seconds
    stats.count += 1
  }

  /** Registers the counter and the histogram in `registry`. */
  register(registry: Registry, names: RequestStatsNames): void {
    const counter = names.counter
    const histogram = names.histogram
    const asMetric = (
      name: string,
      help: string,
      type: 'counter' | 'histogram',
      values: () => Array<MetricValue<string> & { metricName?: string }>,
    ): Metric =>
      ({
        name,
        help,
        type,
        aggregator: 'sum',
        get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values(), collect: () => undefined }),
        reset: () => this.#byOperation.clear(),
      }) as unknown as Metric
    registry.registerMetric(asMetric(counter.name, counter.help, 'counter', () => this.#counterValues()))
    registry.registerMetric(asMetric(histogram.name, histogram.help, 'histogram', () => this.#histogramValues(histogram.name)))
  }

  #counterValues(): Array<MetricValue<string>> {
    const values: Array<MetricValue<string>> = []
    for (const [operation, stats] of this.#byOperation) {
      for (const [outcome, count] of stats.outcomes) values.push({ labels: { operation, outcome }, value: count })
    }
    return values
  }

  #histogramValues(name: string): Array<MetricValue<string> & { metricName: string }> {
    const values: Array<MetricValue<string> & { metricName: string }> = []
    for (const [operation, stats] of this.#byOperation) {
      let cumulative = 0
      stats.buckets.forEach((count, index) => {
        cumulative += count
        values.push({ metricName: `${name}_bucket`, labels: { operation, le: this.#boundLabels[index] ?? '+Inf' }, value: cumulative })
      })
      values.push({ metricName: `${name}_sum`, labels: { operation }, value: stats.sum })
      values.push({ metricName: `${name}_count`, labels: { operation }, value: stats.count })
    }
    return values
  }
}
