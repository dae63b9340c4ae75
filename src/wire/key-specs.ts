/**
 * The vocabulary of KMS key types, as AWS names them: key specs, key usages and the
 * algorithms each combination offers (DescribeKey's `EncryptionAlgorithms`,
 * `SigningAlgorithms`, `MacAlgorithms`, `KeyAgreementAlgorithms`). The cryptography
 * behind these names is in the HSM (src/hsm/soft/key-specs.ts); this table is what
 * both sides agree on.
 *
 * @module
 */

export const ASYMMETRIC_KEY_SPECS = [
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
] as const
export const HMAC_KEY_SPECS = ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'] as const

export type AsymmetricKeySpec = (typeof ASYMMETRIC_KEY_SPECS)[number]
export type HmacKeySpec = (typeof HMAC_KEY_SPECS)[number]
export type KeySpec = 'SYMMETRIC_DEFAULT' | AsymmetricKeySpec | HmacKeySpec
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | 'KEY_AGREEMENT'
export type Origin = 'AWS_KMS' | 'EXTERNAL'

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
export type AsymmetricEncryptionAlgorithm = 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256'
export type EncryptionAlgorithm = AsymmetricEncryptionAlgorithm
export type MacAlgorithm = 'HMAC_SHA_224' | 'HMAC_SHA_256' | 'HMAC_SHA_384' | 'HMAC_SHA_512'
export type MessageType = 'RAW' | 'DIGEST'
/** GenerateDataKeyPair's specs (SM2 is China Regions only and not offered). */
export type KeyPairSpec = AsymmetricKeySpec

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

function oneOf<T extends string>(list: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (list as readonly string[]).includes(value)
}

export function isKeySpec(value: unknown): value is KeySpec {
  return oneOf(KEY_SPECS, value)
}
export function isAsymmetricKeySpec(value: unknown): value is AsymmetricKeySpec {
  return oneOf(ASYMMETRIC_KEY_SPECS, value)
}
export function isHmacKeySpec(value: unknown): value is HmacKeySpec {
  return oneOf(HMAC_KEY_SPECS, value)
}
export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return oneOf(SIGNING_ALGORITHMS, value)
}
export function isEncryptionAlgorithm(value: unknown): value is EncryptionAlgorithm {
  return oneOf(ENCRYPTION_ALGORITHMS, value)
}
export function isMacAlgorithm(value: unknown): value is MacAlgorithm {
  return oneOf(MAC_ALGORITHMS, value)
}

export function isAsymmetric(spec: KeySpec): spec is AsymmetricKeySpec {
  return isAsymmetricKeySpec(spec)
}

export function isHmac(spec: KeySpec): spec is HmacKeySpec {
  return isHmacKeySpec(spec)
}

const RSA_SIGNING: readonly SigningAlgorithm[] = [
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
]

/** Key usages AWS allows for each spec (KMS developer guide, "Key spec reference"). */
export function keyUsagesFor(spec: KeySpec): KeyUsage[] {
  if (spec === 'SYMMETRIC_DEFAULT') return ['ENCRYPT_DECRYPT']
  if (isHmac(spec)) return ['GENERATE_VERIFY_MAC']
  if (!isAsymmetric(spec)) return []
  if (spec.startsWith('RSA_')) return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY']
  if (spec === 'ECC_SECG_P256K1') return ['SIGN_VERIFY']
  if (spec.startsWith('ECC_NIST_')) return ['SIGN_VERIFY', 'KEY_AGREEMENT']
  return []
}

export function signingAlgorithmsFor(spec: KeySpec): SigningAlgorithm[] {
  switch (spec) {
    case 'RSA_2048':
    case 'RSA_3072':
    case 'RSA_4096':
      return [...RSA_SIGNING]
    case 'ECC_NIST_P256':
    case 'ECC_SECG_P256K1':
      return ['ECDSA_SHA_256']
    case 'ECC_NIST_P384':
      return ['ECDSA_SHA_384']
    case 'ECC_NIST_P521':
      return ['ECDSA_SHA_512']
    default:
      return []
  }
}

export function encryptionAlgorithmsFor(spec: KeySpec): Array<EncryptionAlgorithm | 'SYMMETRIC_DEFAULT'> {
  if (spec === 'SYMMETRIC_DEFAULT') return ['SYMMETRIC_DEFAULT']
  if (spec.startsWith('RSA_')) return ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']
  return []
}

export function macAlgorithmsFor(spec: KeySpec): MacAlgorithm[] {
  return isHmac(spec) ? [`HMAC_SHA_${spec.slice('HMAC_'.length)}` as MacAlgorithm] : []
}

export function keyAgreementAlgorithmsFor(spec: KeySpec): Array<'ECDH'> {
  return spec.startsWith('ECC_NIST_') ? ['ECDH'] : []
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

/** The hash length, in bytes, of a signing algorithm's digest (MessageType DIGEST). */
export function digestLengthOf(algorithm: SigningAlgorithm): number {
  if (algorithm.endsWith('256')) return 32
  if (algorithm.endsWith('384')) return 48
  return 64
}

/** The longest plaintext RSAES-OAEP takes: modulus bytes − 2 × hash bytes − 2 (RFC 8017 §7.1.1). */
export function maxRsaOaepPlaintextBytes(spec: KeySpec, algorithm: AsymmetricEncryptionAlgorithm): number {
  const modulusBytes = spec === 'RSA_2048' ? 256 : spec === 'RSA_3072' ? 384 : spec === 'RSA_4096' ? 512 : 0
  const hashBytes = algorithm === 'RSAES_OAEP_SHA_1' ? 20 : 32
  return Math.max(0, modulusBytes - 2 * hashBytes - 2)
}
