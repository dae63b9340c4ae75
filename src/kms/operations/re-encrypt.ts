import type { ReEncryptSide } from '../../hsm/hsm.js'
import { KmsError } from '../../wire/errors.js'
import { encryptionAlgorithmsFor, type AsymmetricEncryptionAlgorithm } from '../../wire/key-specs.js'
import {
  asDecryptFailure,
  checkAlgorithm,
  checkSymmetricAlgorithm,
  decryptingKey,
  dryRunIgnoringCiphertext,
  encodedContext,
  hsmErrorCode,
  ignoresCiphertext,
  keyForDecryption,
  keyForUse,
  rejectContextForAsymmetric,
  rejectDryRun,
  type UsableKey,
} from '../crypto-keys.js'
import { base64, type Operation, type Output } from '../operation.js'
import { keyCheck } from '../access.js'
import { resolveKey } from '../resolve-key.js'

export const reEncrypt: Operation<'ReEncrypt'> = {
  name: 'ReEncrypt',
  members: [
    'CiphertextBlob',
    'SourceEncryptionContext',
    'SourceKeyId',
    'DestinationKeyId',
    'DestinationEncryptionContext',
    'SourceEncryptionAlgorithm',
    'DestinationEncryptionAlgorithm',
    'GrantTokens',
    'DryRun',
    'DryRunModifiers',
  ],
  access(kms, input) {
    const destination = resolveKey(kms, input.DestinationKeyId, { allowAlias: true })
    const source = decryptingKey(kms, input.CiphertextBlob ?? new Uint8Array(), input.SourceKeyId)
    const checks = [
      keyCheck(
        'kms:ReEncryptTo',
        destination,
        input,
        { contextMember: 'DestinationEncryptionContext' },
        input.DestinationKeyId,
        'ReEncryptTo',
      ),
    ]
    if (source !== undefined) {
      checks.unshift(
        keyCheck('kms:ReEncryptFrom', source, input, { contextMember: 'SourceEncryptionContext' }, input.SourceKeyId, 'ReEncryptFrom'),
      )
    }
    const onSameKey = source !== undefined && source.keyId === destination.keyId
    for (const check of checks) check.conditions = { ...check.conditions, 'kms:ReEncryptOnSameKey': onSameKey }
    return checks
  },
  async handle(kms, input) {
    const blob = input.CiphertextBlob ?? new Uint8Array()
    if (ignoresCiphertext(input)) {
      // The destination is checked as in any ReEncrypt; the source only by its key.
      const destination = keyForUse(kms, input.DestinationKeyId, 'ReEncrypt', 'ENCRYPT_DECRYPT')
      checkAlgorithm<string>(
        input,
        'DestinationEncryptionAlgorithm',
        destination.key,
        encryptionAlgorithmsFor(destination.key.keySpec),
        'SYMMETRIC_DEFAULT',
      )
      dryRunIgnoringCiphertext(kms, input, 'SourceKeyId', 'SourceEncryptionAlgorithm', 'SourceEncryptionContext', 'ReEncrypt')
    }
    const sourceKeyId = input.SourceKeyId
    const sourceIsRsa = sourceKeyId !== undefined && resolveKey(kms, sourceKeyId, { allowAlias: true }).keySpec !== 'SYMMETRIC_DEFAULT'
    const destination = keyForUse(kms, input.DestinationKeyId, 'ReEncrypt', 'ENCRYPT_DECRYPT')
    const destinationAlgorithm = checkAlgorithm<string>(
      input,
      'DestinationEncryptionAlgorithm',
      destination.key,
      encryptionAlgorithmsFor(destination.key.keySpec),
      'SYMMETRIC_DEFAULT',
    )
    if (!sourceIsRsa && destination.key.keySpec === 'SYMMETRIC_DEFAULT') {
      // Both sides symmetric: the HSM's own re-encryption, the common case.
      const source = keyForDecryption(kms, blob, sourceKeyId, 'ReEncrypt')
      checkSymmetricAlgorithm(input, 'SourceEncryptionAlgorithm')
      const sourceContext = encodedContext(input, 'SourceEncryptionContext')
      const destinationContext = encodedContext(input, 'DestinationEncryptionContext')
      rejectDryRun(input)
      const result = await asDecryptFailure(
        kms.hsm.reEncrypt(kms.refOf(source.material), blob, sourceContext, kms.refOf(destination.material), destinationContext),
      )
      return output(source, destination, result, 'SYMMETRIC_DEFAULT', 'SYMMETRIC_DEFAULT')
    }
    // An RSA key on either side (reference §4.9): the same, through the HSM's general path.
    const source = sourceIsRsa
      ? keyForUse(kms, sourceKeyId, 'ReEncrypt', 'ENCRYPT_DECRYPT')
      : keyForDecryption(kms, blob, sourceKeyId, 'ReEncrypt')
    const sourceAlgorithm = checkAlgorithm<string>(
      input,
      'SourceEncryptionAlgorithm',
      source.key,
      encryptionAlgorithmsFor(source.key.keySpec),
      'SYMMETRIC_DEFAULT',
    )
    const side = (usable: UsableKey, algorithm: string, contextMember: string): ReEncryptSide => {
      if (algorithm === 'SYMMETRIC_DEFAULT')
        return { key: kms.refOf(usable.material), algorithm, encodedContext: encodedContext(input, contextMember) }
      rejectContextForAsymmetric(input, contextMember)
      return { key: kms.refOf(usable.material), algorithm: algorithm as AsymmetricEncryptionAlgorithm }
    }
    const request = {
      source: side(source, sourceAlgorithm, 'SourceEncryptionContext'),
      ciphertext: blob,
      destination: side(destination, destinationAlgorithm, 'DestinationEncryptionContext'),
    }
    rejectDryRun(input)
    try {
      const result = await asDecryptFailure(kms.hsm.keyOperation('reEncryptAny', request))
      return output(source, destination, result, sourceAlgorithm, destinationAlgorithm)
    } catch (err) {
      if (hsmErrorCode(err) === 'PLAINTEXT_TOO_LONG') {
        throw new KmsError('ValidationException', `The plaintext is too long for ${destination.key.keySpec} with ${destinationAlgorithm}.`)
      }
      throw err
    }
  },
}

function output(
  source: UsableKey,
  destination: UsableKey,
  blob: Uint8Array,
  sourceAlgorithm: string,
  destinationAlgorithm: string,
): Output {
  return {
    CiphertextBlob: base64(blob),
    SourceKeyId: source.arn,
    KeyId: destination.arn,
    SourceEncryptionAlgorithm: sourceAlgorithm,
    DestinationEncryptionAlgorithm: destinationAlgorithm,
    SourceKeyMaterialId: source.material.materialId,
    DestinationKeyMaterialId: destination.material.materialId,
  }
}
