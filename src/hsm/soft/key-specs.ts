/**
 * The AWS KMS key specs as pure functions over bytes: which algorithms and key usages
 * each spec has, how its key material is generated and checked, and its operations
 * (sign/verify, RSA-OAEP, ECDH, HMAC). Key material never leaves the HSM worker; these
 * functions hold no state and do no I/O.
 *
 * Key material formats: SYMMETRIC_DEFAULT and HMAC_* are raw key bytes; the RSA and ECC
 * specs are the private key as DER PKCS#8, the format AWS takes for imported asymmetric
 * key material. Public keys are DER SubjectPublicKeyInfo, as GetPublicKey returns them.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import {
  generateAsymmetricKeyPair,
  generateAsymmetricKeyPairAsync,
  isAsymmetricSpec,
  isValidAsymmetricMaterial,
  isValidAsymmetricMaterialAsync,
} from './asymmetric.js'
import { isHmacKeySpec, type HmacKeySpec, type KeyPairSpec, type KeySpec, type MacAlgorithm } from '../../wire/key-specs.js'
import { hmac, hmacVerify, MAC_HASH } from './hmac.js'

// The vocabulary (spec, usage and algorithm names, which spec offers what) is the wire's,
// shared with the region; this module adds the cryptography behind it.
export {
  ASYMMETRIC_KEY_SPECS,
  ENCRYPTION_ALGORITHMS,
  HMAC_KEY_SPECS,
  KEY_PAIR_SPECS,
  KEY_SPECS,
  MAC_ALGORITHMS,
  SIGNING_ALGORITHMS,
  algorithmsFor,
  encryptionAlgorithmsFor,
  isAsymmetricKeySpec,
  isEncryptionAlgorithm,
  isHmacKeySpec,
  isKeySpec,
  isMacAlgorithm,
  isSigningAlgorithm,
  keyAgreementAlgorithmsFor,
  keyUsagesFor,
  macAlgorithmsFor,
  signingAlgorithmsFor,
} from '../../wire/key-specs.js'
export type {
  AsymmetricKeySpec,
  EncryptionAlgorithm,
  HmacKeySpec,
  KeyAlgorithms,
  KeyPairSpec,
  KeySpec,
  KeyUsage,
  MacAlgorithm,
  MessageType,
  SigningAlgorithm,
} from '../../wire/key-specs.js'

const SYMMETRIC_KEY_BYTES = 32

/**
 * HMAC key specs: the MAC algorithm, the length of generated keys (the hash output
 * length), and the range of imported key lengths AWS accepts: at least the output length
 * and at most the hash block size (64 bytes for SHA-224/256, 128 for SHA-384/512), beyond
 * which HMAC would hash the key down anyway (RFC 2104 §2).
 */
const HMAC: Record<HmacKeySpec, { algorithm: MacAlgorithm; bytes: number; minImport: number; maxImport: number }> = {
  HMAC_224: { algorithm: 'HMAC_SHA_224', bytes: 28, minImport: 28, maxImport: 64 },
  HMAC_256: { algorithm: 'HMAC_SHA_256', bytes: 32, minImport: 32, maxImport: 64 },
  HMAC_384: { algorithm: 'HMAC_SHA_384', bytes: 48, minImport: 48, maxImport: 128 },
  HMAC_512: { algorithm: 'HMAC_SHA_512', bytes: 64, minImport: 64, maxImport: 128 },
}

/**
 * New key material: 32 random bytes for SYMMETRIC_DEFAULT, hash-length random bytes for
 * HMAC_*, a fresh key pair's private key as PKCS#8 DER for the asymmetric specs.
 */
export function generateKeyMaterial(spec: KeySpec): Buffer {
  if (spec === 'SYMMETRIC_DEFAULT') return randomBytes(SYMMETRIC_KEY_BYTES)
  if (isHmacKeySpec(spec)) return randomBytes(HMAC[spec].bytes)
  if (isAsymmetricSpec(spec)) return generateAsymmetricKeyPair(spec).privateKey
  throw new RangeError(`unknown key spec ${String(spec)}`)
}

