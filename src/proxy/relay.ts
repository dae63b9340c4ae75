/**
 * The relay's store-and-forward core (docs/spec/replication.md §10), independent of how
 * envelopes arrive: {@link Relay.accept} stores an envelope durably and returns, and
 * delivery runs in the background, one lane per destination region.
 *
 * A lane delivers oldest first, up to `maxInFlightPerDestination` at once, and starts the
 * moment an envelope arrives (no polling). What the destination answers decides:
 *
 * - 2xx: delivered; the envelope is dropped (its id is kept to de-duplicate).
 * - 4xx: the region refused it. Retrying would get the same answer, so delivery ends
 *   and the refusal is recorded for the status page.
 * - anything else (5xx, connection refused, timeout): retried with exponential backoff.
 *
 * Backoff is kept at two levels. The lane backs off as a whole after a failure (the region
 * is probably down or overloaded) and then sends one envelope at a time as a probe until
 * one gets an answer; each envelope also backs off on its own, so that one message a
 * region keeps failing on cannot hold up the others behind it. Lanes share nothing, so a
 * region that is down or hanging never delays delivery to another.
 *
 * @module
 */
import { performance } from 'node:perf_hooks'
import type { Logger } from '../log/logger.js'
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js'
import { EnvelopeRejectedError, readEnvelopeHeader } from './envelope.js'
import type { PendingEnvelope, RelayStore } from './store.js'
import type { DeliveryMetrics } from '../metrics/proxy-metrics.js'

/** What a destination answered to one delivery. */
export interface DeliveryAnswer {
  status: number
  /** The region's short reason (from its JSON answer), for refusals. */
  reason?: string
}

/**
 * Sends one envelope, unchanged, to a destination region. Resolves with whatever HTTP
 * status the region answered; rejects when there was no answer (no route, connection
 * refused, timeout, aborted).
 */
export type Deliver = (to: string, envelope: Uint8Array, signal: AbortSignal) => Promise<DeliveryAnswer>

export interface RelayOptions {
  store: RelayStore
  deliver: Deliver
  logger: Logger
  /** Wall clock, epoch milliseconds, for acceptance times and ages. */
  clock?: () => number
  backoff?: Partial<BackoffPolicy>
  /** Deliveries in flight to one region at a time. */
  maxInFlightPerDestination?: number
  /** Whether the relay can route to a region; envelopes to others are refused at accept. Default: every region. */
  isKnownDestination?: (region: string) => boolean
  /** How long ids of delivered or refused envelopes are kept to answer `duplicate`. */
  tombstoneRetentionMs?: number
  /** For jitter; tests may pin it. */
  random?: () => number
  /** Counts how each delivery attempt ended (docs/metrics.md). */
  metrics?: DeliveryMetrics
}

export interface DestinationStatus {
  pending: number
  oldestPendingAgeMs: number | null
  inFlight: number
  delivered: number
  refused: number
  /** Failed attempts in a row (0 while the region answers). */
  consecutiveFailures: number
  lastError: { error: string; at: string } | null
  /** When the lane resumes after backing off, if it is backing off. */
  retryInMs: number | null
  recentRefusals: Array<{ messageId: string; from: string; status: number; reason: string; at: string }>
}

export interface Relay {
  /** Stores an envelope for delivery; throws {@link EnvelopeRejectedError} for one it will not take. */
  accept(envelopeBytes: Uint8Array): 'stored' | 'duplicate'
  /** Per destination: every region in `alsoInclude` and every region the store has seen. */
  status(alsoInclude?: Iterable<string>): Record<string, DestinationStatus>
  /** Forgets backoff and tries again now (a region's route changed, say): one region, or all. */
  retryNow(region?: string): void
  /**
   * Stops delivering: no new attempt starts; attempts in flight get `graceMs` to finish
   * (and are recorded), then are aborted. The store stays open: it is the caller's.
   */
  close(options?: { graceMs?: number }): Promise<void>
}

