import { KmsError } from '../../wire/errors.js'
import type { Operation } from '../operation.js'

/**
 * kms:CreateCustomKeyStore on `*` (IAM only), then a refusal: Trent cannot make a custom key
 * store ([DESIGN], docs/errors.md "Custom key stores"). For a CloudHSM key store (the
 * default type) it answers an error from the operation's own list that is true here: the
 * CloudHSM cluster cannot be found, since no cluster exists in this partition. For an
 * external key store no error of the list is true (each reports a proxy KMS reached and
 * found wanting, or could not reach); Trent answers UnsupportedOperationException, KMS's
 * error for a feature not available, which every KMS client knows.
 */
export const createCustomKeyStore: Operation<'CreateCustomKeyStore'> = {
  name: 'CreateCustomKeyStore',
  // Every member is accepted: whatever they say, no store is made (only the type decides the error).
  members: [
    'CustomKeyStoreName',
    'CloudHsmClusterId',
    'TrustAnchorCertificate',
    'KeyStorePassword',
    'CustomKeyStoreType',
    'XksProxyUriEndpoint',
    'XksProxyUriPath',
    'XksProxyVpcEndpointServiceName',
    'XksProxyVpcEndpointServiceOwner',
    'XksProxyAuthenticationCredential.AccessKeyId',
    'XksProxyAuthenticationCredential.RawSecretAccessKey',
    'XksProxyConnectivity',
  ],
  handle(_kms, input) {
    if (input.CustomKeyStoreType === 'EXTERNAL_KEY_STORE') {
      return Promise.reject(new KmsError('UnsupportedOperationException', 'External key stores are not supported by this KMS.'))
    }
    const cluster = input.CloudHsmClusterId
    return Promise.reject(
      new KmsError(
        'CloudHsmClusterNotFoundException',
        `${cluster === undefined ? 'No CloudHSM cluster' : `CloudHSM cluster ${cluster}`} is not available: this KMS has no CloudHSM clusters and does not support CloudHSM key stores.`,
      ),
    )
  },
}
