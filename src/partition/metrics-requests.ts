/**
 * The launcher's side of the metrics exchange with its children (region nodes, the
 * proxy): a `metrics-request` with a fresh id goes over the child's IPC channel, and the
 * child's `metrics` message with that id settles it (docs/metrics.md).
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process'
import { isMetricsSnapshot, type MetricsSnapshot } from '../metrics/gather.js'
import type { MetricsRequestMessage } from '../wire/region-messages.js'

/** Longer than any scrape waits (the gatherer gives up first): a lost answer cannot leak its entry. */
const FORGET_AFTER_MS = 10_000

export class MetricsRequests {
  #nextId = 0
  readonly #waiting = new Map<number, (snapshot: MetricsSnapshot | undefined) => void>()

  /** Asks `child` for its metrics; undefined if it cannot be asked, answers nonsense, or never answers. */
  ask(child: ChildProcess | undefined): Promise<MetricsSnapshot | undefined> {
    if (child === undefined || !child.connected) return Promise.resolve(undefined)
    const id = this.#nextId++
    return new Promise((resolve) => {
      const forget = setTimeout(() => this.settle(id, undefined), FORGET_AFTER_MS)
      forget.unref()
      this.#waiting.set(id, (snapshot) => {
        clearTimeout(forget)
        resolve(snapshot)
      })
      const message: MetricsRequestMessage = { type: 'metrics-request', id }
      child.send(message, (err) => {
        if (err !== null) this.settle(id, undefined)
      })
    })
  }

  /** A child's answer to request `id`. */
  settle(id: number, metrics: unknown): void {
    const resolve = this.#waiting.get(id)
    if (resolve === undefined) return
    this.#waiting.delete(id)
    resolve(isMetricsSnapshot(metrics) ? metrics : undefined)
  }
}
