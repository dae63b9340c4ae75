/**
 * The audit record of a change, committed with the change (docs/spec/audit-trail.md §4).
 * The API layer gives each request a function that builds the request's record as far as
 * it is known before the answer (RequestContext.auditIntent); every change the request
 * commits (Kms.mutate) carries that record as an `auditIntent` write, in the same store
 * commit. The replication endpoint does the same for each message it receives, and a
 * service event (service-events.ts) for the change it records. Other background work
 * carries none.
 *
 * The function is passed explicitly, not through an AsyncLocalStorage: on Node 20 one
 * AsyncLocalStorage scope switches on promise hooks for every promise of the process, a
 * measurable share of each request's CPU on the hot path.
 *
 * @module
 */

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
