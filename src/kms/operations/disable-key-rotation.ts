import { checkKeyState } from '../key-state.js'
import { requireNotReplica, requireRotatable, sharedChangeWrites } from '../materials.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const disableKeyRotation: Operation<'DisableKeyRotation'> = {
  name: 'DisableKeyRotation',
  members: ['KeyId'],
  access: keyAccess('DisableKeyRotation', { allowAlias: false }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      requireRotatable(key, kms.arnOf(key.keyId))
      checkKeyState('rotation-setting', key.state, kms.arnOf(key.keyId))
      requireNotReplica(key, kms.arnOf(key.keyId))
      const { nextRotationAt: _next, ...rest } = key.rotation
      return { writes: sharedChangeWrites(kms, { ...key, rotation: { ...rest, enabled: false } }), result: undefined }
    }, context.auditIntent)
    return {}
  },
}
