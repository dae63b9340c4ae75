import { requiredStr, str, type Operation } from '../operation.js'
import { checkPolicyDocument, checkPolicyName } from '../policy.js'
import { resolveKey } from '../resolve-key.js'

export const putKeyPolicy: Operation = {
  name: 'PutKeyPolicy',
  async handle(kms, input) {
    const keyIdInput = requiredStr(input, 'KeyId')
    const policy = requiredStr(input, 'Policy')
    checkPolicyName(str(input, 'PolicyName'))
    checkPolicyDocument(policy)
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      return { writes: [{ kind: 'putKey', key: { ...key, policy } }], result: undefined }
    })
    return {}
  },
}
