import { checkKeyState } from '../key-state.js'
import { DAY_MS, requireNotReplica, requireRotatable, sharedChangeWrites } from '../materials.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

const DEFAULT_PERIOD_DAYS = 365

export const enableKeyRotation: Operation<'EnableKeyRotation'> = {
  name: 'EnableKeyRotation',
  members: ['KeyId', 'RotationPeriodInDays'],
  access: keyAccess('EnableKeyRotation', { allowAlias: false, conditionMembers: { 'kms:RotationPeriodInDays': 'RotationPeriodInDays' } }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const periodInDays = input.RotationPeriodInDays ?? DEFAULT_PERIOD_DAYS
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      requireRotatable(key, kms.arnOf(key.keyId))
      checkKeyState('rotation-setting', key.state, kms.arnOf(key.keyId))
      requireNotReplica(key, kms.arnOf(key.keyId))
      const rotation = { ...key.rotation, enabled: true, periodInDays, nextRotationAt: kms.clock.now() + periodInDays * DAY_MS }
      return { writes: sharedChangeWrites(kms, { ...key, rotation }), result: undefined }
    }, context.auditIntent)
    return {}
  },
}
