import { keyAccess } from '../access.js'
import { checkGrantId, grantListEntry } from '../grants.js'
import { type Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'
import { resolveKey } from '../resolve-key.js'

export const listGrants: Operation<'ListGrants'> = {
  name: 'ListGrants',
  members: ['Limit', 'Marker', 'KeyId', 'GrantId', 'GranteePrincipal'],
  refuses: {
    'GranteeServicePrincipal': 'Grants to AWS service principals are not implemented yet (issue 12).',
  },
  access: keyAccess('ListGrants', { allowAlias: false, conditionMembers: { 'kms:GranteePrincipal': 'GranteePrincipal' } }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    const grantId = input.GrantId
    if (grantId !== undefined) checkGrantId(grantId)
    const grantee = input.GranteePrincipal
    const grants = kms
      .grantsOf(key.keyId)
      .filter((g) => (grantId === undefined || g.grantId === grantId) && (grantee === undefined || g.granteePrincipal === grantee))
    const page = paginate(grants, input.Limit, input.Marker, 'grants')
    return Promise.resolve(pageOutput('Grants', { ...page, items: page.items.map((g) => grantListEntry(kms, g)) }))
  },
}
