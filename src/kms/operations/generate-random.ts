import { customKeyStoreNotFound } from '../custom-key-stores.js'
import { KmsError } from '../../wire/errors.js'
import { base64, type Operation } from '../operation.js'

export const generateRandom: Operation<'GenerateRandom'> = {
  name: 'GenerateRandom',
  members: ['NumberOfBytes', 'CustomKeyStoreId', 'Recipient.KeyEncryptionAlgorithm', 'Recipient.AttestationDocument'],
  async handle(kms, input) {
    const numberOfBytes = input.NumberOfBytes
    // The model leaves it optional; AWS answers its absence with this bespoke text (reference §1.9).
    if (numberOfBytes === undefined) throw new KmsError('ValidationException', 'NumberOfBytes is required.')
    // No custom key store exists here, so any id names an unknown one (GenerateRandom's error list).
    if (input.CustomKeyStoreId !== undefined) throw customKeyStoreNotFound()
    if (input.Recipient !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.')
    }
    return { Plaintext: base64(await kms.hsm.generateRandom(numberOfBytes)) }
  },
}