/** The relay is shutting down and takes no more envelopes. */
export class RelayClosedError extends Error {
  override readonly name = 'RelayClosedError'
  constructor() {
    super('relay is shutting down')
  }
}

export const DEFAULT_MAX_IN_FLIGHT_PER_DESTINATION = 8
export const DEFAULT_TOMBSTONE_RETENTION_MS = 24 * 60 * 60 * 1000
const PRUNE_INTERVAL_MS = 60 * 60 * 1000
const RECENT_REFUSALS_SHOWN = 5

type Outcome =
  { kind: 'delivered'; status: number } | { kind: 'refused'; status: number; reason: string } | { kind: 'failed'; error: string }

interface MessageRetry {
  failures: number
  notBefore: number
}

interface Lane {
  readonly region: string
  readonly inFlight: Map<string, AbortController>
  /** Per envelope backoff, for envelopes whose last attempt failed. */
  readonly retries: Map<string, MessageRetry>
  consecutiveFailures: number
  /** Monotonic time before which the lane starts nothing. */
  pausedUntil: number
  timer: NodeJS.Timeout | undefined
  timerAt: number
  lastError: { error: string; at: number } | undefined
}

function classify(answer: DeliveryAnswer): Outcome {
  if (answer.status >= 200 && answer.status < 300) return { kind: 'delivered', status: answer.status }
  if (answer.status >= 400 && answer.status < 500) return { kind: 'refused', status: answer.status, reason: answer.reason ?? '' }
  return {
    kind: 'failed',
    error: `HTTP ${answer.status}${answer.reason !== undefined && answer.reason !== '' ? `: ${answer.reason}` : ''}`,
  }
}

function describeFailure(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message
  }
  return 'delivery failed'
}

