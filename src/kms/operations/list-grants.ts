import { KmsError } from '../../wire/errors.js'
import { keyAccess } from '../access.js'
import { checkGrantId, grantListEntry } from '../grants.js'
import { type Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'
import { resolveKey } from '../resolve-key.js'

export const listGrants: Operation<'ListGrants'> = {
  name: 'ListGrants',
  members: ['Limit', 'Marker', 'KeyId', 'GrantId', 'GranteePrincipal', 'GranteeServicePrincipal'],
  access: keyAccess('ListGrants', {
    allowAlias: false,
    conditionMembers: { 'kms:GranteePrincipal': 'GranteePrincipal', 'kms:GranteeServicePrincipal': 'GranteeServicePrincipal' },
  }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    const grantId = input.GrantId
    if (grantId !== undefined) checkGrantId(grantId)
    const grantee = input.GranteePrincipal
    const granteeService = input.GranteeServicePrincipal
    // AWS: "You can specify either GranteePrincipal or GranteeServicePrincipal, but not both."
    // (no error text documented: Trent's). AWS also says the GranteeServicePrincipal filter "is
    // only usable by callers in a service principal", without saying what others get; Trent
    // applies it for any caller allowed ListGrants, who sees those grants unfiltered anyway.
    if (grantee !== undefined && granteeService !== undefined) {
      throw new KmsError('ValidationException', 'You cannot specify both GranteePrincipal and GranteeServicePrincipal.')
    }
    const grants = kms
      .grantsOf(key.keyId)
      .filter(
        (g) =>
          (grantId === undefined || g.grantId === grantId) &&
          (grantee === undefined || g.granteePrincipal === grantee) &&
          (granteeService === undefined || g.granteeServicePrincipal === granteeService),
      )
    const page = paginate(grants, input.Limit, input.Marker, 'grants')
    return Promise.resolve(pageOutput('Grants', { ...page, items: page.items.map((g) => grantListEntry(kms, g)) }))
  },
}
