/**
 * EnableKey and DisableKey: the same state change in two directions.
 *
 * @module
 */
import type { KeyState } from '../storage/records.js'
import { keyAccess } from './access.js'
import { checkKeyState } from './key-state.js'
import { type Operation } from './operation.js'
import { resolveKey } from './resolve-key.js'

export function keyStateChange<Name extends 'EnableKey' | 'DisableKey'>(
  name: Name,
  target: Extract<KeyState, 'Enabled' | 'Disabled'>,
): Operation<Name> {
  return {
    name,
    members: ['KeyId'],
    access: keyAccess(name, { allowAlias: false }),
    async handle(kms, input, context) {
      const keyIdInput = input.KeyId
      await kms.mutate(() => {
        const key = resolveKey(kms, keyIdInput, { allowAlias: false })
        checkKeyState('enable-disable', key.state, kms.arnOf(key.keyId))
        if (key.state === target) return { writes: [], result: undefined }
        return { writes: [{ kind: 'putKey', key: { ...key, state: target } }], result: undefined }
      }, context.auditIntent)
      return {}
    },
  }
}
