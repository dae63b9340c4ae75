import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const updateKeyDescription: Operation<'UpdateKeyDescription'> = {
  name: 'UpdateKeyDescription',
  members: ['KeyId', 'Description'],
  access: keyAccess('UpdateKeyDescription', { allowAlias: false }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const description = input.Description
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      checkKeyState('not-pending-deletion', key.state, kms.arnOf(key.keyId))
      return { writes: [{ kind: 'putKey', key: { ...key, description } }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
