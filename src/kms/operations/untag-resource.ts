import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const untagResource: Operation<'UntagResource'> = {
  name: 'UntagResource',
  members: ['KeyId', 'TagKeys'],
  access: keyAccess('UntagResource', { allowAlias: false }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const removed = new Set(input.TagKeys ?? [])
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      checkKeyState('not-pending-deletion', key.state, kms.arnOf(key.keyId))
      const tags = key.tags.filter((t) => !removed.has(t.TagKey))
      return { writes: [{ kind: 'putKey', key: { ...key, tags } }], result: undefined }
    }, context.auditIntent)
    return {}
  },
}
