import { KmsError } from '../../wire/errors.js'
import type { WrappingAlgorithm, WrappingKeySpec } from '../../hsm/hsm.js'
import { keyAccess } from '../access.js'
import { requireExternalOrigin } from '../imported-material.js'
import { checkKeyState } from '../key-state.js'
import { base64, epochSeconds, type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

/** An import token and its public key are good for 24 hours (reference §4.8). */
const IMPORT_PARAMETERS_TTL_MS = 24 * 60 * 60 * 1000
const WRAPPING_ALGORITHMS: readonly string[] = [
  'RSAES_OAEP_SHA_1',
  'RSAES_OAEP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_1',
  'RSA_AES_KEY_WRAP_SHA_256',
]
const WRAPPING_KEY_SPECS: readonly string[] = ['RSA_2048', 'RSA_3072', 'RSA_4096']

export const getParametersForImport: Operation<'GetParametersForImport'> = {
  name: 'GetParametersForImport',
  members: ['KeyId', 'WrappingAlgorithm', 'WrappingKeySpec'],
  access: keyAccess('GetParametersForImport', {
    allowAlias: false,
    conditionMembers: { 'kms:WrappingAlgorithm': 'WrappingAlgorithm', 'kms:WrappingKeySpec': 'WrappingKeySpec' },
  }),
  async handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    const arn = kms.arnOf(key.keyId)
    requireExternalOrigin(key, arn)
    checkKeyState('import-parameters', key.state, arn)
    const wrappingAlgorithm = input.WrappingAlgorithm
    const wrappingKeySpec = input.WrappingKeySpec
    if (!WRAPPING_ALGORITHMS.includes(wrappingAlgorithm)) {
      // RSAES_PKCS1_V1_5 was withdrawn by AWS in 2023; SM2PKE is for China Regions.
      throw new KmsError('UnsupportedOperationException', `WrappingAlgorithm ${wrappingAlgorithm} is not supported in this region.`)
    }
    if (!WRAPPING_KEY_SPECS.includes(wrappingKeySpec)) {
      throw new KmsError('UnsupportedOperationException', `WrappingKeySpec ${wrappingKeySpec} is not supported in this region.`)
    }
    const expiresAt = kms.clock.now() + IMPORT_PARAMETERS_TTL_MS
    const parameters = await kms.hsm.keyOperation('createImportParameters', {
      keyId: key.keyId,
      keySpec: key.keySpec,
      wrappingKeySpec: wrappingKeySpec as WrappingKeySpec,
      wrappingAlgorithm: wrappingAlgorithm as WrappingAlgorithm,
      expiresAt,
    })
    return {
      KeyId: arn,
      ImportToken: base64(parameters.importToken),
      PublicKey: base64(parameters.publicKey),
      ParametersValidTo: epochSeconds(expiresAt),
    }
  },
}
