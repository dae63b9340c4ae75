import { encryptionAlgorithmsFor, type AsymmetricEncryptionAlgorithm } from '../../wire/key-specs.js'
import { KmsError } from '../../wire/errors.js'
import { keyCheck } from '../access.js'
import {
  asDecryptFailure,
  checkAlgorithm,
  checkSymmetricAlgorithm,
  decryptingKey,
  dryRunIgnoringCiphertext,
  encodedContext,
  ignoresCiphertext,
  keyForDecryption,
  keyForUse,
  rejectContextForAsymmetric,
  rejectDryRun,
} from '../crypto-keys.js'
import type { Kms } from '../kms.js'
import { base64, type Input, type Operation, type Output } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

/** RSA ciphertexts carry no header: the caller must name the key (AWS requires KeyId for them). */
async function decryptAsymmetric(kms: Kms, input: Input, keyIdInput: string, blob: Uint8Array): Promise<Output> {
  const { key, arn, material } = keyForUse(kms, keyIdInput, 'Decrypt', 'ENCRYPT_DECRYPT')
  // Absent, the algorithm is SYMMETRIC_DEFAULT, which an RSA key refuses.
  const algorithm = checkAlgorithm<string>(
    input,
    'EncryptionAlgorithm',
    key,
    encryptionAlgorithmsFor(key.keySpec),
    'SYMMETRIC_DEFAULT',
  ) as AsymmetricEncryptionAlgorithm
  rejectContextForAsymmetric(input, 'EncryptionContext')
  rejectDryRun(input)
  const plaintext = await asDecryptFailure(
    kms.hsm.keyOperation('asymmetricDecrypt', { key: kms.refOf(material), algorithm, ciphertext: blob }),
  )
  return { KeyId: arn, Plaintext: base64(plaintext), EncryptionAlgorithm: algorithm, KeyMaterialId: material.materialId }
}

export const decrypt: Operation<'Decrypt'> = {
  name: 'Decrypt',
  members: [
    'CiphertextBlob',
    'EncryptionContext',
    'GrantTokens',
    'KeyId',
    'EncryptionAlgorithm',
    'Recipient.KeyEncryptionAlgorithm',
    'Recipient.AttestationDocument',
    'DryRun',
    'DryRunModifiers',
  ],
  access(kms, input) {
    const key = decryptingKey(kms, input.CiphertextBlob ?? new Uint8Array(), input.KeyId)
    // No key to ask about: the handler fails with InvalidCiphertextException.
    if (key === undefined) return []
    const options = { contextMember: 'EncryptionContext', conditionMembers: { 'kms:EncryptionAlgorithm': 'EncryptionAlgorithm' } }
    return [keyCheck('kms:Decrypt', key, input, options, input.KeyId, 'Decrypt')]
  },
  async handle(kms, input) {
    const blob = input.CiphertextBlob ?? new Uint8Array()
    if (input.Recipient !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.')
    }
    if (ignoresCiphertext(input)) dryRunIgnoringCiphertext(kms, input, 'KeyId', 'EncryptionAlgorithm', 'EncryptionContext', 'Decrypt')
    const keyIdInput = input.KeyId
    if (keyIdInput !== undefined && resolveKey(kms, keyIdInput, { allowAlias: true }).keySpec !== 'SYMMETRIC_DEFAULT') {
      return decryptAsymmetric(kms, input, keyIdInput, blob)
    }
    const { arn, material } = keyForDecryption(kms, blob, keyIdInput, 'Decrypt')
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
