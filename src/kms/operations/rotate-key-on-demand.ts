import { KmsError } from '../../wire/errors.js'
import type { KeyRecord, Write } from '../../storage/records.js'
import { failpoint } from '../failpoints.js'
import {
  heldHere,
  importedChangeWrites,
  importedVersions,
  pendingVersion,
  replicasLacking,
  stateForMaterials,
  withVersions,
} from '../imported-material.js'
import { checkKeyState } from '../key-state.js'
import type { Kms } from '../kms.js'
import { requireNotReplica, requireRotatable, rotationWrites } from '../materials.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

/** AWS's documented limit of on-demand rotations per key (reference §9.2). */
export const MAX_ON_DEMAND_ROTATIONS = 25

/**
 * Rotation of imported material: the new material imported for the key (PENDING_ROTATION)
 * becomes current. RotateKeyOnDemand: "you must have already imported new key material and
 * that key material's state should be PENDING_ROTATION"; for a multi-Region key, the same
 * material must first be imported into every replica (docs/spec/replication.md#imported-rotation).
 */
function importedRotationWrites(kms: Kms, key: KeyRecord, arn: string): Write[] {
  const pending = pendingVersion(key)
  // Material still missing from a replica is PENDING_MULTI_REGION_IMPORT_AND_ROTATION, not
  // PENDING_ROTATION: there is then no material to rotate to, and AWS's refusal says so.
  if (pending === undefined || replicasLacking(key, pending.version).length > 0 || !heldHere(kms, key, pending.version)) {
    throw new KmsError('KMSInvalidStateException', `No available key material pending rotation for the key: ${arn}.`)
  }
  const now = kms.clock.now()
  const versions = importedVersions(key).map((v) =>
    v.version === pending.version ? { ...v, rotationType: 'ON_DEMAND' as const, rotatedAt: now } : v,
  )
  const rotation = { ...key.rotation, onDemandCount: key.rotation.onDemandCount + 1 }
  delete rotation.onDemandStartedAt
  const held = (v: number): boolean => heldHere(kms, key, v)
  const rotated = withVersions({ ...key, currentMaterialVersion: pending.version, rotation }, versions, held)
  // Every replica holds the material already: the rotation is complete at once, and the
  // replicas learn of it through the shared state.
  return importedChangeWrites(kms, { ...rotated, state: stateForMaterials(rotated, held) }, true)
}

export const rotateKeyOnDemand: Operation<'RotateKeyOnDemand'> = {
  name: 'RotateKeyOnDemand',
  members: ['KeyId'],
  access: keyAccess('RotateKeyOnDemand', { allowAlias: false }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    // The rotation completes before the call returns: an acknowledged rotation is
    // durable, and ListKeyRotations shows it at once.
    const keyId = await kms.mutate(async () => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      requireRotatable(key, arn, true)
      checkKeyState('cryptographic', key.state, arn)
      requireNotReplica(key, arn)
      if (key.rotation.onDemandStartedAt !== undefined) {
        throw new KmsError('ConflictException', `An on-demand rotation is already in progress for ${arn}.`)
      }
      if (key.rotation.onDemandCount >= MAX_ON_DEMAND_ROTATIONS) {
        throw new KmsError(
          'LimitExceededException',
          `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${arn}`,
        )
      }
      const writes = key.origin === 'EXTERNAL' ? importedRotationWrites(kms, key, arn) : await rotationWrites(kms, key, 'ON_DEMAND')
      return { writes, result: key.keyId }
    }, context.auditIntent)
    failpoint('rotation:after-commit')
    // The bare key id, not the ARN: the API reference's example answers
    // {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"} (RotateKeyOnDemand, Examples).
    return { KeyId: keyId }
  },
}
