import { KmsError } from '../../wire/errors.js'
import { base64, type Operation } from '../operation.js'

export const generateRandom: Operation<'GenerateRandom'> = {
  name: 'GenerateRandom',
  members: ['NumberOfBytes', 'CustomKeyStoreId', 'Recipient.KeyEncryptionAlgorithm', 'Recipient.AttestationDocument'],
  async handle(kms, input) {
    const numberOfBytes = input.NumberOfBytes
    // The model leaves it optional; AWS answers its absence with this bespoke text (reference §1.9).
    if (numberOfBytes === undefined) throw new KmsError('ValidationException', 'NumberOfBytes is required.')
    if (input.CustomKeyStoreId !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Custom key stores are not supported by this KMS.')
    }
    if (input.Recipient !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.')
    }
    return { Plaintext: base64(await kms.hsm.generateRandom(numberOfBytes)) }
  },
}
