import { checkKeyState } from '../key-state.js'
import { requiredStr, type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

export const disableKeyRotation: Operation = {
  name: 'DisableKeyRotation',
  async handle(kms, input) {
    const keyIdInput = requiredStr(input, 'KeyId')
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      checkKeyState('rotation-setting', key.state, kms.arnOf(key.keyId))
      const { nextRotationAt: _next, ...rest } = key.rotation
      return { writes: [{ kind: 'putKey', key: { ...key, rotation: { ...rest, enabled: false } } }], result: undefined }
    })
    return {}
  },
}
