/**
 * The vocabulary of KMS key types, as AWS names them: key specs, key usages and the
 * algorithms each combination offers (DescribeKey's `EncryptionAlgorithms`,
 * `SigningAlgorithms`, `MacAlgorithms`, `KeyAgreementAlgorithms`,
 * `EncapsulationAlgorithms`). The cryptography
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
  'ECC_NIST_EDWARDS25519',
  'ML_DSA_44',
  'ML_DSA_65',
  'ML_DSA_87',
  'ML_KEM_512',
  'ML_KEM_768',
  'ML_KEM_1024',
] as const
export const HMAC_KEY_SPECS = ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'] as const

export type AsymmetricKeySpec = (typeof ASYMMETRIC_KEY_SPECS)[number]
export type HmacKeySpec = (typeof HMAC_KEY_SPECS)[number]
export type KeySpec = 'SYMMETRIC_DEFAULT' | AsymmetricKeySpec | HmacKeySpec
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | 'KEY_AGREEMENT' | 'ENCAPSULATE_DECAPSULATE'
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
  | 'ED25519_SHA_512'
  | 'ED25519_PH_SHA_512'
  | 'ML_DSA_SHAKE_256'
export type AsymmetricEncryptionAlgorithm = 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256'
export type EncryptionAlgorithm = AsymmetricEncryptionAlgorithm
export type MacAlgorithm = 'HMAC_SHA_224' | 'HMAC_SHA_256' | 'HMAC_SHA_384' | 'HMAC_SHA_512'
/** RAW: the message; DIGEST: its hash; EXTERNAL_MU: ML-DSA's 64-byte μ (FIPS 204 §6.2). */
export type MessageType = 'RAW' | 'DIGEST' | 'EXTERNAL_MU'
export type EncapsulationAlgorithm = 'ML_KEM'
/**
 * GenerateDataKeyPair's specs: AWS's DataKeyPairSpec, which has every asymmetric spec but
 * ML-DSA (SM2 is China Regions only and not offered).
 */
export type KeyPairSpec = Exclude<AsymmetricKeySpec, 'ML_DSA_44' | 'ML_DSA_65' | 'ML_DSA_87'>

export const KEY_SPECS: readonly KeySpec[] = ['SYMMETRIC_DEFAULT', ...ASYMMETRIC_KEY_SPECS, ...HMAC_KEY_SPECS]
export const KEY_PAIR_SPECS: readonly KeyPairSpec[] = ASYMMETRIC_KEY_SPECS.filter(
  (spec): spec is KeyPairSpec => !spec.startsWith('ML_DSA_'),
)
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
  'ED25519_SHA_512',
  'ED25519_PH_SHA_512',
  'ML_DSA_SHAKE_256',
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
  // Ed25519 and secp256k1 sign only: AWS offers key agreement on the NIST prime curves.
  if (spec === 'ECC_SECG_P256K1' || spec === 'ECC_NIST_EDWARDS25519') return ['SIGN_VERIFY']
  if (spec.startsWith('ECC_NIST_')) return ['SIGN_VERIFY', 'KEY_AGREEMENT']
  if (spec.startsWith('ML_DSA_')) return ['SIGN_VERIFY']
  if (spec.startsWith('ML_KEM_')) return ['ENCAPSULATE_DECAPSULATE']
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
    case 'ECC_NIST_EDWARDS25519':
      return ['ED25519_SHA_512', 'ED25519_PH_SHA_512']
    case 'ML_DSA_44':
    case 'ML_DSA_65':
    case 'ML_DSA_87':
      return ['ML_DSA_SHAKE_256']
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
  return keyUsagesFor(spec).includes('KEY_AGREEMENT') ? ['ECDH'] : []
}

export function encapsulationAlgorithmsFor(spec: KeySpec): EncapsulationAlgorithm[] {
  return spec.startsWith('ML_KEM_') ? ['ML_KEM'] : []
}

/**
 * The message types a signing algorithm takes (AWS, Sign's MessageType): RSA and ECDSA
 * hash a RAW message or take its DIGEST; ED25519_SHA_512 (PureEdDSA) needs the whole
 * message and ED25519_PH_SHA_512 a SHA-512 digest, "These message types cannot be used
 * interchangeably"; ML-DSA takes the message or its μ, never a DIGEST.
 */
export function messageTypesFor(algorithm: SigningAlgorithm): MessageType[] {
  switch (algorithm) {
    case 'ED25519_SHA_512':
      return ['RAW']
    case 'ED25519_PH_SHA_512':
      return ['DIGEST']
    case 'ML_DSA_SHAKE_256':
      return ['RAW', 'EXTERNAL_MU']
    default:
      return ['RAW', 'DIGEST']
  }
}

/** The length of ML-DSA's μ, the message representative of FIPS 204 §6.2 (SHAKE256 output, 512 bits). */
export const EXTERNAL_MU_BYTES = 64

export interface KeyAlgorithms {
  EncryptionAlgorithms: Array<EncryptionAlgorithm | 'SYMMETRIC_DEFAULT'>
  SigningAlgorithms: SigningAlgorithm[]
  MacAlgorithms: MacAlgorithm[]
  KeyAgreementAlgorithms: Array<'ECDH'>
  EncapsulationAlgorithms: EncapsulationAlgorithm[]
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
    EncapsulationAlgorithms: fits && usage === 'ENCAPSULATE_DECAPSULATE' ? encapsulationAlgorithmsFor(spec) : [],
  }
}

/**
 * The length, in bytes, of what a non-RAW message must be: the hash of a DIGEST (a SHA-512
 * digest for ED25519_PH_SHA_512), μ for ML-DSA's EXTERNAL_MU.
 */
export function digestLengthOf(algorithm: SigningAlgorithm): number {
  if (algorithm === 'ML_DSA_SHAKE_256') return EXTERNAL_MU_BYTES
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
