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
  asymmetricSigningAlgorithms,
  generateAsymmetricKeyPair,
  isAsymmetricSpec,
  isValidAsymmetricMaterial,
  supportsKeyAgreement,
} from './asymmetric.js'
import { hmac, hmacVerify, MAC_HASH, type MacAlgorithm } from './hmac.js'

export type AsymmetricKeySpec = 'RSA_2048' | 'RSA_3072' | 'RSA_4096' | 'ECC_NIST_P256' | 'ECC_NIST_P384' | 'ECC_NIST_P521' | 'ECC_SECG_P256K1'
export type HmacKeySpec = 'HMAC_224' | 'HMAC_256' | 'HMAC_384' | 'HMAC_512'
export type KeySpec = 'SYMMETRIC_DEFAULT' | AsymmetricKeySpec | HmacKeySpec
export type SigningAlgorithm =
  | 'RSASSA_PSS_SHA_256'
  | 'RSASSA_PSS_SHA_384'
  | 'RSASSA_PSS_SHA_512'
  | 'RSASSA_PKCS1_V1_5_SHA_256'
  | 'RSASSA_PKCS1_V1_5_SHA_384'
  | 'RSASSA_PKCS1_V1_5_SHA_512'
  | 'ECDSA_SHA_256'
  | 'ECDSA_SHA_384'
  | 'ECDSA_SHA_512'
export type EncryptionAlgorithm = 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256'
export type { MacAlgorithm }
export type MessageType = 'RAW' | 'DIGEST'
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | 'KEY_AGREEMENT'
/** GenerateDataKeyPair's KeyPairSpec values (SM2 aside, which Trent does not offer). */
export type KeyPairSpec = AsymmetricKeySpec

export const ASYMMETRIC_KEY_SPECS: readonly AsymmetricKeySpec[] = [
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
]
export const HMAC_KEY_SPECS: readonly HmacKeySpec[] = ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512']
export const KEY_SPECS: readonly KeySpec[] = ['SYMMETRIC_DEFAULT', ...ASYMMETRIC_KEY_SPECS, ...HMAC_KEY_SPECS]
export const KEY_PAIR_SPECS: readonly KeyPairSpec[] = ASYMMETRIC_KEY_SPECS
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
  'ECDSA_SHA_512',
]
export const ENCRYPTION_ALGORITHMS: readonly EncryptionAlgorithm[] = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']
export const MAC_ALGORITHMS: readonly MacAlgorithm[] = ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512']

export function isKeySpec(value: unknown): value is KeySpec {
  return typeof value === 'string' && (KEY_SPECS as readonly string[]).includes(value)
}
export function isAsymmetricKeySpec(value: unknown): value is AsymmetricKeySpec {
  return isAsymmetricSpec(value)
}
export function isHmacKeySpec(value: unknown): value is HmacKeySpec {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(HMAC, value)
}
export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return typeof value === 'string' && (SIGNING_ALGORITHMS as readonly string[]).includes(value)
}
export function isEncryptionAlgorithm(value: unknown): value is EncryptionAlgorithm {
  return typeof value === 'string' && (ENCRYPTION_ALGORITHMS as readonly string[]).includes(value)
}
export function isMacAlgorithm(value: unknown): value is MacAlgorithm {
  return typeof value === 'string' && (MAC_ALGORITHMS as readonly string[]).includes(value)
}

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

/** What DescribeKey/GetPublicKey report as SigningAlgorithms for a spec (when its usage is SIGN_VERIFY). */
export function signingAlgorithmsFor(spec: KeySpec): SigningAlgorithm[] {
  return isAsymmetricSpec(spec) ? asymmetricSigningAlgorithms(spec) : []
}

