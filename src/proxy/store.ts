/**
 * Where the relay keeps envelopes between accepting and delivering them: the
 * {@link RelayStore} port and its in-memory implementation for tests. The durable one is
 * {@link SqliteRelayStore} (`sqlite-store.ts`).
 *
 * An envelope is `pending` until its destination answers. A delivered or refused one
 * leaves only a tombstone (ids, times, the refusal), kept for the de-duplication window
 * so that a sender retrying a message already delivered gets `duplicate`, not a second
 * delivery; its bytes are dropped at once.
 *
 * The port is synchronous: `put` must be durable before the relay answers 202, and
 * better-sqlite3 is synchronous anyway.
 *
 * @module
 */

export interface NewEnvelope {
  messageId: string
  from: string
  to: string
  /** The envelope exactly as received. */
  envelope: Uint8Array
  /** Epoch milliseconds. */
  acceptedAt: number
}

export interface PendingEnvelope extends NewEnvelope {
  /** Acceptance order across the whole store: oldest first is lowest first. */
  sequence: number
}

export interface Refusal {
  /** The HTTP status the destination answered, a 4xx. */
  status: number
  /** The destination's short reason, if it gave one. */
  reason: string
  /** Epoch milliseconds. */
  at: number
}

export interface RefusedEnvelope extends Refusal {
  messageId: string
  from: string
  to: string
}

export interface DestinationStats {
  pending: number
  /** acceptedAt of the oldest pending envelope. */
  oldestPendingAcceptedAt: number | undefined
  /** Envelopes refused since the store was created. */
  refused: number
  /** Envelopes delivered since the store was created. */
  delivered: number
}

export interface RelayStore {
  /** Stores the envelope unless one with its messageId is known: `false` for a duplicate. */
  put(envelope: NewEnvelope): boolean
  /** Up to `limit` pending envelopes to `to`, oldest first. */
  pending(to: string, limit: number): PendingEnvelope[]
  /** Every destination that has pending envelopes. */
  destinationsWithPending(): string[]
  /** The destination accepted the envelope: drop it, keep its tombstone. */
  remove(messageId: string, at: number): void
  /** The destination refused the envelope: stop delivering it, keep the refusal. */
  markRefused(messageId: string, refusal: Refusal): void
  /** The latest refusals by `to`, newest first, as far as tombstones are still kept. */
  refusals(to: string, limit: number): RefusedEnvelope[]
  stats(): Map<string, DestinationStats>
  /** Forgets tombstones of envelopes delivered or refused before `before` (epoch ms). */
  pruneTombstones(before: number): number
  close(): void
}

interface MemoryEntry {
  header: NewEnvelope
  sequence: number
  state: 'pending' | 'delivered' | 'refused'
  finishedAt?: number
  refusal?: Refusal
}

function emptyStats(): DestinationStats {
  return { pending: 0, oldestPendingAcceptedAt: undefined, refused: 0, delivered: 0 }
}

/** A {@link RelayStore} that lives and dies with the process: for tests. */
export class MemoryRelayStore implements RelayStore {
  // A Map iterates in insertion order, which is acceptance order.
  readonly #entries = new Map<string, MemoryEntry>()
  readonly #totals = new Map<string, { delivered: number; refused: number }>()
  #nextSequence = 1

  put(envelope: NewEnvelope): boolean {
    if (this.#entries.has(envelope.messageId)) return false
    const copy = { ...envelope, envelope: Uint8Array.from(envelope.envelope) }
    this.#entries.set(envelope.messageId, { header: copy, sequence: this.#nextSequence++, state: 'pending' })
    return true
  }

  pending(to: string, limit: number): PendingEnvelope[] {
    const found: PendingEnvelope[] = []
    for (const entry of this.#entries.values()) {
      if (found.length >= limit) break
      if (entry.state === 'pending' && entry.header.to === to) found.push({ ...entry.header, sequence: entry.sequence })
    }
    return found
  }

  destinationsWithPending(): string[] {
    const destinations = new Set<string>()
    for (const entry of this.#entries.values()) if (entry.state === 'pending') destinations.add(entry.header.to)
    return [...destinations]
  }

  remove(messageId: string, at: number): void {
    const entry = this.#entries.get(messageId)
    if (entry?.state !== 'pending') return
    entry.state = 'delivered'
    entry.finishedAt = at
    entry.header = { ...entry.header, envelope: new Uint8Array(0) }
    this.#total(entry.header.to).delivered += 1
  }

  markRefused(messageId: string, refusal: Refusal): void {
    const entry = this.#entries.get(messageId)
    if (entry?.state !== 'pending') return
    entry.state = 'refused'
    entry.finishedAt = refusal.at
    entry.refusal = refusal
    entry.header = { ...entry.header, envelope: new Uint8Array(0) }
    this.#total(entry.header.to).refused += 1
  }

  refusals(to: string, limit: number): RefusedEnvelope[] {
    const found: RefusedEnvelope[] = []
    for (const entry of [...this.#entries.values()].reverse()) {
      if (found.length >= limit) break
      if (entry.refusal !== undefined && entry.header.to === to) {
        const { messageId, from } = entry.header
        found.push({ messageId, from, to, ...entry.refusal })
      }
    }
    return found.sort((a, b) => b.at - a.at)
  }

  stats(): Map<string, DestinationStats> {
    const stats = new Map<string, DestinationStats>()
    for (const [to, totals] of this.#totals) stats.set(to, { ...emptyStats(), ...totals })
    for (const entry of this.#entries.values()) {
      if (entry.state !== 'pending') continue
      const to = entry.header.to
      const current = stats.get(to) ?? emptyStats()
      current.pending += 1
      current.oldestPendingAcceptedAt = Math.min(current.oldestPendingAcceptedAt ?? Infinity, entry.header.acceptedAt)
      stats.set(to, current)
    }
    return stats
  }

  pruneTombstones(before: number): number {
    let pruned = 0
    for (const [messageId, entry] of this.#entries) {
      if (entry.state !== 'pending' && (entry.finishedAt ?? 0) < before) {
        this.#entries.delete(messageId)
        pruned += 1
      }
    }
    return pruned
  }

  close(): void {}

  #total(to: string): { delivered: number; refused: number } {
    let totals = this.#totals.get(to)
    if (totals === undefined) {
      totals = { delivered: 0, refused: 0 }
      this.#totals.set(to, totals)
    }
    return totals
  }
}
