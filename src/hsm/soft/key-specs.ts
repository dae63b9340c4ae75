/**
 * The AWS KMS key specs as pure functions over bytes: which algorithms and key usages
 * each spec has, how its key material is generated and checked, and its operations
 * (sign/verify, RSA-OAEP, ECDH, HMAC). Key material never leaves the HSM worker; these
 * functions hold no state and do no I/O.
 *
 * Key material formats: SYMMETRIC_DEFAULT and HMAC_* are raw key bytes; the asymmetric
 * specs are the private key as DER PKCS#8, the format AWS takes for imported asymmetric
 * key material (ML-DSA and ML-KEM in the seed form, lattice-der.ts). Public keys are DER
 * SubjectPublicKeyInfo, as GetPublicKey returns them.
 *
 * RSA and ECDSA/ECDH are asymmetric.ts, Ed25519 ed25519.ts, ML-DSA ml-dsa.ts and ML-KEM
 * ml-kem.ts; the functions here pick the module by spec.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import {
  deriveSharedSecret as rsaOrEcDeriveSharedSecret,
  generateAsymmetricKeyPair,
  generateAsymmetricKeyPairAsync,
  isRsaOrEcSpec,
  isValidAsymmetricMaterial,
  isValidAsymmetricMaterialAsync,
  maxRsaPlaintextBytes as rsaMaxPlaintextBytes,
  publicKeyOf as rsaOrEcPublicKeyOf,
  rsaDecrypt as rsaOaepDecrypt,
  rsaEncrypt as rsaOaepEncrypt,
  sign as rsaOrEcSign,
  verify as rsaOrEcVerify,
  type RsaOrEcKeySpec,
} from './asymmetric.js'
import {
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  generateEd25519KeyPair,
  generateEd25519KeyPairAsync,
  isEd25519Spec,
  isValidEd25519Material,
} from './ed25519.js'
import { generateMlDsaKey, isMlDsaSpec, isValidMlDsaMaterial, mlDsaPublicKey, mlDsaSign, mlDsaVerify } from './ml-dsa.js'
import {
  generateMlKemKey,
  generateMlKemKeyPair,
  isMlKemSpec,
  isValidMlKemMaterial,
  mlKemDecapsulate,
  mlKemEncapsulate,
  mlKemPublicKey,
} from './ml-kem.js'
import {
  isHmacKeySpec,
  type AsymmetricKeySpec,
  type EncryptionAlgorithm,
  type HmacKeySpec,
  type KeyPairSpec,
  type KeySpec,
  type MacAlgorithm,
  type MessageType,
  type SigningAlgorithm,
} from '../../wire/key-specs.js'
import { hmac, hmacVerify, MAC_HASH } from './hmac.js'

// The vocabulary (spec, usage and algorithm names, which spec offers what) is the wire's,
// shared with the region; this module adds the cryptography behind it.
export {
  ASYMMETRIC_KEY_SPECS,
  ENCRYPTION_ALGORITHMS,
  EXTERNAL_MU_BYTES,
  HMAC_KEY_SPECS,
  KEY_PAIR_SPECS,
  KEY_SPECS,
  MAC_ALGORITHMS,
  SIGNING_ALGORITHMS,
  algorithmsFor,
  encapsulationAlgorithmsFor,
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
  messageTypesFor,
  signingAlgorithmsFor,
} from '../../wire/key-specs.js'
export type {
  AsymmetricKeySpec,
  EncapsulationAlgorithm,
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
  if (isRsaOrEcSpec(spec)) return generateAsymmetricKeyPair(spec).privateKey
  if (isEd25519Spec(spec)) return generateEd25519KeyPair().privateKey
  // ML-DSA and ML-KEM material is a random seed: nothing to compute until it is used.
  if (isMlDsaSpec(spec)) return generateMlDsaKey(spec)
  if (isMlKemSpec(spec)) return generateMlKemKey(spec)
  throw new RangeError(`unknown key spec ${String(spec)}`)
}

/** As generateKeyMaterial; RSA, EC and Ed25519 key pairs are made off the calling thread. */
export async function generateKeyMaterialAsync(spec: KeySpec): Promise<Buffer> {
  if (isRsaOrEcSpec(spec)) return (await generateAsymmetricKeyPairAsync(spec)).privateKey
  if (isEd25519Spec(spec)) return (await generateEd25519KeyPairAsync()).privateKey
  return generateKeyMaterial(spec)
}

/**
 * True when `material` is well-formed key material of `spec`, generated or imported:
 * exactly 32 bytes for SYMMETRIC_DEFAULT; 28–64 / 32–64 / 48–128 / 64–128 bytes for
 * HMAC_224/256/384/512; for the asymmetric specs one DER PKCS#8 private key of that
 * exact type, modulus size, named curve or parameter set, which passes a sign/verify (or
 * encapsulate/decapsulate) self-test. Never throws.
 */
export function isValidKeyMaterial(spec: KeySpec, material: Uint8Array): boolean {
  try {
    if (!(material instanceof Uint8Array)) return false
    if (spec === 'SYMMETRIC_DEFAULT') return material.length === SYMMETRIC_KEY_BYTES
    if (isHmacKeySpec(spec)) {
      const { minImport, maxImport } = HMAC[spec]
      return material.length >= minImport && material.length <= maxImport
    }
    if (isRsaOrEcSpec(spec)) return isValidAsymmetricMaterial(spec, material)
    if (isEd25519Spec(spec)) return isValidEd25519Material(material)
    if (isMlDsaSpec(spec)) return isValidMlDsaMaterial(spec, material)
    if (isMlKemSpec(spec)) return isValidMlKemMaterial(spec, material)
    return false
  } catch {
    return false
  }
}

