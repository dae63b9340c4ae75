import { type Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const listResourceTags: Operation<'ListResourceTags'> = {
  name: 'ListResourceTags',
  members: ['KeyId', 'Limit', 'Marker'],
  access: keyAccess('ListResourceTags', { allowAlias: false }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    const tags = [...key.tags].sort((a, b) => (a.TagKey < b.TagKey ? -1 : a.TagKey > b.TagKey ? 1 : 0))
    return Promise.resolve(pageOutput('Tags', paginate(tags, input.Limit, input.Marker, 'tags')))
  },
}
