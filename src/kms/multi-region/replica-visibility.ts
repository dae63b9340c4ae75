/**
 * ReplicateKey's wait for its replica to exist in the replica region (AWS: the new replica
 * is in the `Creating` state; DescribeKey in the replica region shows it). The replica is
 * made by the replica region itself when the signed ReplicaCreate reaches it (spec §6.1),
 * and the primary learns that only from a signed message of that region about the key: the
 * AgreementOffer that opens the first material transfer (answered here, so an answered
 * session appears), or the SyncAck/TransferComplete that marks the replica created. The
 * replica region commits the replica in the same transaction that queues that message, so
 * once the primary holds it, DescribeKey there finds the replica.
 *
 * Nothing about the protocol changes: ReplicateKey has already committed (the replica is
 * recorded and its ReplicaCreate queued), so the wait only delays the answer. A replica
 * region that cannot be reached within the wait (down, cut off, refusing) gets the replica
 * later, through retries and reconciliation, exactly as before; ReplicateKey then answers
 * anyway, and until the replica arrives that region answers NotFoundException (docs/spec/
 * replication.md §6.1).
 *
 * @module
 */
import type { Kms } from '../kms.js'

const POLL_MS = 5

/** The answered sessions for this key and replica region now: what does not count as news. */
export function answeredSessionsOf(kms: Kms, keyId: string, region: string): ReadonlySet<string> {
  const ids = new Set<string>()
  for (const answered of kms.answered.values()) if (answered.keyId === keyId && answered.to === region) ids.add(answered.sessionId)
  return ids
}

type Seen = 'visible' | 'waiting' | 'gone'

function replicaSeen(kms: Kms, keyId: string, region: string, replicationId: string, before: ReadonlySet<string>): Seen {
  const status = kms.keys.get(keyId)?.mrk?.replicas?.[region]
  // Deleted, or replaced by another incarnation, meanwhile: nothing to wait for.
  if (status?.replicationId !== replicationId) return 'gone'
  if (status.created) return 'visible'
  for (const answered of kms.answered.values()) {
    if (answered.keyId === keyId && answered.to === region && !before.has(answered.sessionId)) return 'visible'
  }
  return 'waiting'
}

/**
 * Resolves true once the replica region has signalled that the replica exists, false when
 * `waitMs` passes first (or the replica is gone). Polls this node's state, which follows
 * the region's store, so a signal that reached another node of the region counts too.
 */
export async function awaitReplicaVisible(
  kms: Kms,
  keyId: string,
  region: string,
  replicationId: string,
  before: ReadonlySet<string>,
  waitMs: number,
): Promise<boolean> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const seen = replicaSeen(kms, keyId, region, replicationId, before)
    if (seen !== 'waiting') return seen === 'visible'
    const left = deadline - Date.now()
    if (left <= 0) return false
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, left)))
  }
}
