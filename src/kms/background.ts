/**
 * Work a region does on its own clock: deleting keys whose waiting period is over, and
 * rotating keys whose automatic rotation is due. Each pass reads `kms.clock`, so a test
 * that advances the clock sees the effect at the next pass.
 *
 * @module
 */
import type { Logger } from '../log/logger.js'
import type { Write } from '../storage/records.js'
import type { Kms } from './kms.js'
import { rotationWrites } from './materials.js'
import { queueMessage } from './multi-region/outbound.js'
import { expireImportedMaterial } from './imported-material.js'
import type { Lease } from './lease.js'
import { recordedServiceChange } from './service-events.js'

/** Deletes every PendingDeletion key whose deletion date has passed, with its aliases. */
export async function sweepDeletions(kms: Kms, logger: Logger): Promise<number> {
  const now = kms.clock.now()
  const due = [...kms.keys.values()].filter((k) => k.state === 'PendingDeletion' && k.deletionAt !== undefined && k.deletionAt <= now)
  for (const candidate of due) {
    const deleted = await recordedServiceChange(kms, 'DeleteKey', candidate.keyId, (auditIntent) =>
      kms.mutate(() => {
        const key = kms.keys.get(candidate.keyId)
        // Re-checked inside the mutation: a CancelKeyDeletion may have come first, or another
        // node (a former holder of the region's lease) may have deleted it.
        if (key === undefined || key.state !== 'PendingDeletion' || key.deletionAt === undefined || key.deletionAt > kms.clock.now()) {
          return { writes: [], result: false }
        }
        const writes: Write[] = [...kms.aliases.values()]
          .filter((a) => a.keyId === key.keyId)
          .map((a) => ({ kind: 'deleteAlias', aliasName: a.aliasName }))
        writes.push({ kind: 'deleteKey', keyId: key.keyId })
        //= docs/spec/replication.md#deletion
        //# When a replica is actually deleted, its region sends ReplicaDeleted to the primary
        const replicationId = key.mrk?.replicationId
        if (key.mrk?.role === 'REPLICA' && replicationId !== undefined) {
          // The tombstone lets this region repeat the notice if it is lost (spec §9.2).
          writes.push({
            kind: 'putTombstone',
            tombstone: { keyId: key.keyId, primaryRegion: key.mrk.primaryRegion, replicationId, deletedAt: kms.clock.now() },
          })
          writes.push(queueMessage(kms, key.mrk.primaryRegion, key.keyId, { type: 'ReplicaDeleted', replicationId }))
        }
        return { writes, result: true }
      }, auditIntent),
    )
    if (deleted) logger.info('key deleted', { keyId: candidate.keyId })
  }
  return due.length
}

/** Rotates every Enabled key whose automatic rotation is due. */
export async function rotateDueKeys(kms: Kms, logger: Logger): Promise<number> {
  const now = kms.clock.now()
  const due = [...kms.keys.values()].filter(
    (k) =>
      k.state === 'Enabled' &&
      k.mrk?.role !== 'REPLICA' &&
      k.rotation.enabled &&
      k.rotation.nextRotationAt !== undefined &&
      k.rotation.nextRotationAt <= now,
  )
  for (const candidate of due) {
    const rotated = await recordedServiceChange(kms, 'RotateKey', candidate.keyId, (auditIntent) =>
      kms.mutate(async () => {
        const key = kms.keys.get(candidate.keyId)
        const next = key?.rotation.nextRotationAt
        if (
          key === undefined ||
          key.state !== 'Enabled' ||
          key.mrk?.role === 'REPLICA' ||
          !key.rotation.enabled ||
          next === undefined ||
          next > kms.clock.now()
        ) {
          return { writes: [], result: false }
        }
        return { writes: await rotationWrites(kms, key, 'AUTOMATIC'), result: true }
      }, auditIntent),
    )
    if (rotated) logger.info('key rotated automatically', { keyId: candidate.keyId })
  }
  return due.length
}

/**
 * Runs the sweeps every `intervalMs` until stopped, while this node holds the region's
 * lease (lease.ts); a failing pass is logged, not fatal. `runNow` runs one pass whatever
 * the lease says: it is asked for explicitly.
 */
export function startBackgroundWork(
  kms: Kms,
  logger: Logger,
  intervalMs: number,
  lease: Lease,
): { stop(): Promise<void>; runNow(): Promise<void> } {
  let running: Promise<void> = Promise.resolve()
  let stopped = false
  const pass = async (): Promise<void> => {
    try {
      await sweepDeletions(kms, logger)
      await rotateDueKeys(kms, logger)
      for (const keyId of await expireImportedMaterial(kms)) logger.info('imported key material expired', { keyId })
    } catch (err) {
      logger.error('background pass failed', { error: err instanceof Error ? err.message : 'unknown' })
    }
  }
  const tick = (): void => {
    if (stopped || !lease.held) return
    running = running.then(pass)
  }
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  return {
    async stop() {
      stopped = true
      clearInterval(timer)
      await running
    },
    runNow() {
      running = running.then(pass)
      return running
    },
  }
}
