import { customKeyStoreNotFound } from '../custom-key-stores.js'
import type { Operation } from '../operation.js'

/**
 * kms:UpdateCustomKeyStore on `*` (IAM only; the default access rule), then
 * CustomKeyStoreNotFoundException whatever the CustomKeyStoreId: no custom key store exists
 * here (src/kms/custom-key-stores.ts).
 */
export const updateCustomKeyStore: Operation<'UpdateCustomKeyStore'> = {
  name: 'UpdateCustomKeyStore',
  // Every member is accepted: whatever they say, the store they name does not exist.
  members: [
    'CustomKeyStoreId',
    'NewCustomKeyStoreName',
    'KeyStorePassword',
    'CloudHsmClusterId',
    'XksProxyUriEndpoint',
    'XksProxyUriPath',
    'XksProxyVpcEndpointServiceName',
    'XksProxyVpcEndpointServiceOwner',
    'XksProxyAuthenticationCredential.AccessKeyId',
    'XksProxyAuthenticationCredential.RawSecretAccessKey',
    'XksProxyConnectivity',
  ],
  handle() {
    return Promise.reject(customKeyStoreNotFound())
  },
}
