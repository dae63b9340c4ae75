import { type Operation } from '../operation.js'
import { checkNewKeyPolicy, checkPolicyName } from '../policy.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const putKeyPolicy: Operation<'PutKeyPolicy'> = {
  name: 'PutKeyPolicy',
  members: ['KeyId', 'PolicyName', 'Policy', 'BypassPolicyLockoutSafetyCheck'],
  access: keyAccess('PutKeyPolicy', {
    allowAlias: false,
    conditionMembers: { 'kms:BypassPolicyLockoutSafetyCheck': 'BypassPolicyLockoutSafetyCheck' },
  }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const policy = input.Policy
    checkPolicyName(input.PolicyName)
    const bypass = input.BypassPolicyLockoutSafetyCheck ?? false
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      checkNewKeyPolicy(kms, policy, context.caller, bypass, kms.arnOf(key.keyId))
      return { writes: [{ kind: 'putKey', key: { ...key, policy } }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
