import { encapsulationAlgorithmsFor } from '../../wire/key-specs.js'
import { keyAccess } from '../access.js'
import { asDecryptFailure, checkAlgorithm, keyForUse, rejectDryRun } from '../crypto-keys.js'
import { base64, type Operation } from '../operation.js'

/**
 * Decapsulate: the shared secret of an ML-KEM ciphertext. As AWS documents, only a
 * ciphertext whose length does not fit the key spec is refused (InvalidCiphertextException,
 * as every decrypt failure); any other yields 32 bytes, a pseudo-random secret when the
 * ciphertext was altered or made for another key (ML-KEM's implicit rejection), so a
 * caller learns nothing from the answer and must confirm the secret with its peer.
 */
export const decapsulate: Operation<'Decapsulate'> = {
  name: 'Decapsulate',
  members: ['KeyId', 'SharedSecretCiphertextBlob', 'EncapsulationAlgorithm', 'GrantTokens', 'DryRun'],
  access: keyAccess('Decapsulate', { allowAlias: true }),
  async handle(kms, input) {
    const { key, arn, material } = keyForUse(kms, input.KeyId, 'Decapsulate', 'ENCAPSULATE_DECAPSULATE')
    const algorithm = checkAlgorithm<'ML_KEM'>(input, 'EncapsulationAlgorithm', key, encapsulationAlgorithmsFor(key.keySpec))
    const ciphertext = input.SharedSecretCiphertextBlob ?? new Uint8Array()
    rejectDryRun(input)
    const secret = await asDecryptFailure(kms.hsm.keyOperation('decapsulate', { key: kms.refOf(material), ciphertext }))
    return { KeyId: arn, SharedSecret: base64(secret), EncapsulationAlgorithm: algorithm }
  },
}
