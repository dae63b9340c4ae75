import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { mergeTags } from '../tags.js'
import { keyAccess } from '../access.js'

export const tagResource: Operation<'TagResource'> = {
  name: 'TagResource',
  members: ['KeyId', 'Tags.TagKey', 'Tags.TagValue'],
  access: keyAccess('TagResource', { allowAlias: false }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const added = input.Tags ?? []
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      checkKeyState('not-pending-deletion', key.state, kms.arnOf(key.keyId))
      return { writes: [{ kind: 'putKey', key: { ...key, tags: mergeTags(key.tags, added) } }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
