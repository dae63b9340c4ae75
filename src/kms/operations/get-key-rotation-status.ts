import { epochSeconds, type Operation, type Output } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'
import { requireRotatable } from '../materials.js'

export const getKeyRotationStatus: Operation<'GetKeyRotationStatus'> = {
  name: 'GetKeyRotationStatus',
  members: ['KeyId'],
  access: keyAccess('GetKeyRotationStatus', { allowAlias: false }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    requireRotatable(key, kms.arnOf(key.keyId))
    // A key pending deletion reports rotation off; cancelling the deletion restores it (reference §4.5).
    const pendingDeletion = key.state === 'PendingDeletion' || key.state === 'PendingReplicaDeletion'
    const enabled = key.rotation.enabled && !pendingDeletion
    const out: Output = { KeyId: kms.arnOf(key.keyId), KeyRotationEnabled: enabled }
    if (enabled) {
      out.RotationPeriodInDays = key.rotation.periodInDays
      if (key.rotation.nextRotationAt !== undefined) out.NextRotationDate = epochSeconds(key.rotation.nextRotationAt)
    }
    if (key.rotation.onDemandStartedAt !== undefined) out.OnDemandRotationStartDate = epochSeconds(key.rotation.onDemandStartedAt)
    return Promise.resolve(out)
  },
}
