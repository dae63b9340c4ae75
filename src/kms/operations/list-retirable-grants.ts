import { KmsError } from '../../wire/errors.js'
import { grantListEntry } from '../grants.js'
import { type Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'

/** Identity-policy only: kms:ListRetirableGrants on `*` (the default access rule). */
export const listRetirableGrants: Operation<'ListRetirableGrants'> = {
  name: 'ListRetirableGrants',
  members: ['Limit', 'Marker', 'RetiringPrincipal', 'RetiringServicePrincipal'],
  handle(kms, input) {
    const retiringPrincipal = input.RetiringPrincipal
    const retiringServicePrincipal = input.RetiringServicePrincipal
    // AWS: "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not
    // both." The model no longer requires RetiringPrincipal, so the rule is checked here; AWS
    // documents no error text for it (Trent's, docs/errors.md). The service-principal filter
    // is "only usable by callers in a service principal"; Trent applies it for any caller
    // allowed kms:ListRetirableGrants, as ListGrants does.
    if (retiringPrincipal === undefined && retiringServicePrincipal === undefined) {
      throw new KmsError('ValidationException', 'You must specify either RetiringPrincipal or RetiringServicePrincipal.')
    }
    if (retiringPrincipal !== undefined && retiringServicePrincipal !== undefined) {
      throw new KmsError('ValidationException', 'You cannot specify both RetiringPrincipal and RetiringServicePrincipal.')
    }
    const grants = [...kms.grants.values()].filter((g) =>
      retiringPrincipal !== undefined ? g.retiringPrincipal === retiringPrincipal : g.retiringServicePrincipal === retiringServicePrincipal,
    )
    const page = paginate(grants, input.Limit, input.Marker, 'grants')
    return Promise.resolve(pageOutput('Grants', { ...page, items: page.items.map((g) => grantListEntry(kms, g)) }))
  },
}
