import { KmsError } from '../../wire/errors.js'
import { keyAccess } from '../access.js'
import { rejectDryRun } from '../crypto-keys.js'
import { checkGrantId } from '../grants.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

export const revokeGrant: Operation<'RevokeGrant'> = {
  name: 'RevokeGrant',
  members: ['KeyId', 'GrantId', 'DryRun'],
  access: keyAccess('RevokeGrant', { allowAlias: false }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const grantId = input.GrantId
    checkGrantId(grantId)
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const grant = kms.grants.get(grantId)
      if (grant === undefined || grant.keyId !== key.keyId) throw new KmsError('NotFoundException', `Grant ID ${grantId} not found`)
      // DryRun: everything checked, nothing revoked.
      rejectDryRun(input)
      return { writes: [{ kind: 'deleteGrant', grantId }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