/** EncryptionAlgorithms for a spec (when its usage is ENCRYPT_DECRYPT). */
export function encryptionAlgorithmsFor(spec: KeySpec): Array<EncryptionAlgorithm | 'SYMMETRIC_DEFAULT'> {
  if (spec === 'SYMMETRIC_DEFAULT') return ['SYMMETRIC_DEFAULT']
  if (spec === 'RSA_2048' || spec === 'RSA_3072' || spec === 'RSA_4096') return [...ENCRYPTION_ALGORITHMS]
  return []
}

/** MacAlgorithms for a spec: one per HMAC spec, the hash matching the key spec. */
export function macAlgorithmsFor(spec: KeySpec): MacAlgorithm[] {
  return isHmacKeySpec(spec) ? [HMAC[spec].algorithm] : []
}

/** KeyAgreementAlgorithms for a spec (when its usage is KEY_AGREEMENT): ECDH on the NIST curves. */
export function keyAgreementAlgorithmsFor(spec: KeySpec): Array<'ECDH'> {
  return isAsymmetricSpec(spec) && supportsKeyAgreement(spec) ? ['ECDH'] : []
}

/**
 * The KeyUsage values CreateKey accepts for a spec (AWS KMS API reference, CreateKey
 * KeyUsage): SYMMETRIC_DEFAULT → ENCRYPT_DECRYPT; HMAC → GENERATE_VERIFY_MAC; RSA →
 * ENCRYPT_DECRYPT or SIGN_VERIFY; NIST curves → SIGN_VERIFY or KEY_AGREEMENT;
 * ECC_SECG_P256K1 → SIGN_VERIFY. The first entry is no default: CreateKey requires
 * KeyUsage for every spec but SYMMETRIC_DEFAULT.
 */
export function keyUsagesFor(spec: KeySpec): KeyUsage[] {
  if (spec === 'SYMMETRIC_DEFAULT') return ['ENCRYPT_DECRYPT']
  if (isHmacKeySpec(spec)) return ['GENERATE_VERIFY_MAC']
  if (!isAsymmetricSpec(spec)) return []
  if (encryptionAlgorithmsFor(spec).length > 0) return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY']
  return supportsKeyAgreement(spec) ? ['SIGN_VERIFY', 'KEY_AGREEMENT'] : ['SIGN_VERIFY']
}

export interface KeyAlgorithms {
  EncryptionAlgorithms: Array<EncryptionAlgorithm | 'SYMMETRIC_DEFAULT'>
  SigningAlgorithms: SigningAlgorithm[]
  MacAlgorithms: MacAlgorithm[]
  KeyAgreementAlgorithms: Array<'ECDH'>
}

/**
 * The algorithm lists DescribeKey reports for a key of this spec and usage: only the list
 * that belongs to the usage is non-empty (an RSA key for SIGN_VERIFY reports no
 * EncryptionAlgorithms). Empty everywhere when the usage does not fit the spec.
 */
export function algorithmsFor(spec: KeySpec, usage: KeyUsage): KeyAlgorithms {
  const fits = keyUsagesFor(spec).includes(usage)
  return {
    EncryptionAlgorithms: fits && usage === 'ENCRYPT_DECRYPT' ? encryptionAlgorithmsFor(spec) : [],
    SigningAlgorithms: fits && usage === 'SIGN_VERIFY' ? signingAlgorithmsFor(spec) : [],
    MacAlgorithms: fits && usage === 'GENERATE_VERIFY_MAC' ? macAlgorithmsFor(spec) : [],
    KeyAgreementAlgorithms: fits && usage === 'KEY_AGREEMENT' ? keyAgreementAlgorithmsFor(spec) : [],
  }
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

/** A fresh data key pair for GenerateDataKeyPair: private key PKCS#8 DER, public key SPKI DER. */
export function generateDataKeyPair(spec: KeyPairSpec): { privateKey: Buffer; publicKey: Buffer } {
  if (!isAsymmetricSpec(spec)) throw new RangeError(`${String(spec)} is not a key pair spec`)
  return generateAsymmetricKeyPair(spec)
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
