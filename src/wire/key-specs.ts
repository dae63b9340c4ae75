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
export type MacAlgorithm = 'HMAC_SHA_224' | 'HMAC_SHA_256' | 'HMAC_SHA_384' | 'HMAC_SHA_512'
export type MessageType = 'RAW' | 'DIGEST'
/** GenerateDataKeyPair's specs (SM2 is China Regions only and not offered). */
export type KeyPairSpec = AsymmetricKeySpec

export const KEY_SPECS: readonly KeySpec[] = ['SYMMETRIC_DEFAULT', ...ASYMMETRIC_KEY_SPECS, ...HMAC_KEY_SPECS]
export const KEY_PAIR_SPECS: readonly KeyPairSpec[] = ASYMMETRIC_KEY_SPECS

export function isKeySpec(value: string): value is KeySpec {
  return (KEY_SPECS as readonly string[]).includes(value)
}

export function isAsymmetric(spec: KeySpec): spec is AsymmetricKeySpec {
  return (ASYMMETRIC_KEY_SPECS as readonly string[]).includes(spec)
}

export function isHmac(spec: KeySpec): spec is HmacKeySpec {
  return (HMAC_KEY_SPECS as readonly string[]).includes(spec)
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
  if (spec.startsWith('RSA_')) return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY']
  if (spec === 'ECC_SECG_P256K1') return ['SIGN_VERIFY']
  return ['SIGN_VERIFY', 'KEY_AGREEMENT']
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

export function encryptionAlgorithmsFor(spec: KeySpec): string[] {
  if (spec === 'SYMMETRIC_DEFAULT') return ['SYMMETRIC_DEFAULT']
  if (spec.startsWith('RSA_')) return ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']
  return []
}

export function macAlgorithmsFor(spec: KeySpec): MacAlgorithm[] {
  return isHmac(spec) ? [`HMAC_SHA_${spec.slice('HMAC_'.length)}` as MacAlgorithm] : []
}

export function keyAgreementAlgorithmsFor(spec: KeySpec): string[] {
  return spec.startsWith('ECC_NIST_') ? ['ECDH'] : []
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
