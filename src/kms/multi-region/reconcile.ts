/**
 * Periodic reconciliation (docs/spec/replication.md#reconciliation): repairs whatever a
 * dropped, refused or expired message left undone. Each step is idempotent.
 *
 * @module
 */
import type { KeyRecord, SessionRecord, Write } from '../../storage/records.js'
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

/**
 * What reconciling a key would do now; undefined when the key is in order. Pure (no HSM
 * call, no new id), so that a pass can skip, without taking the region's write lock, the
 * keys that need nothing: most of them, most of the time.
 */
interface ReconcilePlan {
  /** The primary's handoff may have been lost: offer the same one again. */
  offerHandoff: boolean
  /** Replicas to send the shared state (or their ReplicaCreate) again. */
  resendTo: string[]
  /** Material versions this region lacks, and the region to fetch them from. */
  fetch?: { from: string; versions: number[] }
  /** Open sessions whose offer to send again. */
  reoffer: SessionRecord[]
}

function planFor(kms: Kms, key: KeyRecord, options: ReconcileOptions, now: number): ReconcilePlan | undefined {
  const mrk = key.mrk
  if (mrk === undefined) return undefined
  const plan: ReconcilePlan = { offerHandoff: false, resendTo: [], reoffer: [] }
  const lacking = missing(kms, key)
  const open = [...kms.sessions.values()].filter((s) => s.keyId === key.keyId && s.expiresAt > now)
  if (mrk.role === 'PRIMARY') {
    if (mrk.handoffTo !== undefined) {
      // The handoff may have been lost: offer the same one again (the new primary
      // answers a duplicate, or the refusal again).
      if (mrk.handoffId === undefined) return undefined
      plan.offerHandoff = true
      return plan
    }
    for (const region of mrk.replicaRegions) {
      const status = mrk.replicas?.[region]
      if (status === undefined) continue
      const behind = status.ackedSyncVersion < mrk.syncVersion || !status.created
      const quiet = (status.lastSentAt ?? 0) + options.resendAfterMs <= now
      if (!quiet || (!behind && (status.lastSyncedAt ?? 0) + options.resendAfterMs > now)) continue
      plan.resendTo.push(region)
    }
    // A new primary still missing versions its predecessor made (after a crash, its
    // session is gone): fetch them from a replica that reported them.
    if (lacking.length > 0 && open.length === 0) {
      const holder =
        mrk.replicaRegions.find((r) => lacking.every((v) => mrk.replicas?.[r]?.held.includes(v) === true)) ?? mrk.replicaRegions[0]
      if (holder !== undefined) plan.fetch = { from: holder, versions: lacking }
    }
  } else {
    if (lacking.length > 0 && open.length === 0) plan.fetch = { from: mrk.primaryRegion, versions: lacking }
    // The offer or its answer may have been lost. Offering again in the same session is
    // safe: the source answers a repeated offer with the identical stored transfer, and
    // RAKB is still single-use (docs/spec/replication.md#transfer).
    plan.reoffer = open.filter((session) => session.offeredAt + options.resendAfterMs <= now)
  }
  const idle = !plan.offerHandoff && plan.resendTo.length === 0 && plan.fetch === undefined && plan.reoffer.length === 0
  return idle ? undefined : plan
}

/** The writes that carry a plan out (the HSM makes a session's RAKB here). */
async function carryOut(kms: Kms, key: KeyRecord, plan: ReconcilePlan, now: number): Promise<Write[]> {
  const mrk = key.mrk
  if (mrk === undefined) return []
  if (plan.offerHandoff) {
    const message = handoffMessage(kms, key)
    return message === undefined ? [] : [message]
  }
  const writes: Write[] = []
  if (plan.resendTo.length > 0) {
    const replicas = { ...(mrk.replicas ?? {}) }
    const messages: Write[] = []
    for (const region of plan.resendTo) {
      const status = replicas[region]
      if (status === undefined) continue
      replicas[region] = { ...status, lastSentAt: now }
      messages.push(
        !status.created && status.initial !== undefined
          ? queueMessage(kms, region, key.keyId, {
              type: 'ReplicaCreate',
              replicationId: status.replicationId,
              shared: sharedStateOf(kms, key),
              replica: status.initial,
            })
          : queueMessage(kms, region, key.keyId, { type: 'SharedState', shared: sharedStateOf(kms, key) }),
      )
    }
    writes.push({ kind: 'putKey', key: { ...key, mrk: { ...mrk, replicas } } }, ...messages)
  }
  if (plan.fetch !== undefined) writes.push(...(await openSession(kms, key, plan.fetch.from, plan.fetch.versions)))
  for (const session of plan.reoffer) {
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

/** Sessions, answers and messages past their time: what a pass deletes. */
function expiredRecords(kms: Kms, now: number): Write[] {
  const writes: Write[] = []
  for (const session of kms.sessions.values()) {
    // Closing a session deletes its sealed agreement: RAKB is gone with it.
    if (session.expiresAt <= now || session.agreement === undefined) writes.push({ kind: 'deleteSession', sessionId: session.sessionId })
  }
  for (const answered of kms.answered.values())
    if (answered.expiresAt <= now) writes.push({ kind: 'deleteAnswered', sessionId: answered.sessionId })
  for (const message of kms.outbox.values()) if (message.expiresAt <= now) writes.push({ kind: 'deleteOutbox', id: message.id })
  return writes
}

/**
 * One pass over every multi-Region key, every session and the outbox. What needs doing is
 * judged first on this node's state, without the write lock; only then is it judged again
 * and done under the lock (`mutate`), on the region's current state. A node that follows
 * its peers may judge on a state a moment old: what it misses, the next pass sees.
 */
export async function reconcile(kms: Kms, options: ReconcileOptions): Promise<void> {
  if (expiredRecords(kms, wallClock()).length > 0) {
    await kms.mutate(() => ({ writes: expiredRecords(kms, wallClock()), result: undefined }))
  }
  for (const key of [...kms.keys.values()]) {
    if (planFor(kms, key, options, wallClock()) === undefined) continue
    await kms.mutate(async () => {
      const current = kms.keys.get(key.keyId)
      const now = wallClock()
      const plan = current === undefined ? undefined : planFor(kms, current, options, now)
      return { writes: current === undefined || plan === undefined ? [] : await carryOut(kms, current, plan, now), result: undefined }
    })
  }
}
