import { checkKeyState } from '../key-state.js'
import { requiredStr, type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const cancelKeyDeletion: Operation = {
  name: 'CancelKeyDeletion',
  access: keyAccess('CancelKeyDeletion', { allowAlias: false }),
  async handle(kms, input) {
    const keyIdInput = requiredStr(input, 'KeyId')
    const keyId = await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      checkKeyState('cancel-deletion', key.state, kms.arnOf(key.keyId))
      const { deletionAt: _deletionAt, pendingWindowInDays: _window, ...rest } = key
      // AWS leaves a key whose deletion was cancelled Disabled.
      return { writes: [{ kind: 'putKey', key: { ...rest, state: 'Disabled' } }], result: key.keyId }
    })
    return { KeyId: kms.arnOf(keyId) }
  },
}
