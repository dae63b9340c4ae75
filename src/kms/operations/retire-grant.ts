import { KmsError } from '../../wire/errors.js'
import type { GrantRecord } from '../../storage/records.js'
import { enforce, keyCheck } from '../access.js'
import { rejectDryRun } from '../crypto-keys.js'
import { checkGrantId, grantOfToken } from '../grants.js'
import type { Kms } from '../kms.js'
import type { RetireGrantRequest } from '../../wire/kms-model-types.js'
import { type Operation, type RequestContext } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

/** The grant a RetireGrant names: by its token, or by key and grant id. */
function grantToRetire(kms: Kms, input: RetireGrantRequest): GrantRecord {
  const token = input.GrantToken
  const keyIdInput = input.KeyId
  const grantId = input.GrantId
  if (token !== undefined) {
    const grant = grantOfToken(kms, token)
    if (grant === undefined) throw new KmsError('NotFoundException', 'Grant not found for the grant token.')
    return grant
  }
  if (keyIdInput === undefined || grantId === undefined) {
    throw new KmsError('ValidationException', 'Either GrantToken, or both KeyId and GrantId, must be specified.')
  }
  checkGrantId(grantId)
  const key = resolveKey(kms, keyIdInput, { allowAlias: false })
  const grant = kms.grants.get(grantId)
  if (grant === undefined || grant.keyId !== key.keyId) throw new KmsError('NotFoundException', `Grant ID ${grantId} not found`)
  return grant
}

/**
 * Who may retire a grant (AWS): its retiring principal; its grantee when the grant allows
 * RetireGrant; or anyone the key policy and IAM allow kms:RetireGrant on the key.
 */
function checkMayRetire(kms: Kms, grant: GrantRecord, input: RetireGrantRequest, context: RequestContext): void {
  const caller = context.caller.principalArn
  if (grant.retiringPrincipal === caller) return
  if (grant.granteePrincipal === caller && grant.operations.includes('RetireGrant')) return
  enforce(kms, context.caller, [keyCheck('kms:RetireGrant', kms.keyById(grant.keyId), input, {})])
}

export const retireGrant: Operation<'RetireGrant'> = {
  name: 'RetireGrant',
  members: ['GrantToken', 'KeyId', 'GrantId', 'DryRun'],
  // Checked in the handler: who may retire depends on the grant itself.
  access: () => [],
  async handle(kms, input, context) {
    await kms.mutate(() => {
      const grant = grantToRetire(kms, input)
      checkMayRetire(kms, grant, input, context)
      rejectDryRun(input)
      return { writes: [{ kind: 'deleteGrant', grantId: grant.grantId }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
