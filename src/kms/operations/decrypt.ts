import { KmsError } from '../../wire/errors.js'
import { asDecryptFailure, checkSymmetricAlgorithm, encodedContext, keyForDecryption, rejectDryRun } from '../crypto-keys.js'
import { base64, bytes, str, type Operation } from '../operation.js'

export const decrypt: Operation = {
  name: 'Decrypt',
  async handle(kms, input) {
    const blob = bytes(input, 'CiphertextBlob') ?? new Uint8Array()
    if (input.Recipient !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.')
    }
    const { arn, material } = keyForDecryption(kms, blob, str(input, 'KeyId'), 'Decrypt')
    checkSymmetricAlgorithm(input, 'EncryptionAlgorithm')
    const context = encodedContext(input, 'EncryptionContext')
    rejectDryRun(input)
    const plaintext = await asDecryptFailure(kms.hsm.decrypt(kms.refOf(material), blob, context))
    return {
      KeyId: arn,
      Plaintext: base64(plaintext),
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      KeyMaterialId: material.materialId,
    }
  },
}
