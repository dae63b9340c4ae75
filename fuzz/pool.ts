/**
 * The key pool, as the generators know it: which keys exist (by slot name), of which
 * spec, usage, origin and state, and the names of the fixtures made with them. The
 * generators only ever use these names; fixtures.ts makes the keys and values in the
 * partition under test before a run (and again before a replay, so a recipe's names
 * resolve in whatever partition it is replayed against).
 *
 * The facts about key specs here (algorithms, digest lengths, RSA-OAEP limits) are AWS's,
 * from the KMS developer guide, written out independently of Trent's own tables so that
 * the fuzzer does not inherit their mistakes.
 *
 * @module
 */

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport'

export interface KeySlot {
  readonly name: string
  readonly keySpec: string
  readonly keyUsage: 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | 'KEY_AGREEMENT'
  readonly origin?: 'EXTERNAL'
  readonly multiRegion?: boolean
  /** Replicated into the partition's second region before the run. */
  readonly replicated?: boolean
  /** The state it is put in before the run. */
  readonly state: KeyState
  /** Only scratch keys are given to requests that change keys (disable, delete, policies, import...). */
  readonly scratch: boolean
  /** Has an alias, `alias/fuzz-<slot>`. */
  readonly alias?: boolean
  /**
   * The target of SigV4 attacks that, if accepted, would disable or enable it or change
   * its description: no other request uses it, so nothing else depends on its state and
   * its state (Enabled or Disabled) never makes an accepted attack fail for another reason.
   */
  readonly victim?: boolean
}

function slot(
  name: string,
  keySpec: string,
  keyUsage: KeySlot['keyUsage'],
  extra: Partial<Omit<KeySlot, 'name' | 'keySpec' | 'keyUsage'>> = {},
): KeySlot {
  return { name, keySpec, keyUsage, state: 'Enabled', scratch: false, ...extra }
}

export const KEY_SLOTS: readonly KeySlot[] = [
  slot('sym', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { alias: true }),
  slot('sym-b', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT'),
  slot('rsa2048-enc', 'RSA_2048', 'ENCRYPT_DECRYPT'),
  slot('rsa3072-enc', 'RSA_3072', 'ENCRYPT_DECRYPT'),
  slot('rsa4096-enc', 'RSA_4096', 'ENCRYPT_DECRYPT'),
  slot('rsa2048-sign', 'RSA_2048', 'SIGN_VERIFY', { alias: true }),
  slot('rsa3072-sign', 'RSA_3072', 'SIGN_VERIFY'),
  slot('rsa4096-sign', 'RSA_4096', 'SIGN_VERIFY'),
  slot('p256-sign', 'ECC_NIST_P256', 'SIGN_VERIFY'),
  slot('p384-sign', 'ECC_NIST_P384', 'SIGN_VERIFY'),
  slot('p521-sign', 'ECC_NIST_P521', 'SIGN_VERIFY'),
  slot('k256-sign', 'ECC_SECG_P256K1', 'SIGN_VERIFY'),
  slot('p256-agree', 'ECC_NIST_P256', 'KEY_AGREEMENT'),
  slot('p384-agree', 'ECC_NIST_P384', 'KEY_AGREEMENT'),
  slot('p521-agree', 'ECC_NIST_P521', 'KEY_AGREEMENT'),
  slot('hmac224', 'HMAC_224', 'GENERATE_VERIFY_MAC'),
  slot('hmac256', 'HMAC_256', 'GENERATE_VERIFY_MAC', { alias: true }),
  slot('hmac384', 'HMAC_384', 'GENERATE_VERIFY_MAC'),
  slot('hmac512', 'HMAC_512', 'GENERATE_VERIFY_MAC'),
  slot('mrk-sym', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { multiRegion: true, replicated: true }),
  slot('mrk-p256-sign', 'ECC_NIST_P256', 'SIGN_VERIFY', { multiRegion: true, replicated: true }),
  slot('ext-sym', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { origin: 'EXTERNAL' }),
  slot('ext-pending', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { origin: 'EXTERNAL', state: 'PendingImport' }),
  slot('ext-hmac-pending', 'HMAC_256', 'GENERATE_VERIFY_MAC', { origin: 'EXTERNAL', state: 'PendingImport' }),
  slot('disabled-sym', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { state: 'Disabled' }),
  slot('deleting-sym', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { state: 'PendingDeletion' }),
  slot('deleting-p256-sign', 'ECC_NIST_P256', 'SIGN_VERIFY', { state: 'PendingDeletion' }),
  // Scratch keys: whatever the run does to them is fine.
  slot('scratch-sym-1', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { scratch: true, alias: true }),
  slot('scratch-sym-2', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { scratch: true }),
  slot('scratch-sym-3', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { scratch: true }),
  slot('scratch-rsa2048-enc', 'RSA_2048', 'ENCRYPT_DECRYPT', { scratch: true }),
  slot('scratch-p256-sign', 'ECC_NIST_P256', 'SIGN_VERIFY', { scratch: true }),
  slot('scratch-p256-agree', 'ECC_NIST_P256', 'KEY_AGREEMENT', { scratch: true }),
  slot('scratch-hmac256', 'HMAC_256', 'GENERATE_VERIFY_MAC', { scratch: true }),
  slot('scratch-mrk-1', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { scratch: true, multiRegion: true }),
  slot('scratch-mrk-2', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { scratch: true, multiRegion: true, replicated: true }),
  slot('scratch-ext-1', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { scratch: true, origin: 'EXTERNAL', state: 'PendingImport' }),
  slot('scratch-ext-2', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { scratch: true, origin: 'EXTERNAL' }),
  slot('scratch-ext-hmac', 'HMAC_256', 'GENERATE_VERIFY_MAC', { scratch: true, origin: 'EXTERNAL', state: 'PendingImport' }),
  slot('victim', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { victim: true }),
]

/** The slots requests may pick at random: all but the SigV4 attacks' victim. */
export const PICKABLE_SLOTS: readonly KeySlot[] = KEY_SLOTS.filter((slot) => slot.victim !== true)

export function slotNamed(name: string): KeySlot {
  const found = KEY_SLOTS.find((candidate) => candidate.name === name)
  if (found === undefined) throw new Error(`no key slot ${name}`)
  return found
}

export function slotsWhere(predicate: (slot: KeySlot) => boolean): KeySlot[] {
  return KEY_SLOTS.filter(predicate)
}

// ---------------------------------------------------------------------------------------
// Fixture names

export const fixture = {
  keyId: (slotName: string) => `key:${slotName}:id`,
  keyArn: (slotName: string) => `key:${slotName}:arn`,
  /** The ARN of the replica in the second region (replicated slots). */
  replicaArn: (slotName: string) => `key:${slotName}:replica-arn`,
  aliasName: (slotName: string) => `alias:${slotName}`,
  aliasArn: (slotName: string) => `alias:${slotName}:arn`,
  /** A ciphertext of `plaintext` under the slot's key (symmetric: with ENCRYPTION_CONTEXT). */
  ciphertext: (slotName: string) => `ct:${slotName}`,
  /** Symmetric slots: a ciphertext made with no encryption context. */
  ciphertextNoContext: (slotName: string) => `ct:${slotName}:no-context`,
  /** A GenerateDataKey ciphertext (symmetric slots). */
  dataKey: (slotName: string) => `dk:${slotName}`,
  signature: (slotName: string) => `sig:${slotName}`,
  mac: (slotName: string) => `mac:${slotName}`,
  publicKey: (slotName: string) => `pub:${slotName}`,
  importToken: (slotName: string) => `import:${slotName}:token`,
  importPublicKey: (slotName: string) => `import:${slotName}:public-key`,
  /** The material imported (or to import) into an EXTERNAL slot. */
  material: (slotName: string) => `material:${slotName}`,
  grantToken: (slotName: string) => `grant:${slotName}:token`,
  grantId: (slotName: string) => `grant:${slotName}:id`,
  /** A locally made public key (SubjectPublicKeyInfo DER) on a curve, for DeriveSharedSecret. */
  peerPublicKey: (curve: string) => `peer:${curve}`,
  account: 'account',
  rootArn: 'root-arn',
  primaryRegion: 'region:primary',
  secondaryRegion: 'region:secondary',
  /** base64 of PLAINTEXT. */
  plaintext: 'plaintext',
  /** base64 of MESSAGE. */
  message: 'message',
} as const

/** What every ciphertext fixture encrypts, and under which context (symmetric keys). */
export const PLAINTEXT = Buffer.from('fuzz plaintext: 32 bytes exactly')
export const ENCRYPTION_CONTEXT: Readonly<Record<string, string>> = { purpose: 'fuzz', tenant: 't-1' }
/** What every signature and MAC fixture signs. */
export const MESSAGE = Buffer.from('the fuzzer signs this message')

/** Grant operations given with the pool's grants. */
export const POOL_GRANT_OPERATIONS = ['Encrypt', 'Decrypt', 'GenerateDataKey', 'DescribeKey']

// ---------------------------------------------------------------------------------------
// Key-spec facts (AWS KMS developer guide, "Key spec reference")

export const RSA_ENCRYPTION_ALGORITHMS = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const
export const RSA_SIGNING_ALGORITHMS = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
] as const

