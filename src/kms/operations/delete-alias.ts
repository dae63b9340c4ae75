import { aliasArn } from '../../wire/arn.js'
import { aliasNotFound } from '../../wire/errors.js'
import { checkAliasName } from '../alias-name.js'
import { requiredStr, type Operation } from '../operation.js'

export const deleteAlias: Operation = {
  name: 'DeleteAlias',
  async handle(kms, input) {
    const aliasName = requiredStr(input, 'AliasName')
    checkAliasName(aliasName)
    await kms.mutate(() => {
      if (!kms.aliases.has(aliasName)) throw aliasNotFound(aliasArn(kms.partition, kms.region, kms.accountId, aliasName))
      return { writes: [{ kind: 'deleteAlias', aliasName }], result: undefined }
    })
    return {}
  },
}
