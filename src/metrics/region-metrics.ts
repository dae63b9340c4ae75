/**
 * The metrics of one region node, in a registry of its own (not prom-client's global
 * one: tests run several regions in one process). What happens per request is counted
 * as it happens, in plain maps (request-stats.ts: about 0.1 µs a request); everything
 * else (HSM queue depth, keys by state, replication lag) is read from the node's state
 * when the registry is scraped, so it costs nothing between scrapes.
 *
 * Every series carries `region`, and `node` when the node was given an id (the
 * launcher's `--nodes`). The names are listed in docs/metrics.md.
 *
 * @module
 */
import { Counter, Gauge, Registry } from 'prom-client'
import { LATENCY_BUCKETS_SECONDS, PROMETHEUS_CONTENT_TYPE } from './names.js'
import { RequestStats } from './request-stats.js'

/** What the node knows of one replica of a multi-Region key whose primary it holds. */
export interface ReplicaLag {
  keyId: string
  replicaRegion: string
  /** Shared-state versions (spec/replication.md, shared state) the replica has not acknowledged. */
  syncVersionsBehind: number
  /** Material versions the primary holds and the replica has not reported holding. */
  missingMaterialVersions: number
  /** IN_SYNC, PENDING or CREATING, as TrentAdmin.DescribeReplication says. */
  state: 'IN_SYNC' | 'PENDING' | 'CREATING'
  /** When the replica last reported (epoch ms), if ever. */
  lastSyncedAt?: number
}

/** Read when the registry is scraped. */
export interface RegionMetricSources {
  /** Requests sent to the HSM worker and not answered yet. */
  hsmInFlight(): number
  /** Keys of the region by state (every state present, zeros included). */
  keysByState(): ReadonlyMap<string, number>
  /** One entry per replica of every multi-Region key whose primary is in this region. */
  replicationLag(): readonly ReplicaLag[]
}

/** Where a request ended: `success`, or the AWS error code it was answered with. */
export type RequestOutcome = string

/** The API server's view: one call per request it answered. */
export interface RequestMetrics {
  observeRequest(operation: string, outcome: RequestOutcome, seconds: number): void
  observeForwarded(toRegion: string): void
}

export interface RegionMetricsOptions {
  region: string
  node?: number
  sources: RegionMetricSources
}

export class RegionMetrics implements RequestMetrics {
  readonly registry = new Registry()
  readonly #requests = new RequestStats(LATENCY_BUCKETS_SECONDS)
  readonly #forwarded: Counter<'to_region'>

  constructor(options: RegionMetricsOptions) {
    const { sources } = options
    const registers = [this.registry]
    this.registry.setDefaultLabels(
      options.node === undefined ? { region: options.region } : { region: options.region, node: String(options.node) },
    )
    this.#requests.register(this.registry, {
      counter: {
        name: 'trent_requests_total',
        help: 'KMS API requests answered by this node, by operation and outcome (success, or the AWS error code).',
      },
      histogram: {
        name: 'trent_request_duration_seconds',
        help: 'Time from a request arriving to its answer being written, by operation.',
      },
    })
    this.#forwarded = new Counter({
      name: 'trent_requests_forwarded_total',
      help: 'Requests that arrived on a connection handed to this node but were signed for another region, sent on to it.',
      labelNames: ['to_region'],
      registers,
    })
    new Gauge({
      name: 'trent_hsm_requests_in_flight',
      help: "Requests sent to this node's HSM worker thread and not answered yet (its queue depth).",
      registers,
      collect() {
        this.set(sources.hsmInFlight())
      },
    })
    new Gauge({
      name: 'trent_keys',
      help: 'KMS keys of the region by key state, as this node sees them.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset()
        for (const [state, count] of sources.keysByState()) this.set({ state }, count)
      },
    })
    const replicaLabels = ['key_id', 'replica_region'] as const
    // Each replication gauge reads the rows itself: a walk over the region's multi-Region
    // primaries, cheap next to a scrape, and no gauge depends on another's collection order.
    new Gauge({
      name: 'trent_replication_lag_versions',
      help: 'Per replica of a multi-Region key whose primary is in this region: shared-state versions the replica has not acknowledged.',
      labelNames: replicaLabels,
      registers,
      collect() {
        this.reset()
        for (const row of sources.replicationLag())
          this.set({ key_id: row.keyId, replica_region: row.replicaRegion }, row.syncVersionsBehind)
      },
    })
    new Gauge({
      name: 'trent_replication_missing_material_versions',
      help: 'Per replica: key material versions the primary holds that the replica has not reported holding.',
      labelNames: replicaLabels,
      registers,
      collect() {
        this.reset()
        for (const row of sources.replicationLag())
          this.set({ key_id: row.keyId, replica_region: row.replicaRegion }, row.missingMaterialVersions)
      },
    })
    new Gauge({
      name: 'trent_replication_replica_in_sync',
      help: 'Per replica: 1 when DescribeReplication says IN_SYNC, else 0 (PENDING or CREATING).',
      labelNames: replicaLabels,
      registers,
      collect() {
        this.reset()
        for (const row of sources.replicationLag())
          this.set({ key_id: row.keyId, replica_region: row.replicaRegion }, row.state === 'IN_SYNC' ? 1 : 0)
      },
    })
    new Gauge({
      name: 'trent_replication_last_sync_timestamp_seconds',
      help: 'Per replica: when it last reported its state to the primary (Unix time); absent until it has.',
      labelNames: replicaLabels,
      registers,
      collect() {
        this.reset()
        for (const row of sources.replicationLag()) {
          if (row.lastSyncedAt !== undefined) this.set({ key_id: row.keyId, replica_region: row.replicaRegion }, row.lastSyncedAt / 1000)
        }
      },
    })
  }

  observeRequest(operation: string, outcome: RequestOutcome, seconds: number): void {
    this.#requests.observe(operation, outcome, seconds)
  }

  observeForwarded(toRegion: string): void {
    this.#forwarded.inc({ to_region: toRegion })
  }

  /** The registry in the Prometheus text format, as the node's own GET /metrics answers. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: PROMETHEUS_CONTENT_TYPE, body: await this.registry.metrics() }
  }
}
