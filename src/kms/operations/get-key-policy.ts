import { type Operation } from '../operation.js'
import { checkPolicyName } from '../policy.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const getKeyPolicy: Operation<'GetKeyPolicy'> = {
  name: 'GetKeyPolicy',
  members: ['KeyId', 'PolicyName'],
  access: keyAccess('GetKeyPolicy', { allowAlias: false }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    checkPolicyName(input.PolicyName)
    return Promise.resolve({ Policy: key.policy, PolicyName: 'default' })
  },
}