/** As isValidKeyMaterial; an RSA key's primality tests run off the calling thread. Never rejects. */
export async function isValidKeyMaterialAsync(spec: KeySpec, material: Uint8Array): Promise<boolean> {
  if (material instanceof Uint8Array && isRsaOrEcSpec(spec)) return isValidAsymmetricMaterialAsync(spec, material)
  return isValidKeyMaterial(spec, material)
}

/** A fresh data key pair for GenerateDataKeyPair: private key PKCS#8 DER, public key SPKI DER. */
export function generateDataKeyPair(spec: KeyPairSpec): { privateKey: Buffer; publicKey: Buffer } {
  if (isRsaOrEcSpec(spec)) return generateAsymmetricKeyPair(spec)
  if (isEd25519Spec(spec)) return generateEd25519KeyPair()
  if (isMlKemSpec(spec)) return generateMlKemKeyPair(spec)
  throw new RangeError(`${String(spec)} is not a key pair spec`)
}

/** As generateDataKeyPair; RSA, EC and Ed25519 pairs off the calling thread (an ML-KEM pair takes well under a millisecond). */
export async function generateDataKeyPairAsync(spec: KeyPairSpec): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  if (isRsaOrEcSpec(spec)) return generateAsymmetricKeyPairAsync(spec)
  if (isEd25519Spec(spec)) return generateEd25519KeyPairAsync()
  return generateDataKeyPair(spec)
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

function rsaOrEc(spec: AsymmetricKeySpec, what: string): RsaOrEcKeySpec {
  if (!isRsaOrEcSpec(spec)) throw new RangeError(`${String(spec)} does not support ${what}`)
  return spec
}

/** DER SubjectPublicKeyInfo of an asymmetric key's public half. */
export function publicKeyOf(spec: AsymmetricKeySpec, privateKeyPkcs8: Uint8Array): Buffer {
  if (isEd25519Spec(spec)) return ed25519PublicKey(privateKeyPkcs8)
  if (isMlDsaSpec(spec)) return mlDsaPublicKey(spec, privateKeyPkcs8)
  if (isMlKemSpec(spec)) return mlKemPublicKey(spec, privateKeyPkcs8)
  return rsaOrEcPublicKeyOf(rsaOrEc(spec, 'GetPublicKey'), privateKeyPkcs8)
}

/** RangeError for an algorithm or message type the spec does not take, or a message of the wrong length. */
export function sign(
  spec: AsymmetricKeySpec,
  privateKeyPkcs8: Uint8Array,
  algorithm: SigningAlgorithm,
  messageType: MessageType,
  message: Uint8Array,
): Buffer {
  if (isEd25519Spec(spec)) return ed25519Sign(privateKeyPkcs8, algorithm, messageType, message)
  if (isMlDsaSpec(spec)) return Buffer.from(mlDsaSign(spec, privateKeyPkcs8, algorithm, messageType, message))
  return rsaOrEcSign(rsaOrEc(spec, 'signing'), privateKeyPkcs8, algorithm, messageType, message)
}

export function verify(
  spec: AsymmetricKeySpec,
  privateKeyPkcs8: Uint8Array,
  algorithm: SigningAlgorithm,
  messageType: MessageType,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (isEd25519Spec(spec)) return ed25519Verify(privateKeyPkcs8, algorithm, messageType, message, signature)
  if (isMlDsaSpec(spec)) return mlDsaVerify(spec, privateKeyPkcs8, algorithm, messageType, message, signature)
  return rsaOrEcVerify(rsaOrEc(spec, 'signing'), privateKeyPkcs8, algorithm, messageType, message, signature)
}

export function deriveSharedSecret(
  spec: AsymmetricKeySpec,
  privateKeyPkcs8: Uint8Array,
  peerPublicKeySpki: Uint8Array,
): Buffer | undefined {
  return rsaOrEcDeriveSharedSecret(rsaOrEc(spec, 'key agreement'), privateKeyPkcs8, peerPublicKeySpki)
}

export function maxRsaPlaintextBytes(spec: AsymmetricKeySpec, algorithm: EncryptionAlgorithm): number {
  return rsaMaxPlaintextBytes(rsaOrEc(spec, 'encryption'), algorithm)
}

export function rsaEncrypt(
  spec: AsymmetricKeySpec,
  privateKeyPkcs8: Uint8Array,
  algorithm: EncryptionAlgorithm,
  plaintext: Uint8Array,
): Buffer {
  return rsaOaepEncrypt(rsaOrEc(spec, 'encryption'), privateKeyPkcs8, algorithm, plaintext)
}

export function rsaDecrypt(
  spec: AsymmetricKeySpec,
  privateKeyPkcs8: Uint8Array,
  algorithm: EncryptionAlgorithm,
  ciphertext: Uint8Array,
): Buffer | undefined {
  return rsaOaepDecrypt(rsaOrEc(spec, 'encryption'), privateKeyPkcs8, algorithm, ciphertext)
}

/** ML-KEM encapsulation to the key's own public key: the ciphertext and the 32-byte shared secret. */
export function encapsulate(spec: AsymmetricKeySpec, privateKeyPkcs8: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
  if (!isMlKemSpec(spec)) throw new RangeError(`${String(spec)} does not support encapsulation`)
  return mlKemEncapsulate(spec, privateKeyPkcs8)
}

/** ML-KEM decapsulation; undefined only for a ciphertext of the wrong length (implicit rejection otherwise). */
export function decapsulate(spec: AsymmetricKeySpec, privateKeyPkcs8: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
  if (!isMlKemSpec(spec)) throw new RangeError(`${String(spec)} does not support decapsulation`)
  return mlKemDecapsulate(spec, privateKeyPkcs8, ciphertext)
}

export { signingDigestBytes } from './asymmetric.js'
export { hmac } from './hmac.js'
