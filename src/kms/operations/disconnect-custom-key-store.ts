import { customKeyStoreNotFound } from '../custom-key-stores.js'
import type { Operation } from '../operation.js'

/**
 * kms:DisconnectCustomKeyStore on `*` (IAM only; the default access rule), then
 * CustomKeyStoreNotFoundException whatever the CustomKeyStoreId: no custom key store exists
 * here (src/kms/custom-key-stores.ts).
 */
export const disconnectCustomKeyStore: Operation<'DisconnectCustomKeyStore'> = {
  name: 'DisconnectCustomKeyStore',
  members: ['CustomKeyStoreId'],
  handle() {
    return Promise.reject(customKeyStoreNotFound())
  },
}
