import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const listKeyPolicies: Operation<'ListKeyPolicies'> = {
  name: 'ListKeyPolicies',
  members: ['KeyId', 'Limit', 'Marker'],
  access: keyAccess('ListKeyPolicies', { allowAlias: false }),
  handle(kms, input) {
    resolveKey(kms, input.KeyId, { allowAlias: false })
    // Every KMS key has exactly one policy, named "default".
    return Promise.resolve({ PolicyNames: ['default'], Truncated: false })
  },
}