export function signingAlgorithmsOf(keySpec: string): readonly string[] {
  switch (keySpec) {
    case 'ECC_NIST_P256':
    case 'ECC_SECG_P256K1':
      return ['ECDSA_SHA_256']
    case 'ECC_NIST_P384':
      return ['ECDSA_SHA_384']
    case 'ECC_NIST_P521':
      return ['ECDSA_SHA_512']
    default:
      return keySpec.startsWith('RSA_') ? RSA_SIGNING_ALGORITHMS : []
  }
}

export function macAlgorithmOf(keySpec: string): string {
  return `HMAC_SHA_${keySpec.slice('HMAC_'.length)}`
}

/** Bytes of the digest a DIGEST message must be for `algorithm`. */
export function digestLengthOf(algorithm: string): number {
  if (algorithm.endsWith('384')) return 48
  if (algorithm.endsWith('512')) return 64
  return 32
}

/** The largest plaintext RSAES-OAEP takes: modulus - 2 * hash - 2 bytes. */
export function rsaMaxPlaintext(keySpec: string, algorithm: string): number {
  const modulusBytes = Number(keySpec.slice('RSA_'.length)) / 8
  const hashBytes = algorithm.endsWith('SHA_1') ? 20 : 32
  return modulusBytes - 2 * hashBytes - 2
}

export function curveOf(keySpec: string): string | undefined {
  switch (keySpec) {
    case 'ECC_NIST_P256':
      return 'P-256'
    case 'ECC_NIST_P384':
      return 'P-384'
    case 'ECC_NIST_P521':
      return 'P-521'
    case 'ECC_SECG_P256K1':
      return 'secp256k1'
    default:
      return undefined
  }
}

export const PEER_CURVES = ['P-256', 'P-384', 'P-521', 'secp256k1'] as const

/** Key material bytes that are valid for a spec when imported (symmetric and HMAC keys only). */
export function materialLengthOf(keySpec: string): number {
  if (keySpec === 'SYMMETRIC_DEFAULT') return 32
  if (keySpec.startsWith('HMAC_')) return Number(keySpec.slice('HMAC_'.length)) / 8
  return 32
}