/** As generateKeyMaterial; RSA and EC key pairs are made off the calling thread. */
export async function generateKeyMaterialAsync(spec: KeySpec): Promise<Buffer> {
  if (isAsymmetricSpec(spec)) return (await generateAsymmetricKeyPairAsync(spec)).privateKey
  return generateKeyMaterial(spec)
}

/**
 * True when `material` is well-formed key material of `spec`, generated or imported:
 * exactly 32 bytes for SYMMETRIC_DEFAULT; 28–64 / 32–64 / 48–128 / 64–128 bytes for
 * HMAC_224/256/384/512; for the asymmetric specs one DER PKCS#8 private key of that
 * exact type, modulus size or named curve, which passes a sign/verify self-test.
 * Never throws.
 */
export function isValidKeyMaterial(spec: KeySpec, material: Uint8Array): boolean {
  try {
    if (!(material instanceof Uint8Array)) return false
    if (spec === 'SYMMETRIC_DEFAULT') return material.length === SYMMETRIC_KEY_BYTES
    if (isHmacKeySpec(spec)) {
      const { minImport, maxImport } = HMAC[spec]
      return material.length >= minImport && material.length <= maxImport
    }
    if (isAsymmetricSpec(spec)) return isValidAsymmetricMaterial(spec, material)
    return false
  } catch {
    return false
  }
}

/** As isValidKeyMaterial; an RSA key's primality tests run off the calling thread. Never rejects. */
export async function isValidKeyMaterialAsync(spec: KeySpec, material: Uint8Array): Promise<boolean> {
  if (material instanceof Uint8Array && isAsymmetricSpec(spec)) return isValidAsymmetricMaterialAsync(spec, material)
  return isValidKeyMaterial(spec, material)
}

/** A fresh data key pair for GenerateDataKeyPair: private key PKCS#8 DER, public key SPKI DER. */
export function generateDataKeyPair(spec: KeyPairSpec): { privateKey: Buffer; publicKey: Buffer } {
  if (!isAsymmetricSpec(spec)) throw new RangeError(`${String(spec)} is not a key pair spec`)
  return generateAsymmetricKeyPair(spec)
}

/** As generateDataKeyPair, off the calling thread. */
export async function generateDataKeyPairAsync(spec: KeyPairSpec): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  if (!isAsymmetricSpec(spec)) throw new RangeError(`${String(spec)} is not a key pair spec`)
  return generateAsymmetricKeyPairAsync(spec)
}

function macFor(spec: HmacKeySpec, key: Uint8Array, algorithm: MacAlgorithm): void {
  if (!isHmacKeySpec(spec)) throw new RangeError(`${String(spec)} is not an HMAC key spec`)
  if (!Object.prototype.hasOwnProperty.call(MAC_HASH, algorithm) || HMAC[spec].algorithm !== algorithm) {
    throw new RangeError(`${String(algorithm)} is not a MAC algorithm for ${spec}`)
  }
  if (!isValidKeyMaterial(spec, key)) throw new RangeError(`key is not ${spec} key material`)
}

/** HMAC with the spec's hash (HMAC_224 → SHA-224, ...). RangeError when the algorithm or key does not fit the spec. */
export function generateMac(spec: HmacKeySpec, key: Uint8Array, algorithm: MacAlgorithm, message: Uint8Array): Buffer {
  macFor(spec, key, algorithm)
  return hmac(algorithm, key, message)
}

/** Constant-time check of `mac`; false for a wrong tag or one of the wrong length. */
export function verifyMac(spec: HmacKeySpec, key: Uint8Array, algorithm: MacAlgorithm, message: Uint8Array, mac: Uint8Array): boolean {
  macFor(spec, key, algorithm)
  if (!(mac instanceof Uint8Array)) return false
  return hmacVerify(algorithm, key, message, mac)
}

export {
  deriveSharedSecret,
  maxRsaPlaintextBytes,
  publicKeyOf,
  rsaDecrypt,
  rsaEncrypt,
  sign,
  signingDigestBytes,
  verify,
} from './asymmetric.js'
export { hmac } from './hmac.js'
