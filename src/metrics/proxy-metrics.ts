/**
 * The replication proxy's metrics (src/proxy/): per destination region, what waits to be
 * delivered and what happened to delivery attempts. Queue depths are read from the relay
 * when scraped; attempts are counted as they end.
 *
 * @module
 */
import { Counter, Gauge, Registry } from 'prom-client'

/** One destination as the relay reports it (a subset of its DestinationStatus). */
export interface DestinationQueue {
  pending: number
  inFlight: number
  oldestPendingAgeMs: number | null
  consecutiveFailures: number
}

/** How one delivery attempt ended: 2xx, 4xx (refused, not retried), or no usable answer (retried). */
export type DeliveryOutcome = 'delivered' | 'refused' | 'failed'

export interface DeliveryMetrics {
  observeAttempt(destination: string, outcome: DeliveryOutcome): void
}

export class ProxyMetrics implements DeliveryMetrics {
  readonly registry = new Registry()
  readonly #attempts: Counter<'region' | 'outcome'>
  readonly #retries: Counter<'region'>

  constructor(queues: () => Readonly<Record<string, DestinationQueue>>) {
    const registers = [this.registry]
    this.registry.setDefaultLabels({ component: 'proxy' })
    this.#attempts = new Counter({
      name: 'trent_proxy_delivery_attempts_total',
      help: 'Delivery attempts of replication envelopes, by destination region and outcome (delivered, refused, failed).',
      labelNames: ['region', 'outcome'],
      registers,
    })
    this.#retries = new Counter({
      name: 'trent_proxy_retries_total',
      help: 'Delivery attempts that failed without an answer (5xx, refused connection, timeout) and were scheduled again.',
      labelNames: ['region'],
      registers,
    })
    const perDestination = (name: string, help: string, read: (queue: DestinationQueue) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ['region'],
        registers,
        collect() {
          this.reset()
          for (const [region, queue] of Object.entries(queues())) {
            const value = read(queue)
            if (value !== undefined) this.set({ region }, value)
          }
        },
      })
    }
    perDestination('trent_proxy_queue_depth', 'Envelopes stored and not yet delivered or refused, by destination region.', (q) => q.pending)
    perDestination('trent_proxy_deliveries_in_flight', 'Delivery attempts under way, by destination region.', (q) => q.inFlight)
    perDestination(
      'trent_proxy_oldest_pending_age_seconds',
      'Age of the oldest envelope waiting for a destination region; absent when none waits.',
      (q) => (q.oldestPendingAgeMs === null ? undefined : q.oldestPendingAgeMs / 1000),
    )
    perDestination(
      'trent_proxy_consecutive_failures',
      'Failed attempts in a row to a destination region (0 while it answers).',
      (q) => q.consecutiveFailures,
    )
  }

  observeAttempt(destination: string, outcome: DeliveryOutcome): void {
    this.#attempts.inc({ region: destination, outcome })
    if (outcome === 'failed') this.#retries.inc({ region: destination })
  }
}
