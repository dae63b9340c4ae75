/**
 * The storage port. A region keeps its working set in memory and writes through this
 * port; storage is untrusted (it sees key material only as key tokens) and must be
 * durable: `commit` resolves only once the batch would survive a crash of the process.
 *
 * @module
 */
import type { Snapshot, Write } from './records.js'

export interface Storage {
  /** Everything stored, for a region starting up. */
  load(): Promise<Snapshot>
  /** Applies every write or none, durably, in order. */
  commit(writes: readonly Write[]): Promise<void>
  close(): Promise<void>
}
