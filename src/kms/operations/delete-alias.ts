import { aliasArn } from '../../wire/arn.js'
import { aliasNotFound } from '../../wire/errors.js'
import { checkAliasName } from '../alias-name.js'
import { type Operation } from '../operation.js'
import { aliasCheck, keyCheck } from '../access.js'

export const deleteAlias: Operation<'DeleteAlias'> = {
  name: 'DeleteAlias',
  members: ['AliasName'],
  access(kms, input) {
    const alias = kms.aliases.get(input.AliasName)
    const key = alias === undefined ? undefined : kms.keys.get(alias.keyId)
    // An alias that does not exist fails in the handler, with AWS's NotFoundException.
    const onAlias = aliasCheck(kms, 'kms:DeleteAlias', input.AliasName)
    return key === undefined ? [onAlias] : [onAlias, keyCheck('kms:DeleteAlias', key, input, {})]
  },
  async handle(kms, input, context) {
    const aliasName = input.AliasName
    checkAliasName(aliasName)
    await kms.mutate(() => {
      if (!kms.aliases.has(aliasName)) throw aliasNotFound(aliasArn(kms.partition, kms.region, kms.accountId, aliasName))
      return { writes: [{ kind: 'deleteAlias', aliasName }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
