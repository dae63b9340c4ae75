import { aliasArn } from '../../wire/arn.js'
import { KmsError } from '../../wire/errors.js'
import { checkNewAliasName } from '../alias-name.js'
import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { aliasCheck, keyAccess } from '../access.js'

/** AWS's quota of aliases per key (reference §9.2). */
const MAX_ALIASES_PER_KEY = 50

export const createAlias: Operation<'CreateAlias'> = {
  name: 'CreateAlias',
  members: ['AliasName', 'TargetKeyId'],
  // Two permissions (AWS): kms:CreateAlias on the alias, from identity policies, and on the key.
  access(kms, input, context) {
    const onKey = keyAccess('CreateAlias', { member: 'TargetKeyId', allowAlias: false })(kms, input, context)
    return [aliasCheck(kms, 'kms:CreateAlias', input.AliasName), ...onKey]
  },
  async handle(kms, input, context) {
    const aliasName = input.AliasName
    const target = input.TargetKeyId
    checkNewAliasName(aliasName)
    await kms.mutate(() => {
      if (kms.aliases.has(aliasName)) {
        throw new KmsError(
          'AlreadyExistsException',
          `An alias with the name ${aliasArn(kms.partition, kms.region, kms.accountId, aliasName)} already exists`,
        )
      }
      const key = resolveKey(kms, target, { allowAlias: false })
      checkKeyState('not-pending-deletion', key.state, kms.arnOf(key.keyId))
      const count = [...kms.aliases.values()].filter((a) => a.keyId === key.keyId).length
      if (count >= MAX_ALIASES_PER_KEY) {
        throw new KmsError('LimitExceededException', `The key ${kms.arnOf(key.keyId)} already has ${MAX_ALIASES_PER_KEY} aliases.`)
      }
      const now = kms.clock.now()
      return { writes: [{ kind: 'putAlias', alias: { aliasName, keyId: key.keyId, createdAt: now, updatedAt: now } }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
