import { grantListEntry } from '../grants.js'
import { num, requiredStr, str, type Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'

/** Identity-policy only: kms:ListRetirableGrants on `*` (the default access rule). */
export const listRetirableGrants: Operation = {
  name: 'ListRetirableGrants',
  handle(kms, input) {
    const retiringPrincipal = requiredStr(input, 'RetiringPrincipal')
    const grants = [...kms.grants.values()].filter((g) => g.retiringPrincipal === retiringPrincipal)
    const page = paginate(grants, num(input, 'Limit'), str(input, 'Marker'), 'grants')
    return Promise.resolve(pageOutput('Grants', { ...page, items: page.items.map((g) => grantListEntry(kms, g)) }))
  },
}
