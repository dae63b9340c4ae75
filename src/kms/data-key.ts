/**
 * GenerateDataKey and GenerateDataKeyWithoutPlaintext share everything but whether the
 * plaintext key is returned.
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'
import { encodedContext, keyForEncryption, rejectDryRun } from './crypto-keys.js'
import type { Kms } from './kms.js'
import { base64, num, requiredStr, str, type Input, type Output } from './operation.js'

const KEY_SPEC_BYTES: Record<string, number> = { AES_256: 32, AES_128: 16 }

export async function generateDataKey(kms: Kms, input: Input, operation: string, includePlaintext: boolean): Promise<Output> {
  const keySpec = str(input, 'KeySpec')
  const numberOfBytes = num(input, 'NumberOfBytes')
  if ((keySpec === undefined) === (numberOfBytes === undefined)) {
    throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.')
  }
  if (input.Recipient !== undefined) {
    throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.')
  }
  const size = numberOfBytes ?? KEY_SPEC_BYTES[keySpec ?? ''] ?? 32
  const { arn, material } = keyForEncryption(kms, requiredStr(input, 'KeyId'), operation)
  const context = encodedContext(input, 'EncryptionContext')
  rejectDryRun(input)
  const result = await kms.hsm.generateDataKey(kms.refOf(material), size, context, includePlaintext)
  const out: Output = { CiphertextBlob: base64(result.ciphertextBlob) }
  if (includePlaintext && result.plaintext !== undefined) out.Plaintext = base64(result.plaintext)
  out.KeyId = arn
  out.KeyMaterialId = material.materialId
  return out
}
