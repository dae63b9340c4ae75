import { aliasArn } from '../../wire/arn.js'
import { aliasNotFound } from '../../wire/errors.js'
import { checkAliasName } from '../alias-name.js'
import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { aliasCheck, keyCheck } from '../access.js'

export const updateAlias: Operation<'UpdateAlias'> = {
  name: 'UpdateAlias',
  members: ['AliasName', 'TargetKeyId'],
  access(kms, input) {
    // Both keys: the one the alias leaves and the one it comes to name.
    const alias = kms.aliases.get(input.AliasName)
    const current = alias === undefined ? undefined : kms.keys.get(alias.keyId)
    const target = resolveKey(kms, input.TargetKeyId, { allowAlias: false })
    return [
      aliasCheck(kms, 'kms:UpdateAlias', input.AliasName),
      ...(current !== undefined ? [keyCheck('kms:UpdateAlias', current, input, {})] : []),
      keyCheck('kms:UpdateAlias', target, input, {}),
    ]
  },
  async handle(kms, input, context) {
    const aliasName = input.AliasName
    const target = input.TargetKeyId
    checkAliasName(aliasName)
    await kms.mutate(() => {
      const alias = kms.aliases.get(aliasName)
      if (alias === undefined) throw aliasNotFound(aliasArn(kms.partition, kms.region, kms.accountId, aliasName))
      const key = resolveKey(kms, target, { allowAlias: false })
      // [10]: only the destination key's pending deletion stops the update.
      checkKeyState('not-pending-deletion', key.state, kms.arnOf(key.keyId))
      return { writes: [{ kind: 'putAlias', alias: { ...alias, keyId: key.keyId, updatedAt: kms.clock.now() } }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
