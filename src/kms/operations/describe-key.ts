import { keyMetadata } from '../key-metadata.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const describeKey: Operation<'DescribeKey'> = {
  name: 'DescribeKey',
  members: ['KeyId', 'GrantTokens'],
  access: keyAccess('DescribeKey', { allowAlias: true }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: true })
    return Promise.resolve({ KeyMetadata: keyMetadata(kms, key) })
  },
}
