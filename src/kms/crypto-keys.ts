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
import { encryptionAlgorithmsFor, type KeyUsage } from '../wire/key-specs.js'
import { checkKeyState } from './key-state.js'
import { markMaybeStale } from './maybe-stale.js'
import type { Kms } from './kms.js'
import { bool, str, stringMap, type Input } from './operation.js'
import { aliasNamedBy, resolveKey } from './resolve-key.js'

export interface UsableKey {
  key: KeyRecord
  arn: string
  material: MaterialRecord
}

function checkUsage(key: KeyRecord, arn: string, operation: string, usage: KeyUsage = 'ENCRYPT_DECRYPT'): void {
  if (key.keyUsage !== usage) {
    throw new KmsError('InvalidKeyUsageException', `${arn} key usage is ${key.keyUsage} which is not valid for ${operation}.`)
  }
}

/** Data-key operations need a symmetric encryption key. */
export function requireSymmetric(usable: UsableKey): void {
  if (usable.key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw new KmsError('InvalidKeyUsageException', `${usable.arn} key spec is ${usable.key.keySpec} which is not valid for this operation.`)
  }
}

/**
 * The algorithm a request names (or `fallback`), which must be one the key's spec offers:
 * AWS answers any other with InvalidKeyUsageException.
 */
export function checkAlgorithm<A extends string>(
  input: Input,
  member: string,
  key: KeyRecord,
  offered: readonly string[],
  fallback?: A,
): A {
  const algorithm = str(input, member) ?? fallback
  if (algorithm === undefined) {
    throw new KmsError(
      'ValidationException',
      `1 validation error detected: Value null at '${member.charAt(0).toLowerCase()}${member.slice(1)}' failed to satisfy constraint: Member must not be null`,
    )
  }
  if (!offered.includes(algorithm)) {
    throw new KmsError('InvalidKeyUsageException', `Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`)
  }
  return algorithm as A
}

/** A key usable for `usage` by a cryptographic operation: resolved (aliases allowed), Enabled, with current material. */
export function keyForUse(kms: Kms, keyIdInput: string, operation: string, usage: KeyUsage): UsableKey {
  const key = resolveKey(kms, keyIdInput, { allowAlias: true })
  const arn = kms.arnOf(key.keyId)
  checkKeyState('cryptographic', key.state, arn)
  checkUsage(key, arn, operation, usage)
  return { key, arn, material: kms.currentMaterial(key) }
}

/**
 * The key a Decrypt or ReEncrypt is about, for authorization: the KeyId given, else the key
 * the ciphertext's (unauthenticated) header names. Undefined if neither names one here.
 */
export function decryptingKey(kms: Kms, blob: Uint8Array, keyIdInput: string | undefined): KeyRecord | undefined {
  if (keyIdInput !== undefined) return resolveKey(kms, keyIdInput, { allowAlias: true })
  const header = parseCiphertextHeaderUnauthenticated(blob)
  return header === undefined ? undefined : kms.keys.get(header.keyId)
}

/** Asymmetric keys take no encryption context: it would bind nothing (reference §4.9). */
export function rejectContextForAsymmetric(input: Input, member: string): void {
  const context = stringMap(input, member)
  if (context !== undefined && Object.keys(context).length > 0) {
    throw new KmsError('ValidationException', 'EncryptionContext is not supported with asymmetric KMS keys.')
  }
}

/** Symmetric keys take only SYMMETRIC_DEFAULT. */
export function checkSymmetricAlgorithm(input: Input, member: string): void {
  const algorithm = str(input, member)
  if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') {
    throw new KmsError('InvalidKeyUsageException', `Algorithm ${algorithm} is incompatible with key spec SYMMETRIC_DEFAULT.`)
  }
}

/** The symmetric key a symmetric encrypting operation (data keys, ReEncrypt's destination) uses, with its current material. */
export function keyForEncryption(kms: Kms, keyIdInput: string, operation: string): UsableKey {
  const usable = keyForUse(kms, keyIdInput, operation, 'ENCRYPT_DECRYPT')
  requireSymmetric(usable)
  return usable
}

/** The canonical bytes of an encryption context member; AWS caps its size. */
export function encodedContext(input: Input, member: string): Uint8Array {
  try {
    return encodeEncryptionContext(stringMap(input, member))
  } catch {
    throw new KmsError('ValidationException', 'Encryption context is too large.')
  }
}

/**
 * Whether a Decrypt or ReEncrypt is a dry run that leaves the ciphertext unchecked: DryRun
 * true with the DryRunModifier IGNORE_CIPHERTEXT (AWS: "KMS performs only authorization
 * validation without ciphertext validation"; the modifier "only applies when DryRun is set
 * to true").
 */
export function ignoresCiphertext(input: Input): boolean {
  const modifiers = input.DryRunModifiers
  return bool(input, 'DryRun') === true && Array.isArray(modifiers) && modifiers.includes('IGNORE_CIPHERTEXT')
}

/**
 * The dry run of a Decrypt or ReEncrypt without a ciphertext: the key must then be named
 * (AWS: KeyId, or SourceKeyId, "is required ... when DryRun is true and DryRunModifiers is
 * set to IGNORE_CIPHERTEXT"; it documents no error text, the message is Trent's), be usable
 * for decryption, and the request authorized (checked before the handler runs): then
 * DryRunOperationException, as for any dry run that would have succeeded.
 */
export function dryRunIgnoringCiphertext(
  kms: Kms,
  input: Input,
  keyIdMember: string,
  algorithmMember: string,
  contextMember: string,
  operation: string,
): never {
  const keyIdInput = str(input, keyIdMember)
  if (keyIdInput === undefined) {
    throw new KmsError('ValidationException', `${keyIdMember} is required when DryRun is true and DryRunModifiers is IGNORE_CIPHERTEXT.`)
  }
  const { key } = keyForUse(kms, keyIdInput, operation, 'ENCRYPT_DECRYPT')
  if (key.keySpec === 'SYMMETRIC_DEFAULT') {
    checkSymmetricAlgorithm(input, algorithmMember)
    encodedContext(input, contextMember)
  } else {
    checkAlgorithm<string>(input, algorithmMember, key, encryptionAlgorithmsFor(key.keySpec), 'SYMMETRIC_DEFAULT')
    rejectContextForAsymmetric(input, contextMember)
  }
  rejectDryRun(input)
  throw new Error('unreachable: DryRun is true')
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
  if (requested !== undefined && requested.keyId !== header.keyId) {
    // A key id names one key for ever; an alias may have just been pointed elsewhere by a peer.
    throw aliasNamedBy(keyIdInput) !== undefined ? markMaybeStale(incorrectKey()) : incorrectKey()
  }
  const key = requested ?? kms.keys.get(header.keyId)
  // A key, or below a material, this node has no record of may have just been made (or
  // rotated in) by a peer: marked so that the node catches up before refusing.
  if (key === undefined) throw markMaybeStale(invalidCiphertext())
  const arn = kms.arnOf(key.keyId)
  checkKeyState('cryptographic', key.state, arn)
  checkUsage(key, arn, operation)
  // A symmetric ciphertext's header names a symmetric key; any other key cannot have made it.
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw invalidCiphertext()
  const material = kms.materialOf(key.keyId, header.materialVersion)
  if (material === undefined) throw markMaybeStale(invalidCiphertext())
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

/** The HSM's error code of a failure, if it is an HSM error (the HSM port is reached only from here). */
export function hsmErrorCode(err: unknown): string | undefined {
  return isHsmError(err) ? err.code : undefined
}
