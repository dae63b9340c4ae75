import { customKeyStoreNotFound } from '../custom-key-stores.js'
import type { Operation } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'

/**
 * kms:DescribeCustomKeyStores on `*` (IAM only). No custom key store exists here, so the
 * listing is empty (AWS's answer for such an account: `{"CustomKeyStores": []}`, KMS
 * Developer Guide) and a store named by id or name is not found, as AWS answers a store
 * that no longer exists.
 */
export const describeCustomKeyStores: Operation<'DescribeCustomKeyStores'> = {
  name: 'DescribeCustomKeyStores',
  members: ['CustomKeyStoreId', 'CustomKeyStoreName', 'Limit', 'Marker'],
  handle(_kms, input) {
    if (input.CustomKeyStoreId !== undefined || input.CustomKeyStoreName !== undefined) {
      return Promise.reject(customKeyStoreNotFound())
    }
    // Paged like every listing: a Marker no listing of ours issued is refused.
    const page = paginate([], input.Limit, input.Marker, 'customKeyStores')
    return Promise.resolve(pageOutput('CustomKeyStores', page))
  },
}
