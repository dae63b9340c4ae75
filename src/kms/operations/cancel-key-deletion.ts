import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'
import type { Kms } from '../kms.js'
import type { KeyRecord, KeyState } from '../../storage/records.js'

/**
 * AWS leaves a key whose deletion was cancelled Disabled, if it has key material. One that
 * has none goes back to waiting for it: an EXTERNAL key to PendingImport (key-state
 * table), a replica whose material has not arrived yet to Creating (the transfer
 * enables it). Disabled without material would let EnableKey make a key Enabled that no
 * cryptographic operation can use.
 */
function stateAfterCancelledDeletion(kms: Kms, key: KeyRecord): KeyState {
  if (kms.materialOf(key.keyId, key.currentMaterialVersion) !== undefined) return 'Disabled'
  return key.origin === 'EXTERNAL' ? 'PendingImport' : 'Creating'
}

export const cancelKeyDeletion: Operation<'CancelKeyDeletion'> = {
  name: 'CancelKeyDeletion',
  members: ['KeyId'],
  access: keyAccess('CancelKeyDeletion', { allowAlias: false }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const keyId = await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      checkKeyState('cancel-deletion', key.state, kms.arnOf(key.keyId))
      const { deletionAt: _deletionAt, pendingWindowInDays: _window, ...rest } = key
      return { writes: [{ kind: 'putKey', key: { ...rest, state: stateAfterCancelledDeletion(kms, key) } }], result: key.keyId }
    }, context.auditIntent)
    return { KeyId: kms.arnOf(keyId) }
  },
}
