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
import type { KeyRecord, Write } from '../../storage/records.js'
import type { Kms } from '../kms.js'

/** The answered sessions for this key and replica region now: what does not count as news. */
export function answeredSessionsOf(kms: Kms, keyId: string, region: string): ReadonlySet<string> {
  const ids = new Set<string>()
  for (const answered of kms.answered.values()) if (answered.keyId === keyId && answered.to === region) ids.add(answered.sessionId)
  return ids
}

type Seen = 'visible' | 'waiting' | 'gone'

/** What the key's record says of the replica: gone (deleted, or another incarnation), created, or not yet. */
function seenInRecord(key: KeyRecord | undefined, region: string, replicationId: string): Seen {
  const status = key?.mrk?.replicas?.[region]
  if (status?.replicationId !== replicationId) return 'gone'
  return status.created ? 'visible' : 'waiting'
}

function replicaSeen(kms: Kms, keyId: string, region: string, replicationId: string, before: ReadonlySet<string>): Seen {
  const seen = seenInRecord(kms.keys.get(keyId), region, replicationId)
  if (seen !== 'waiting') return seen
  for (const answered of kms.answered.values()) {
    if (answered.keyId === keyId && answered.to === region && !before.has(answered.sessionId)) return 'visible'
  }
  return 'waiting'
}

/** What one applied write says of the replica, if anything. */
function seenInWrite(write: Write, keyId: string, region: string, replicationId: string, before: ReadonlySet<string>): Seen {
  switch (write.kind) {
    case 'putAnswered': {
      const { answered } = write
      return answered.keyId === keyId && answered.to === region && !before.has(answered.sessionId) ? 'visible' : 'waiting'
    }
    case 'putKey':
      return write.key.keyId === keyId ? seenInRecord(write.key, region, replicationId) : 'waiting'
    case 'deleteKey':
      return write.keyId === keyId ? 'gone' : 'waiting'
    default:
      return 'waiting'
  }
}

/**
 * Resolves true once the replica region has signalled that the replica exists, false when
 * `waitMs` passes first (or the replica is gone). Listens to the writes this node applies
 * (Kms.onApplied), which follow the region's store, so a signal that reached another node
 * of the region counts too. It polled every 5 ms before: each poll read every answered
 * session, for every ReplicateKey waiting, and the answer came up to 5 ms late.
 */
export function awaitReplicaVisible(
  kms: Kms,
  keyId: string,
  region: string,
  replicationId: string,
  before: ReadonlySet<string>,
  waitMs: number,
): Promise<boolean> {
  const now = replicaSeen(kms, keyId, region, replicationId, before)
  if (now !== 'waiting') return Promise.resolve(now === 'visible')
  return new Promise((resolve) => {
    let settled = false
    const settle = (visible: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      unsubscribe()
      resolve(visible)
    }
    const unsubscribe = kms.onApplied((write) => {
      const seen = seenInWrite(write, keyId, region, replicationId, before)
      if (seen !== 'waiting') settle(seen === 'visible')
    })
    const timer = setTimeout(() => settle(false), waitMs)
  })
}
