import { KmsError } from '../../wire/errors.js'
import { failpoint } from '../failpoints.js'
import { checkKeyState } from '../key-state.js'
import { requireNotReplica, requireRotatable, rotationWrites } from '../materials.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

/** AWS's documented limit of on-demand rotations per key (reference §9.2). */
export const MAX_ON_DEMAND_ROTATIONS = 25

export const rotateKeyOnDemand: Operation<'RotateKeyOnDemand'> = {
  name: 'RotateKeyOnDemand',
  members: ['KeyId'],
  access: keyAccess('RotateKeyOnDemand', { allowAlias: false }),
  async handle(kms, input) {
    const keyIdInput = input.KeyId
    // The rotation completes before the call returns: an acknowledged rotation is
    // durable, and ListKeyRotations shows it at once.
    const keyId = await kms.mutate(async () => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      requireRotatable(key, arn)
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
      return { writes: await rotationWrites(kms, key, 'ON_DEMAND'), result: key.keyId }
    })
    failpoint('rotation:after-commit')
    return { KeyId: kms.arnOf(keyId) }
  },
}
