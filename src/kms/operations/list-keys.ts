import { type Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'

export const listKeys: Operation<'ListKeys'> = {
  name: 'ListKeys',
  members: ['Limit', 'Marker'],
  handle(kms, input) {
    const keys = [...kms.keys.values()].sort((a, b) => a.sequence - b.sequence)
    const page = paginate(keys, input.Limit, input.Marker, 'keys')
    return Promise.resolve(pageOutput('Keys', { ...page, items: page.items.map((k) => ({ KeyArn: kms.arnOf(k.keyId), KeyId: k.keyId })) }))
  },
}
