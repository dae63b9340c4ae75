/**
 * The audit record of a change, committed with the change (docs/spec/audit-trail.md §4).
 * The API layer runs each request inside `auditIntentScope` with a function that builds
 * the request's record as far as it is known before the answer; every change the request
 * commits (Kms.mutate) carries that record as an `auditIntent` write, in the same store
 * commit. The replication endpoint does the same for each message it receives. Background
 * work runs outside any scope and carries none.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'

export interface AuditIntent {
  /** The node whose chain the record belongs to. */
  node: number
  eventId: string
  /** The record's JSON text. */
  record: string
}

/**
 * Builds the request's intent; `keyIds` are the keys the change writes (for `resources`),
 * `detail` what the code making the change says of it (a replication message's type,
 * sender, key and id).
 */
export type AuditIntentSource = (keyIds: readonly string[], detail?: Readonly<Record<string, string>>) => AuditIntent

export const auditIntentScope = new AsyncLocalStorage<AuditIntentSource>()
