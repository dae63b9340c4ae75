import { encapsulationAlgorithmsFor } from '../../wire/key-specs.js'
import { keyAccess } from '../access.js'
import { checkAlgorithm, keyForUse, rejectDryRun } from '../crypto-keys.js'
import { base64, type Operation } from '../operation.js'

/**
 * Encapsulate: a fresh shared secret and its ML-KEM ciphertext under the key's public key.
 * Anyone holding the public key (GetPublicKey) can do the same outside Trent; this is the
 * operation for callers that would rather not.
 */
export const encapsulate: Operation<'Encapsulate'> = {
  name: 'Encapsulate',
  members: ['KeyId', 'EncapsulationAlgorithm', 'GrantTokens', 'DryRun'],
  access: keyAccess('Encapsulate', { allowAlias: true }),
  async handle(kms, input) {
    const { key, arn, material } = keyForUse(kms, input.KeyId, 'Encapsulate', 'ENCAPSULATE_DECAPSULATE')
    const algorithm = checkAlgorithm<'ML_KEM'>(input, 'EncapsulationAlgorithm', key, encapsulationAlgorithmsFor(key.keySpec))
    rejectDryRun(input)
    const { ciphertext, sharedSecret } = await kms.hsm.keyOperation('encapsulate', { key: kms.refOf(material) })
    return {
      KeyId: arn,
      SharedSecret: base64(sharedSecret),
      SharedSecretCiphertextBlob: base64(ciphertext),
      EncapsulationAlgorithm: algorithm,
    }
  },
}
