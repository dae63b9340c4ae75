/**
 * Gathers the metrics of a partition's processes into one Prometheus text answer, for the
 * gateway's `GET /metrics`. Each process (region node, proxy) keeps its own registry and
 * answers with `Registry.getMetricsAsJSON()` over its IPC channel with the launcher;
 * prom-client's `AggregatorRegistry.aggregate` (a static method: it needs no node:cluster)
 * then merges the snapshots by metric name. Merging sums samples whose labels are equal,
 * and none are: every process labels its series with its region and node, or as the
 * proxy, so the merge is a union.
 *
 * A process that does not answer in time (restarting, say) is left out of that scrape and
 * shows as `trent_metrics_source_up 0`.
 *
 * @module
 */
import { AggregatorRegistry, Gauge, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client'

/** What `Registry.getMetricsAsJSON()` gives, as it crosses an IPC channel. */
export type MetricsSnapshot = Array<MetricObjectWithValues<MetricValue<string>>>

/** A process whose metrics are gathered, and the labels that name it in `trent_metrics_source_up`. */
export interface MetricsSource {
  labels: { source: string; region?: string; node?: string }
  snapshot(): Promise<MetricsSnapshot | undefined>
}

/** Whether a value received over IPC has the shape of a snapshot; anything else is dropped. */
export function isMetricsSnapshot(value: unknown): value is MetricsSnapshot {
  return (
    Array.isArray(value) &&
    value.every(
      (metric: unknown) =>
        typeof metric === 'object' &&
        metric !== null &&
        typeof (metric as { name?: unknown }).name === 'string' &&
        typeof (metric as { type?: unknown }).type === 'string' &&
        Array.isArray((metric as { values?: unknown }).values),
    )
  )
}

/** Resolves with `work`'s value, or undefined once `ms` have passed. */
export function withTimeout<T>(work: Promise<T | undefined>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms)
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      () => {
        clearTimeout(timer)
        resolve(undefined)
      },
    )
  })
}

export class MetricsGatherer {
  readonly #own: Registry
  readonly #up: Gauge<'source' | 'region' | 'node'>

  /** `own`: the gathering process's own registry (the launcher's), merged with the others. */
  constructor(
    own: Registry,
    private readonly timeoutMs = 2_000,
  ) {
    this.#own = own
    this.#up = new Gauge({
      name: 'trent_metrics_source_up',
      help: 'Whether a process of the partition answered this scrape with its metrics (1) or not (0).',
      labelNames: ['source', 'region', 'node'],
      registers: [own],
    })
  }

  async gather(sources: readonly MetricsSource[]): Promise<string> {
    const snapshots = await Promise.all(sources.map((source) => withTimeout(source.snapshot(), this.timeoutMs)))
    this.#up.reset()
    const answered: MetricsSnapshot[] = []
    sources.forEach((source, index) => {
      const snapshot = snapshots[index]
      this.#up.set(source.labels, snapshot === undefined ? 0 : 1)
      if (snapshot !== undefined) answered.push(snapshot)
    })
    const merged = AggregatorRegistry.aggregate([await this.#own.getMetricsAsJSON(), ...answered])
    return merged.metrics()
  }
}
