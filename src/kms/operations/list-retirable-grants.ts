import { grantListEntry } from '../grants.js'
import { principalMember, type Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'

/** Identity-policy only: kms:ListRetirableGrants on `*` (the default access rule). */
export const listRetirableGrants: Operation<'ListRetirableGrants'> = {
  name: 'ListRetirableGrants',
  members: ['Limit', 'Marker', 'RetiringPrincipal'],
  refuses: {
    'RetiringServicePrincipal': 'Grants to AWS service principals are not implemented yet (issue 12).',
  },
  handle(kms, input) {
    const retiringPrincipal = principalMember(input, 'RetiringPrincipal')
    const grants = [...kms.grants.values()].filter((g) => g.retiringPrincipal === retiringPrincipal)
    const page = paginate(grants, input.Limit, input.Marker, 'grants')
    return Promise.resolve(pageOutput('Grants', { ...page, items: page.items.map((g) => grantListEntry(kms, g)) }))
  },
}
