import {
  asDecryptFailure,
  checkSymmetricAlgorithm,
  encodedContext,
  keyForDecryption,
  keyForEncryption,
  rejectDryRun,
} from '../crypto-keys.js'
import { base64, bytes, requiredStr, str, type Operation } from '../operation.js'

export const reEncrypt: Operation = {
  name: 'ReEncrypt',
  async handle(kms, input) {
    const blob = bytes(input, 'CiphertextBlob') ?? new Uint8Array()
    const destination = keyForEncryption(kms, requiredStr(input, 'DestinationKeyId'), 'ReEncrypt')
    const source = keyForDecryption(kms, blob, str(input, 'SourceKeyId'), 'ReEncrypt')
    checkSymmetricAlgorithm(input, 'SourceEncryptionAlgorithm')
    checkSymmetricAlgorithm(input, 'DestinationEncryptionAlgorithm')
    const sourceContext = encodedContext(input, 'SourceEncryptionContext')
    const destinationContext = encodedContext(input, 'DestinationEncryptionContext')
    rejectDryRun(input)
    const result = await asDecryptFailure(
      kms.hsm.reEncrypt(kms.refOf(source.material), blob, sourceContext, kms.refOf(destination.material), destinationContext),
    )
    return {
      CiphertextBlob: base64(result),
      SourceKeyId: source.arn,
      KeyId: destination.arn,
      SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      SourceKeyMaterialId: source.material.materialId,
      DestinationKeyMaterialId: destination.material.materialId,
    }
  },
}
