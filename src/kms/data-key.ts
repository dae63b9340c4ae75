/**
 * GenerateDataKey and GenerateDataKeyWithoutPlaintext share everything but whether the
 * plaintext key is returned.
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'
import { encodedContext, keyForEncryption, rejectDryRun } from './crypto-keys.js'
import type { Kms } from './kms.js'
import type { GenerateDataKeyRequest, GenerateDataKeyResponse, GenerateDataKeyWithoutPlaintextRequest } from '../wire/kms-model-types.js'
import { base64 } from './operation.js'

const KEY_SPEC_BYTES: Record<string, number> = { AES_256: 32, AES_128: 16 }

/** GenerateDataKeyWithoutPlaintext answers the same without the plaintext (a subset of GenerateDataKey's output). */
export async function generateDataKey(
  kms: Kms,
  input: GenerateDataKeyRequest | GenerateDataKeyWithoutPlaintextRequest,
  operation: string,
  includePlaintext: boolean,
): Promise<GenerateDataKeyResponse> {
  const keySpec = input.KeySpec
  const numberOfBytes = input.NumberOfBytes
  if ((keySpec === undefined) === (numberOfBytes === undefined)) {
    throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.')
  }
  if ('Recipient' in input && input.Recipient !== undefined) {
    throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.')
  }
  const size = numberOfBytes ?? KEY_SPEC_BYTES[keySpec ?? ''] ?? 32
  const { arn, material } = keyForEncryption(kms, input.KeyId, operation)
  const context = encodedContext(input, 'EncryptionContext')
  rejectDryRun(input)
  const result = await kms.hsm.generateDataKey(kms.refOf(material), size, context, includePlaintext)
  const out: GenerateDataKeyResponse = { CiphertextBlob: base64(result.ciphertextBlob) }
  if (includePlaintext && result.plaintext !== undefined) out.Plaintext = base64(result.plaintext)
  out.KeyId = arn
  out.KeyMaterialId = material.materialId
  return out
}
