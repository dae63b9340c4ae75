/**
 * The checks every cryptographic operation makes before it reaches the HSM: which key,
 * in which state, with which algorithm and context; and the decrypt-side lookup of a
 * ciphertext's key, where every failure looks the same.
 *
 * @module
 */
import { isHsmError } from '../hsm/hsm.js'
import { parseCiphertextHeaderUnauthenticated } from '../wire/ciphertext-blob.js'
import { encodeEncryptionContext } from '../wire/encryption-context.js'
import { KmsError, incorrectKey, invalidCiphertext } from '../wire/errors.js'
import type { KeyRecord, MaterialRecord } from '../storage/records.js'
import { checkKeyState } from './key-state.js'
import type { Kms } from './kms.js'
import { bool, str, stringMap, type Input } from './operation.js'
import { resolveKey } from './resolve-key.js'

export interface UsableKey {
  key: KeyRecord
  arn: string
  material: MaterialRecord
}

function checkUsage(key: KeyRecord, arn: string, operation: string): void {
  if (key.keyUsage !== 'ENCRYPT_DECRYPT') {
    throw new KmsError('InvalidKeyUsageException', `${arn} key usage is ${key.keyUsage} which is not valid for ${operation}.`)
  }
}

/** Symmetric keys take only SYMMETRIC_DEFAULT. */
export function checkSymmetricAlgorithm(input: Input, member: string): void {
  const algorithm = str(input, member)
  if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') {
    throw new KmsError('InvalidKeyUsageException', `Algorithm ${algorithm} is incompatible with key spec SYMMETRIC_DEFAULT.`)
  }
}

/** The key an encrypting operation uses, with its current material. */
export function keyForEncryption(kms: Kms, keyIdInput: string, operation: string): UsableKey {
  const key = resolveKey(kms, keyIdInput, { allowAlias: true })
  const arn = kms.arnOf(key.keyId)
  checkKeyState('cryptographic', key.state, arn)
  checkUsage(key, arn, operation)
  return { key, arn, material: kms.currentMaterial(key) }
}

/** The canonical bytes of an encryption context member; AWS caps its size. */
export function encodedContext(input: Input, member: string): Uint8Array {
  try {
    return encodeEncryptionContext(stringMap(input, member))
  } catch {
    throw new KmsError('ValidationException', 'Encryption context is too large.')
  }
}

export function rejectDryRun(input: Input): void {
  if (bool(input, 'DryRun') === true) {
    throw new KmsError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.')
  }
}

/**
 * Finds the key and material a ciphertext names. The caller's KeyId, if any, must name
 * the same key id (any related multi-Region key matches: key ids, not ARNs, are
 * compared), else IncorrectKeyException; every other failure is
 * InvalidCiphertextException, indistinguishable from a failed tag.
 */
export function keyForDecryption(kms: Kms, blob: Uint8Array, keyIdInput: string | undefined, operation: string): UsableKey {
  const requested = keyIdInput === undefined ? undefined : resolveKey(kms, keyIdInput, { allowAlias: true })
  const header = parseCiphertextHeaderUnauthenticated(blob)
  if (header === undefined) throw invalidCiphertext()
  if (requested !== undefined && requested.keyId !== header.keyId) throw incorrectKey()
  const key = requested ?? kms.keys.get(header.keyId)
  if (key === undefined) throw invalidCiphertext()
  const arn = kms.arnOf(key.keyId)
  checkKeyState('cryptographic', key.state, arn)
  checkUsage(key, arn, operation)
  const material = kms.materialOf(key.keyId, header.materialVersion)
  if (material === undefined) throw invalidCiphertext()
  return { key, arn, material }
}

/** Maps HSM failures of a decrypting call onto the wire: all of them are InvalidCiphertextException. */
export async function asDecryptFailure<T>(work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (err) {
    if (isHsmError(err) && err.code === 'DECRYPT_FAILED') throw invalidCiphertext()
    throw err
  }
}
