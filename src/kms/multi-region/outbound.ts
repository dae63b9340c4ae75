/**
 * Building the messages a region sends: each becomes an outbox write, committed in the
 * same transaction as the state change it reports, so a change and its message are
 * durable together (docs/spec/replication.md §5.2).
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { PROTOCOL, encodeMessage, type Message, type MessageContent, type SharedState } from '../../replication/messages.js'
import type { KeyRecord, MaterialRecord, Write } from '../../storage/records.js'
import type { Kms } from '../kms.js'
import { importedVersions } from '../imported-material.js'

/** How long a message stays valid (spec §3.2 rule 3 allows at most 15 min). */
export const MESSAGE_TTL_MS = 10 * 60_000

/**
 * Message freshness is wall-clock time, not the KMS clock: tests move a region's KMS
 * clock days ahead to expire deletion windows, and that must not make its messages
 * look like they come from the future.
 */
export function wallClock(): number {
  return Date.now()
}

export function queueMessage(kms: Kms, to: string, keyId: string, content: MessageContent): Write {
  const issuedAt = wallClock()
  const message = {
    protocol: PROTOCOL,
    messageId: randomUUID(),
    partition: kms.peers.partitionId() ?? '',
    from: kms.region,
    to,
    keyId,
    issuedAt,
    expiresAt: issuedAt + MESSAGE_TTL_MS,
    ...content,
  } as Message
  return { kind: 'putOutbox', message: { id: message.messageId, to, body: encodeMessage(message), expiresAt: message.expiresAt } }
}

/** The shared properties of `key` as its primary states them (spec §7.1). */
export function sharedStateOf(
  kms: Kms,
  key: KeyRecord,
  materials: readonly MaterialRecord[] = kms.materials.get(key.keyId) ?? [],
): SharedState {
  const mrk = key.mrk
  if (mrk === undefined) throw new Error('kms: not a multi-Region key')
  return {
    syncVersion: mrk.syncVersion,
    keySpec: key.keySpec,
    keyUsage: key.keyUsage,
    origin: key.origin,
    primaryRegion: mrk.primaryRegion,
    replicaRegions: [...mrk.replicaRegions],
    rotation: {
      enabled: key.rotation.enabled,
      periodInDays: key.rotation.periodInDays,
      ...(key.rotation.nextRotationAt !== undefined ? { nextRotationAt: key.rotation.nextRotationAt } : {}),
    },
    materials: sharedMaterials(key, materials),
    currentVersion: key.currentMaterialVersion,
  }
}

/**
 * The material versions the replicas must match. Imported material (spec §7.4) is listed
 * from the key's list of materials, held here or not: the ids, not the bytes, are what a
 * replica's import is checked against, and new material pending rotation is listed so
 * that each replica can import it (spec §7.5). `createdAt` of a rotated-to material is
 * its rotation date.
 */
function sharedMaterials(key: KeyRecord, materials: readonly MaterialRecord[]): SharedState['materials'] {
  if (key.origin === 'EXTERNAL') {
    return importedVersions(key).map((v) => ({
      version: v.version,
      materialId: v.materialId,
      createdAt: v.rotatedAt ?? v.importedAt ?? key.createdAt,
      ...(v.rotationType !== undefined ? { rotationType: v.rotationType } : {}),
    }))
  }
  return materials.map((m) => ({
    version: m.version,
    materialId: m.materialId,
    createdAt: m.createdAt,
    ...(m.rotationType !== undefined ? { rotationType: m.rotationType } : {}),
  }))
}

/** One SharedState message per replica, and the replicas' lastSentAt bumped. */
export function broadcastSharedState(
  kms: Kms,
  key: KeyRecord,
  materials: readonly MaterialRecord[] = kms.materials.get(key.keyId) ?? [],
): { key: KeyRecord; writes: Write[] } {
  const mrk = key.mrk
  if (mrk === undefined || mrk.role !== 'PRIMARY') return { key, writes: [] }
  const shared = sharedStateOf(kms, key, materials)
  const now = wallClock()
  const replicas = { ...(mrk.replicas ?? {}) }
  const writes: Write[] = []
  for (const region of mrk.replicaRegions) {
    const status = replicas[region]
    // A replica still being created gets everything with its first transfer.
    if (status === undefined || !status.created) continue
    replicas[region] = { ...status, lastSentAt: now }
    writes.push(queueMessage(kms, region, key.keyId, { type: 'SharedState', shared }))
  }
  return { key: { ...key, mrk: { ...mrk, replicas } }, writes }
}

/** The PrimaryHandoff a primary sends (and re-sends) for its handoff under way (spec §9.1). */
export function handoffMessage(kms: Kms, key: KeyRecord): Write | undefined {
  const mrk = key.mrk
  if (mrk?.role !== 'PRIMARY' || mrk.handoffTo === undefined || mrk.handoffId === undefined) return undefined
  const to = mrk.handoffTo
  // The handoff is the next shared-state change; the primary's own sync version stays
  // put meanwhile, so nothing it sends during the handoff can pre-empt it.
  const shared = {
    ...sharedStateOf(kms, key),
    syncVersion: mrk.syncVersion + 1,
    primaryRegion: to,
    replicaRegions: [...mrk.replicaRegions.filter((r) => r !== to), kms.region],
  }
  const replicas = mrk.replicaRegions
    .filter((region) => region !== to)
    .map((region) => {
      const status = mrk.replicas?.[region]
      return {
        region,
        replicationId: status?.replicationId ?? '',
        created: status?.created ?? false,
        ...(status?.created !== true && status?.initial !== undefined ? { initial: status.initial } : {}),
      }
    })
  return queueMessage(kms, to, key.keyId, { type: 'PrimaryHandoff', handoffId: mrk.handoffId, shared, replicas })
}

export function heldVersions(kms: Kms, keyId: string): Array<{ version: number; materialId: string }> {
  return (kms.materials.get(keyId) ?? []).map((m) => ({ version: m.version, materialId: m.materialId }))
}
