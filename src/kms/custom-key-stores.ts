/**
 * Custom key stores (AWS CloudHSM key stores and external key stores): Trent has none and
 * can make none, since it runs no CloudHSM cluster and speaks to no external key store
 * proxy; its keys live in each region's own HSM boundary. The custom key store operations
 * answer as AWS does for an account without custom key stores (docs/errors.md,
 * "Custom key stores").
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'

/**
 * AWS's answer for a custom key store id or name it cannot find. It sends no message: the
 * KMS Developer Guide ("Deleting an external key store") shows the CLI printing nothing after
 * "An error occurred (CustomKeyStoreNotFoundException) when calling the
 * DescribeCustomKeyStore operation:" (sic).
 */
export function customKeyStoreNotFound(): KmsError {
  return new KmsError('CustomKeyStoreNotFoundException')
}
