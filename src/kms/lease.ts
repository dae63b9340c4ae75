/**
 * Which node of a region does the region's background work: the deletion sweeper,
 * automatic rotation, expiry of imported material, the replication outbox and
 * reconciliation run on one node at a time, the holder of the region's lease in its store
 * (storage.ts `holdLease`). The holder renews it every second; it expires five seconds
 * after the last renewal, so when the holder dies another node takes over within seconds
 * (docs/architecture.md, "A region of many nodes").
 *
 * Two holders at once cannot be ruled out entirely (a holder paused longer than the TTL
 * does not know it lost the lease until its next renewal), so background work stays safe
 * to run twice: each change re-checks its condition inside its exclusive commit, and a
 * message sent twice is de-duplicated by its id.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Storage } from '../storage/storage.js'

export const BACKGROUND_LEASE = 'background'
const DEFAULT_TTL_MS = 5_000
const DEFAULT_RENEW_EVERY_MS = 1_000

export interface Lease {
  /** Whether this node does the region's background work now. */
  readonly held: boolean
  /** Called whenever this node takes the lease (so work waiting for it starts at once). */
  onTaken(listener: () => void): void
  stop(): Promise<void>
}

/** For a store with a single writer: the lease is always this node's, and costs nothing. */
export const SOLE_WRITER_LEASE: Lease = { held: true, onTaken: () => undefined, stop: () => Promise.resolve() }

export interface LeaseOptions {
  name?: string
  ttlMs?: number
  renewEveryMs?: number
  /** Told when the lease changes hands here, for the log. */
  onChange?: (held: boolean) => void
}

/** Takes and renews the region's lease in `store` until stopped. Resolves after the first attempt. */
export async function holdRegionLease(store: Pick<Storage, 'holdLease' | 'releaseLease'>, options: LeaseOptions = {}): Promise<Lease> {
  const name = options.name ?? BACKGROUND_LEASE
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS
  const holder = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`
  const listeners: Array<() => void> = []
  let held = false
  let stopped = false
  let attempt: Promise<void> = Promise.resolve()

  const renew = async (): Promise<void> => {
    let now: boolean
    try {
      now = await store.holdLease(name, holder, ttlMs)
    } catch {
      // The store is unreachable: whoever cannot renew must assume the lease is gone.
      now = false
    }
    if (stopped || now === held) return
    held = now
    options.onChange?.(held)
    if (held) for (const listener of listeners) listener()
  }
  const tick = (): void => {
    attempt = attempt.then(renew)
  }
  tick()
  await attempt
  const timer = setInterval(tick, options.renewEveryMs ?? DEFAULT_RENEW_EVERY_MS)
  timer.unref()

  return {
    get held() {
      return held
    },
    onTaken(listener) {
      listeners.push(listener)
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      await attempt
      if (held) {
        held = false
        // Given up at once, so another node need not wait for it to expire.
        await store.releaseLease(name, holder).catch(() => undefined)
      }
    },
  }
}
