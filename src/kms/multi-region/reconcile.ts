/**
 * Periodic reconciliation (docs/spec/replication.md#reconciliation): repairs whatever a
 * dropped, refused or expired message left undone. Each step is idempotent.
 *
 * @module
 */
import type { KeyRecord, Write } from '../../storage/records.js'
import type { Kms } from '../kms.js'
import { openSession } from './handlers.js'
import { handoffMessage, queueMessage, sharedStateOf, wallClock } from './outbound.js'

export interface ReconcileOptions {
  /** A replica unheard of for this long is sent the shared state again. */
  resendAfterMs: number
}

function missing(kms: Kms, key: KeyRecord): number[] {
  const held = new Set((kms.materials.get(key.keyId) ?? []).map((m) => m.version))
  return (key.mrk?.knownVersions ?? []).filter((v) => !held.has(v))
}

async function reconcileKey(kms: Kms, key: KeyRecord, options: ReconcileOptions): Promise<Write[]> {
  const mrk = key.mrk
  if (mrk === undefined) return []
  const now = wallClock()
  const writes: Write[] = []
  if (mrk.role === 'PRIMARY') {
    if (mrk.handoffTo !== undefined) {
      // The handoff may have been lost: offer the same one again (the new primary
      // answers a duplicate, or the refusal again).
      const message = handoffMessage(kms, key)
      return message === undefined ? [] : [message]
    }
    const replicas = { ...(mrk.replicas ?? {}) }
    let changed = false
    for (const region of mrk.replicaRegions) {
      const status = replicas[region]
      if (status === undefined) continue
      const behind = status.ackedSyncVersion < mrk.syncVersion || !status.created
      const quiet = (status.lastSentAt ?? 0) + options.resendAfterMs <= now
      if (!quiet || (!behind && (status.lastSyncedAt ?? 0) + options.resendAfterMs > now)) continue
      replicas[region] = { ...status, lastSentAt: now }
      changed = true
      if (!status.created && status.initial !== undefined) {
        writes.push(
          queueMessage(kms, region, key.keyId, {
            type: 'ReplicaCreate',
            replicationId: status.replicationId,
            shared: sharedStateOf(kms, key),
            replica: status.initial,
          }),
        )
      } else {
        writes.push(queueMessage(kms, region, key.keyId, { type: 'SharedState', shared: sharedStateOf(kms, key) }))
      }
    }
    if (changed) writes.unshift({ kind: 'putKey', key: { ...key, mrk: { ...mrk, replicas } } })
    // A new primary still missing versions its predecessor made (after a crash, its
    // session is gone): fetch them from a replica that reported them.
    const lacking = missing(kms, key)
    const sessionOpen = [...kms.sessions.values()].some((s) => s.keyId === key.keyId && s.expiresAt > now)
    if (lacking.length > 0 && !sessionOpen) {
      const holder =
        mrk.replicaRegions.find((r) => lacking.every((v) => mrk.replicas?.[r]?.held.includes(v) === true)) ?? mrk.replicaRegions[0]
      if (holder !== undefined) writes.push(...(await openSession(kms, key, holder, lacking)))
    }
    return writes
  }
  const lacking = missing(kms, key)
  const open = [...kms.sessions.values()].filter((s) => s.keyId === key.keyId && s.expiresAt > now)
  if (lacking.length > 0 && open.length === 0) writes.push(...(await openSession(kms, key, mrk.primaryRegion, lacking)))
  for (const session of open) {
    if (session.offeredAt + options.resendAfterMs > now) continue
    // The offer or its answer may have been lost. Offering again in the same session is
    // safe: the source answers a repeated offer with the identical stored transfer, and
    // RAKB is still single-use (docs/spec/replication.md#transfer).
    writes.push({ kind: 'putSession', session: { ...session, offeredAt: now } })
    writes.push(
      queueMessage(kms, session.peerRegion, key.keyId, {
        type: 'AgreementOffer',
        sessionId: session.sessionId,
        rakbPublicKey: session.rakbPublicKey,
        versions: session.versions,
      }),
    )
  }
  return writes
}

/** One pass over every multi-Region key, every session and the outbox. */
export async function reconcile(kms: Kms, options: ReconcileOptions): Promise<void> {
  const now = wallClock()
  await kms.mutate(async () => {
    const writes: Write[] = []
    for (const session of kms.sessions.values()) {
      // Closing a session deletes its sealed agreement: RAKB is gone with it.
      if (session.expiresAt <= now || session.agreement === undefined) writes.push({ kind: 'deleteSession', sessionId: session.sessionId })
    }
    for (const answered of kms.answered.values())
      if (answered.expiresAt <= now) writes.push({ kind: 'deleteAnswered', sessionId: answered.sessionId })
    for (const message of kms.outbox.values()) if (message.expiresAt <= now) writes.push({ kind: 'deleteOutbox', id: message.id })
    return { writes, result: undefined }
  })
  for (const key of [...kms.keys.values()]) {
    if (key.mrk === undefined) continue
    await kms.mutate(async () => {
      const current = kms.keys.get(key.keyId)
      return { writes: current === undefined ? [] : await reconcileKey(kms, current, options), result: undefined }
    })
  }
}
