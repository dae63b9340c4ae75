import { aliasArn } from '../../wire/arn.js'
import { epochSeconds, type Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'
import { resolveKey } from '../resolve-key.js'

export const listAliases: Operation<'ListAliases'> = {
  name: 'ListAliases',
  members: ['KeyId', 'Limit', 'Marker'],
  handle(kms, input) {
    const keyIdInput = input.KeyId
    const keyId = keyIdInput === undefined ? undefined : resolveKey(kms, keyIdInput, { allowAlias: false }).keyId
    const aliases = [...kms.aliases.values()]
      .filter((a) => keyId === undefined || a.keyId === keyId)
      .sort((a, b) => (a.aliasName < b.aliasName ? -1 : a.aliasName > b.aliasName ? 1 : 0))
    const page = paginate(aliases, input.Limit, input.Marker, 'aliases')
    const items = page.items.map((a) => ({
      AliasName: a.aliasName,
      AliasArn: aliasArn(kms.partition, kms.region, kms.accountId, a.aliasName),
      TargetKeyId: a.keyId,
      CreationDate: epochSeconds(a.createdAt),
      LastUpdatedDate: epochSeconds(a.updatedAt),
    }))
    return Promise.resolve(pageOutput('Aliases', { ...page, items }))
  },
}
