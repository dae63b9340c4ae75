import {
  asDecryptFailure,
  checkSymmetricAlgorithm,
  decryptingKey,
  encodedContext,
  keyForDecryption,
  keyForEncryption,
  rejectDryRun,
} from '../crypto-keys.js'
import { base64, bytes, requiredStr, str, type Operation } from '../operation.js'
import { keyCheck } from '../access.js'
import { resolveKey } from '../resolve-key.js'

export const reEncrypt: Operation = {
  name: 'ReEncrypt',
  access(kms, input) {
    const destination = resolveKey(kms, requiredStr(input, 'DestinationKeyId'), { allowAlias: true })
    const source = decryptingKey(kms, bytes(input, 'CiphertextBlob') ?? new Uint8Array(), str(input, 'SourceKeyId'))
    const checks = [
      keyCheck('kms:ReEncryptTo', destination, input, { contextMember: 'DestinationEncryptionContext' }, requiredStr(input, 'DestinationKeyId'), 'ReEncryptTo'),
    ]
    if (source !== undefined) {
      checks.unshift(keyCheck('kms:ReEncryptFrom', source, input, { contextMember: 'SourceEncryptionContext' }, str(input, 'SourceKeyId'), 'ReEncryptFrom'))
    }
    const onSameKey = source !== undefined && source.keyId === destination.keyId
    for (const check of checks) check.conditions = { ...check.conditions, 'kms:ReEncryptOnSameKey': onSameKey }
    return checks
  },
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
