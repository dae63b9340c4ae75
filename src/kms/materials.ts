/**
 * Creating key material versions: the first one of a new key, and each rotation.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { KmsError } from '../wire/errors.js'
import type { KeyRecord, MaterialRecord, Write } from '../storage/records.js'
import type { KeySpec } from '../wire/key-specs.js'
import type { Kms } from './kms.js'
import { broadcastSharedState } from './multi-region/outbound.js'

const DAY_MS = 86_400_000

/** Asks the HSM for fresh material and returns its record (not yet committed). */
export async function createMaterial(
  kms: Kms,
  keyId: string,
  version: number,
  keySpec: KeySpec,
  rotationType?: 'AUTOMATIC' | 'ON_DEMAND',
): Promise<MaterialRecord> {
  const token = await kms.hsm.createKeyMaterial(keyId, version, keySpec)
  return {
    keyId,
    version,
    // Not derived from the material: a random id, so it reveals nothing about it, and
    // shared by every region of a multi-Region key (reference §8.8 item 2).
    materialId: randomBytes(32).toString('hex'),
    createdAt: kms.clock.now(),
    ...(rotationType !== undefined ? { rotationType } : {}),
    token,
  }
}

/** The writes that rotate `key` to a new material version, made current at once. */
export async function rotationWrites(kms: Kms, key: KeyRecord, rotationType: 'AUTOMATIC' | 'ON_DEMAND'): Promise<Write[]> {
  const versions = kms.materials.get(key.keyId) ?? []
  const nextVersion = Math.max(0, ...versions.map((m) => m.version)) + 1
  const material = await createMaterial(kms, key.keyId, nextVersion, key.keySpec, rotationType)
  const now = kms.clock.now()
  const rotation = { ...key.rotation }
  if (rotationType === 'ON_DEMAND') rotation.onDemandCount += 1
  // On-demand rotation does not move the automatic schedule (reference §4.7).
  if (rotationType === 'AUTOMATIC' && rotation.enabled) rotation.nextRotationAt = now + rotation.periodInDays * DAY_MS
  delete rotation.onDemandStartedAt
  const mrk = key.mrk
  if (mrk?.role === 'PRIMARY' && mrk.replicaRegions.length > 0) {
    //= docs/spec/replication.md#rotation
    //# Rotation ... creates version n+1 durably but does not make it current.
    if (rotationType === 'ON_DEMAND') rotation.onDemandStartedAt = now
    const pending: KeyRecord = { ...key, rotation, mrk: { ...mrk, syncVersion: mrk.syncVersion + 1 } }
    const broadcast = broadcastSharedState(kms, pending, [...versions, material])
    return [{ kind: 'putMaterial', material }, { kind: 'putKey', key: broadcast.key }, ...broadcast.writes]
  }
  return [
    { kind: 'putMaterial', material },
    { kind: 'putKey', key: { ...key, currentMaterialVersion: nextVersion, rotation } },
  ]
}

/**
 * Rotation is for symmetric encryption keys (reference §4.7, key-state footnote [6]):
 * keys of other specs refuse it. Automatic rotation and its setting are for KMS-made
 * material only; `onDemand` (RotateKeyOnDemand, ListKeyRotations) admits symmetric keys
 * of imported material too, which rotate to new material imported for them
 * (docs/imported-material.md).
 */
export function requireRotatable(key: KeyRecord, arn: string, onDemand = false): void {
  if (key.origin === 'EXTERNAL' && !(onDemand && key.keySpec === 'SYMMETRIC_DEFAULT')) {
    throw new KmsError('UnsupportedOperationException', `${arn} origin is EXTERNAL which is not valid for this operation.`)
  }
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw new KmsError('UnsupportedOperationException', `${arn} key spec is ${key.keySpec} which is not valid for this operation.`)
  }
}

/**
 * Shared properties are set on the primary only; a replica refuses (reference §4.7). A
 * primary handing its role over (UpdatePrimaryRegion under way) refuses too: the change
 * would race the new primary's (docs/spec/replication.md#update-primary).
 */
export function requireNotReplica(key: KeyRecord, arn: string): void {
  if (key.mrk?.role === 'REPLICA') {
    throw new KmsError('UnsupportedOperationException', `${arn} is not a multi-region primary key.`)
  }
  if (key.mrk?.handoffTo !== undefined) throw new KmsError('KMSInvalidStateException', `${arn} is updating.`)
}

/** After a shared property changed on a primary: bump the sync version and tell the replicas. */
export function sharedChangeWrites(kms: Kms, key: KeyRecord): Write[] {
  const mrk = key.mrk
  if (mrk?.role !== 'PRIMARY') return [{ kind: 'putKey', key }]
  const broadcast = broadcastSharedState(kms, { ...key, mrk: { ...mrk, syncVersion: mrk.syncVersion + 1 } })
  return [{ kind: 'putKey', key: broadcast.key }, ...broadcast.writes]
}

export { DAY_MS }
