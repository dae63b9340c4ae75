import { checkSymmetricAlgorithm, encodedContext, keyForEncryption, rejectDryRun } from '../crypto-keys.js'
import { base64, bytes, requiredStr, type Operation } from '../operation.js'

export const encrypt: Operation = {
  name: 'Encrypt',
  async handle(kms, input) {
    const plaintext = bytes(input, 'Plaintext') ?? new Uint8Array()
    const { arn, material } = keyForEncryption(kms, requiredStr(input, 'KeyId'), 'Encrypt')
    checkSymmetricAlgorithm(input, 'EncryptionAlgorithm')
    const context = encodedContext(input, 'EncryptionContext')
    rejectDryRun(input)
    const blob = await kms.hsm.encrypt(kms.refOf(material), plaintext, context)
    return { CiphertextBlob: base64(blob), KeyId: arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
  },
}