export function createRelay(options: RelayOptions): Relay {
  const { store, deliver, logger } = options
  const clock = options.clock ?? Date.now
  const random = options.random ?? Math.random
  const backoff: BackoffPolicy = { ...DEFAULT_BACKOFF, ...options.backoff }
  const maxInFlight = Math.max(1, options.maxInFlightPerDestination ?? DEFAULT_MAX_IN_FLIGHT_PER_DESTINATION)
  const retentionMs = options.tombstoneRetentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS
  // Scheduling uses a monotonic clock: a wall clock step must not stall or rush retries.
  const now = (): number => performance.now()

  const lanes = new Map<string, Lane>()
  let closing = false
  let closed = false
  const idleWaiters = new Set<() => void>()

  function laneFor(region: string): Lane {
    let lane = lanes.get(region)
    if (lane === undefined) {
      lane = {
        region,
        inFlight: new Map(),
        retries: new Map(),
        consecutiveFailures: 0,
        pausedUntil: 0,
        timer: undefined,
        timerAt: Infinity,
        lastError: undefined,
      }
      lanes.set(region, lane)
    }
    return lane
  }

  function wakeAt(lane: Lane, at: number): void {
    if (closing || (lane.timer !== undefined && lane.timerAt <= at)) return
    if (lane.timer !== undefined) clearTimeout(lane.timer)
    lane.timerAt = at
    lane.timer = setTimeout(
      () => {
        lane.timer = undefined
        lane.timerAt = Infinity
        pump(lane)
      },
      Math.max(0, Math.ceil(at - now())),
    )
    // Pending retries alone must not keep a process alive; the server does that.
    lane.timer.unref()
  }

  /** Starts as many deliveries as the lane may have in flight now. */
  function pump(lane: Lane): void {
    if (closing) return
    const current = now()
    if (lane.pausedUntil > current) return wakeAt(lane, lane.pausedUntil)
    // While the region is failing, one probe at a time: no point opening 8 connections to a dead port.
    const limit = lane.consecutiveFailures > 0 ? 1 : maxInFlight
    let free = limit - lane.inFlight.size
    if (free <= 0) return
    let candidates: PendingEnvelope[]
    try {
      candidates = store.pending(lane.region, lane.inFlight.size + lane.retries.size + free)
    } catch (err) {
      logger.error('relay store read failed', { to: lane.region, error: describeFailure(err) })
      return wakeAt(lane, current + backoffDelayMs(backoff, 1, random))
    }
    let earliestRetry = Infinity
    for (const envelope of candidates) {
      if (free === 0) break
      if (lane.inFlight.has(envelope.messageId)) continue
      const retry = lane.retries.get(envelope.messageId)
      if (retry !== undefined && retry.notBefore > current) {
        earliestRetry = Math.min(earliestRetry, retry.notBefore)
        continue
      }
      free -= 1
      void attempt(lane, envelope)
    }
    if (free > 0 && earliestRetry !== Infinity) wakeAt(lane, earliestRetry)
  }

  async function attempt(lane: Lane, envelope: PendingEnvelope): Promise<void> {
    const controller = new AbortController()
    lane.inFlight.set(envelope.messageId, controller)
    let outcome: Outcome
    try {
      outcome = classify(await deliver(lane.region, envelope.envelope, controller.signal))
    } catch (err) {
      outcome = { kind: 'failed', error: describeFailure(err) }
    } finally {
      lane.inFlight.delete(envelope.messageId)
    }
    if (!closed) record(lane, envelope, outcome)
    if (closing) {
      if ([...lanes.values()].every((l) => l.inFlight.size === 0)) for (const resolve of idleWaiters) resolve()
      return
    }
    pump(lane)
  }

  /**
   * The region answered (2xx or 4xx): it is up, so the lane's backoff is moot, and so is
   * that of envelopes that failed with it. An envelope that failed more often than the
   * lane failed in a row fails on its own account (the region kept answering others) and
   * keeps its backoff, or it would be resent after every other delivery.
   */
  function regionAnswered(lane: Lane): void {
    if (lane.consecutiveFailures === 0) return
    logger.info('destination answering again', { to: lane.region, failuresBefore: lane.consecutiveFailures })
    for (const [messageId, retry] of lane.retries) {
      if (retry.failures <= lane.consecutiveFailures) lane.retries.delete(messageId)
    }
    lane.consecutiveFailures = 0
    lane.pausedUntil = 0
  }

  function record(lane: Lane, envelope: PendingEnvelope, outcome: Outcome): void {
    const fields = { messageId: envelope.messageId, from: envelope.from, to: envelope.to }
    const failures = (lane.retries.get(envelope.messageId)?.failures ?? 0) + 1
    try {
      if (outcome.kind === 'delivered') {
        store.remove(envelope.messageId, clock())
        options.metrics?.observeAttempt(lane.region, 'delivered')
        lane.retries.delete(envelope.messageId)
        regionAnswered(lane)
        logger.info('envelope delivered', { ...fields, status: outcome.status, attempts: failures })
        return
      }
      if (outcome.kind === 'refused') {
        store.markRefused(envelope.messageId, { status: outcome.status, reason: outcome.reason, at: clock() })
        options.metrics?.observeAttempt(lane.region, 'refused')
        lane.retries.delete(envelope.messageId)
        regionAnswered(lane)
        logger.warn('envelope refused by destination', { ...fields, status: outcome.status, reason: outcome.reason })
        return
      }
    } catch (err) {
      // Not recorded: the envelope stays pending and is delivered again later, which
      // at-least-once allows. Back it off so a broken store does not spin.
      outcome = { kind: 'failed', error: `store: ${describeFailure(err)}` }
      logger.error('relay store write failed', { ...fields, error: outcome.error })
    }
    options.metrics?.observeAttempt(lane.region, 'failed')
    const current = now()
    const retryInMs = backoffDelayMs(backoff, failures, random)
    lane.retries.set(envelope.messageId, { failures, notBefore: current + retryInMs })
    lane.lastError = { error: outcome.error, at: clock() }
    // Several attempts in flight fail together when a region goes down: back off once.
    if (lane.pausedUntil <= current) {
      lane.consecutiveFailures += 1
      lane.pausedUntil = current + backoffDelayMs(backoff, lane.consecutiveFailures, random)
    }
    logger.warn('delivery failed, will retry', { ...fields, error: outcome.error, attempts: failures, retryInMs })
  }

  function pruneTombstones(): void {
    try {
      const pruned = store.pruneTombstones(clock() - retentionMs)
      if (pruned > 0) logger.info('pruned delivered envelope ids', { pruned })
    } catch (err) {
      logger.error('relay store prune failed', { error: describeFailure(err) })
    }
  }

  pruneTombstones()
  const pruneTimer = setInterval(pruneTombstones, PRUNE_INTERVAL_MS)
  pruneTimer.unref()
  // Envelopes stored before a restart are delivered as soon as the relay exists.
  for (const region of store.destinationsWithPending()) pump(laneFor(region))

  function laneStatus(region: string, lane: Lane | undefined, stats: ReturnType<RelayStore['stats']>): DestinationStatus {
    const stored = stats.get(region)
    const wall = clock()
    const current = now()
    const paused = lane !== undefined && lane.pausedUntil > current
    let recentRefusals: DestinationStatus['recentRefusals'] = []
    if ((stored?.refused ?? 0) > 0) {
      recentRefusals = store.refusals(region, RECENT_REFUSALS_SHOWN).map((r) => ({
        messageId: r.messageId,
        from: r.from,
        status: r.status,
        reason: r.reason,
        at: new Date(r.at).toISOString(),
      }))
    }
    return {
      pending: stored?.pending ?? 0,
      oldestPendingAgeMs: stored?.oldestPendingAcceptedAt === undefined ? null : Math.max(0, wall - stored.oldestPendingAcceptedAt),
      inFlight: lane?.inFlight.size ?? 0,
      delivered: stored?.delivered ?? 0,
      refused: stored?.refused ?? 0,
      consecutiveFailures: lane?.consecutiveFailures ?? 0,
      lastError: lane?.lastError === undefined ? null : { error: lane.lastError.error, at: new Date(lane.lastError.at).toISOString() },
      retryInMs: paused ? Math.ceil(lane.pausedUntil - current) : null,
      recentRefusals,
    }
  }

  return {
    accept(envelopeBytes) {
      if (closing) throw new RelayClosedError()
      const header = readEnvelopeHeader(envelopeBytes)
      if (options.isKnownDestination !== undefined && !options.isKnownDestination(header.to)) {
        throw new EnvelopeRejectedError('unknown-destination', `no route to region '${header.to}'`)
      }
      const stored = store.put({ ...header, envelope: envelopeBytes, acceptedAt: clock() })
      logger.debug(stored ? 'envelope stored' : 'duplicate envelope', { ...header })
      if (stored) pump(laneFor(header.to))
      return stored ? 'stored' : 'duplicate'
    },

    status(alsoInclude = []) {
      const stats = store.stats()
      const regions = new Set([...alsoInclude, ...stats.keys(), ...lanes.keys()])
      const report: Record<string, DestinationStatus> = {}
      for (const region of [...regions].sort()) report[region] = laneStatus(region, lanes.get(region), stats)
      return report
    },

    retryNow(region) {
      const chosen = region === undefined ? [...lanes.values()] : [laneFor(region)]
      for (const lane of chosen) {
        lane.pausedUntil = 0
        lane.retries.clear()
        if (lane.timer !== undefined) clearTimeout(lane.timer)
        lane.timer = undefined
        lane.timerAt = Infinity
        pump(lane)
      }
    },

    async close({ graceMs = 2_000 } = {}) {
      if (closing) return
      closing = true
      clearInterval(pruneTimer)
      for (const lane of lanes.values()) if (lane.timer !== undefined) clearTimeout(lane.timer)
      const inFlight = (): number => [...lanes.values()].reduce((sum, lane) => sum + lane.inFlight.size, 0)
      if (inFlight() > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs)
          idleWaiters.add(() => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
      if (inFlight() > 0) {
        logger.warn('aborting deliveries still in flight', { inFlight: inFlight() })
        for (const lane of lanes.values()) for (const controller of lane.inFlight.values()) controller.abort()
      }
      closed = true
    },
  }
}
