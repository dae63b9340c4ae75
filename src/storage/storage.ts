/**
 * The storage port. A region keeps its working set in memory and writes through this
 * port; storage is untrusted (it sees key material only as key tokens) and must be
 * durable: a change is committed only once it would survive a crash of the process.
 *
 * A region's store may have several writers: the nodes of a region share one store
 * (docs/architecture.md, "A region of many nodes"). Every change therefore goes into a
 * **change log** with a gapless position, and is committed **exclusively**: a writer
 * first catches up with every change others committed, then decides, then commits, with
 * no other commit in between. Changes are thus totally ordered per region, every node
 * can apply them in that order, and no update is lost. A store with a single writer
 * (the embedded SQLite file of a one-node region, the in-memory store of a test) has the
 * same contract; its catch-up is simply empty.
 *
 * @module
 */
import { hash } from 'node:crypto'
import type { Snapshot, Write } from './records.js'

/** A position in a region's change log: 0 before the first change, then 1, 2, 3, … without gaps. */
export type ChangePosition = number

/**
 * The log's chain digest (docs/spec/storage.md §2): each change's digest covers the digest
 * before it, its position and its writes as logged, so two logs that hold different
 * changes at a position have different digests from there on. A store computes them; a
 * node only compares them, to notice a store whose history is not the one it applied.
 */
export type ChainDigest = string

/** The digest at position 0, before the first change. */
export const GENESIS_DIGEST: ChainDigest = '0'.repeat(64)

/** The digest of the change at `position`, logged as `encodedWrites` (write-codec.ts), after `previous`. */
export function chainDigest(previous: ChainDigest, position: ChangePosition, encodedWrites: string): ChainDigest {
  return hash('sha256', `trent-change-log-v1\n${previous}\n${position}\n${encodedWrites}`, 'hex')
}

/** `{ digest }` when it is known, `{}` otherwise (exactOptionalPropertyTypes). */
export function withDigest(digest: ChainDigest | undefined): { digest?: ChainDigest } {
  return digest === undefined ? {} : { digest }
}

export interface CommittedChange {
  position: ChangePosition
  writes: Write[]
  /** The chain digest through this change; absent for a change logged before the chain was (a migrated store). */
  digest?: ChainDigest
}

export interface LoadedState extends Snapshot {
  /** The position of the last change the snapshot includes. */
  position: ChangePosition
  /** The chain digest at `position`; absent when the store does not know it (a migrated store). */
  digest?: ChainDigest
}

/** What a writer decides, once it sees the region's current state. */
export interface Decision<T> {
  writes: Write[]
  result: T
}

export interface Storage {
  /** Everything stored, for a node starting up (or one that fell too far behind). */
  load(): Promise<LoadedState>
  /**
   * Commits one change of the region, exclusively. Every change committed after `since`
   * (by any writer) is first passed to `catchUp`, oldest first, so that `decide` sees the
   * region's current state; `decide`'s writes are then committed, atomically and durably,
   * at the next position, before any other writer can commit. Resolves with the position
   * the caller's state is now at (the new change's, or the last caught-up one if `decide`
   * wrote nothing) and `decide`'s result. If `decide` throws, nothing is committed (the
   * changes caught up stay applied: they were committed by others). A store may decide
   * optimistically: if another writer committed while `decide` ran, it passes that change
   * to `catchUp` and calls `decide` again, so `decide` must do nothing but compute its
   * writes (what it asks the HSM to make is simply not used).
   *
   * `sinceDigest`, the caller's chain digest at `since`: when given, and the store's digest
   * at `since` is known and differs, the store's history is not the caller's (it was
   * replaced by another whose log reached as far), and the store throws
   * ChangeLogMismatchError. The result carries the digest at the resolved position, when known.
   */
  commitChange<T>(
    since: ChangePosition,
    catchUp: (changes: readonly CommittedChange[]) => void,
    decide: () => Promise<Decision<T>> | Decision<T>,
    sinceDigest?: ChainDigest,
  ): Promise<{ position: ChangePosition; digest?: ChainDigest; result: T }>
  /**
   * The changes committed after `since`, oldest first; `undefined` when the caller cannot
   * continue from `since` (some of the changes are no longer kept, or the store's log does
   * not reach `since`: it went back; or `sinceDigest` is given and differs from the store's
   * digest at `since`: its history is another), so the caller must `load()` again.
   * `commitChange` throws ChangeLogMismatchError in the same cases.
   */
  changesSince(since: ChangePosition, sinceDigest?: ChainDigest): Promise<CommittedChange[] | undefined>
  /**
   * Whether other processes may write this store. A node of a shared store follows the
   * change log (changesSince) to learn what the others did.
   */
  readonly shared: boolean
  /**
   * Takes or keeps a named lease of the region for `holder` for `ttlMs`: true while
   * `holder` has it. Held by at most one holder at a time; it passes to another only once
   * it expired (its holder stopped renewing it: dead, or cut off from the store).
   */
  holdLease(name: string, holder: string, ttlMs: number): Promise<boolean>
  /** Gives up a lease `holder` holds (on a clean stop), so that another takes it at once. */
  releaseLease(name: string, holder: string): Promise<void>
  /**
   * Calls `listener` when a writer of the store (another node, or this one) committed: a
   * hint to follow sooner, with the change's log position when the store knows it
   * (without one, something may have been committed: after the store was unreachable, say).
   */
  watch?(listener: (position?: ChangePosition) => void): () => void
  close(): Promise<void>
}

/**
 * The store cannot be reached now: its server is down, unreachable, or did not answer in
 * time (docs/spec/storage.md §6). Nothing can be said of a change whose commit failed so
 * (it may have committed just before the connection dropped); the change log tells, and
 * the next commit catches up with it. The KMS answers it as `DependencyTimeoutException`.
 *
 * The KMS may import storage only as types (tools/check-boundaries.mjs), so it recognises
 * this error by its `name`, `'StorageUnavailableError'`, rather than with `instanceof`.
 */
/**
 * The store cannot continue the change log from where the caller is: the changes after it
 * were pruned, or the store's log is behind the caller's (a failover to a database that
 * lost commits the caller applied). The caller must load the store's state again.
 */
export class ChangeLogMismatchError extends Error {
  override readonly name = 'ChangeLogMismatchError'
}

export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}
