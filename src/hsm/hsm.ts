/**
 * The HSM port: the whole contract between a region and its HSM boundary.
 *
 * KMS key material exists in plaintext only behind this interface. What crosses it:
 * key tokens (key material sealed under the region's domain key, see
 * docs/spec/key-token.md), caller data (plaintexts, contexts, ciphertext blobs) and
 * results. No method returns key material; data keys leave only because the API
 * returns them to the caller.
 *
 * @module
 */
import type { AsymmetricEncryptionAlgorithm, KeyPairSpec, KeySpec, MacAlgorithm, MessageType, SigningAlgorithm } from '../wire/key-specs.js'

/** Key material sealed under the domain key; opaque outside the HSM. */
export type KeyToken = Uint8Array & { readonly __brand?: 'KeyToken' }

/** A usable key material version: which key, which version, and its sealed material. */
export interface MaterialRef {
  keyId: string
  materialVersion: number
  /** The key's spec: part of the token's binding (docs/spec/key-token.md §2). */
  keySpec: KeySpec
  token: KeyToken
}

export type HsmErrorCode =
  /** The ciphertext, its context or its key do not authenticate. One code for all causes. */
  | 'DECRYPT_FAILED'
  /** A key token does not open under this HSM's domain key for its binding. */
  | 'TOKEN_REJECTED'
  /** The request itself is malformed (a programming error on the caller's side). */
  | 'BAD_REQUEST'
  /**
   * A replication agreement or transfer cannot go on (docs/spec/replication.md §4, §6.2):
   * unknown, used or expired session, a peer public key that is not a P-384 point, a
   * wrapped material that does not authenticate for its binding, or unwrapped material
   * that differs from what this HSM already holds. One code for all causes, so a failed
   * transfer tells its sender nothing about which check refused it.
   */
  | 'TRANSFER_FAILED'
  /** An import token that is not authentic, not for this key, or for other parameters. */
  | 'IMPORT_TOKEN_INVALID'
  /** An import token past its expiry (by the HSM's clock). */
  | 'IMPORT_TOKEN_EXPIRED'
  /** Imported material that unwraps but is not valid material for the key's spec. */
  | 'INCORRECT_MATERIAL'
  /** A peer public key (DeriveSharedSecret) that is not a point of the key's curve. */
  | 'INVALID_PUBLIC_KEY'
  /** A re-encryption whose plaintext is longer than the destination RSA key can encrypt. */
  | 'PLAINTEXT_TOO_LONG'

export class HsmError extends Error {
  readonly code: HsmErrorCode
  constructor(code: HsmErrorCode, message: string = code) {
    super(message)
    this.name = 'HsmError'
    this.code = code
  }
}

export function isHsmError(err: unknown): err is HsmError {
  return err instanceof HsmError || (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'HsmError')
}

/** The public half of a Replication Signing Key (docs/spec/replication.md §2, §3.1). */
export interface RskPublicKey {
  /** First 16 bytes of SHA-256 over `publicKey`, as 32 lower-case hex digits (§2). */
  id: string
  /** SubjectPublicKeyInfo, DER, of the ECDSA P-384 key. */
  publicKey: Uint8Array
  /** Epoch milliseconds; orders the keys (the newest signs). */
  createdAt: number
}

/**
 * What one material transfer is bound to: every field goes into the RWK derivation
 * (docs/spec/replication.md §4.1) and the session id and key id into each wrap's AAD
 * (§4.2), so source and destination must pass identical values.
 */
export interface TransferBinding {
  /** The session id, 32 lower-case hex digits (16 bytes, the HKDF salt). */
  sessionId: string
  partition: string
  sourceRegion: string
  destinationRegion: string
  /** The `mrk-` key id shared by the related keys. */
  keyId: string
}

/** A material version the source holds, with its KeyMaterialId (docs/spec/key-token.md §4). */
/**
 * A destination's ephemeral agreement key (RAKB) as it leaves the HSM: its public point,
 * its expiry, and its private half sealed under the domain key for exactly these
 * (docs/spec/key-token.md §7).
 */
export interface SealedAgreement {
  publicKey: Uint8Array
  expiresAt: number
  sealed: KeyToken
}

export interface MaterialForTransfer extends MaterialRef {
  /** 64 lower-case hex digits. */
  materialId: string
}

/** One material version wrapped under the RWK (docs/spec/replication.md §4.2). */
export interface WrappedMaterial {
  materialVersion: number
  materialId: string
  /** AES-256-GCM ciphertext || 16-byte tag (48 bytes for 256-bit material). */
  wrapped: Uint8Array
}

export type WrappingKeySpec = 'RSA_2048' | 'RSA_3072' | 'RSA_4096'
export type WrappingAlgorithm = 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256' | 'RSA_AES_KEY_WRAP_SHA_1' | 'RSA_AES_KEY_WRAP_SHA_256'

/**
 * The operations of asymmetric, HMAC and imported keys, with their requests and results.
 * They share one typed entry point ({@link Hsm.keyOperation}) so that the port, the worker
 * protocol and both HSM front ends do not each grow a method per operation.
 */
export interface KeyOperations {
  /** DER SubjectPublicKeyInfo of an asymmetric key. */
  getPublicKey: { request: { key: MaterialRef }; result: Uint8Array }
  /**
   * RAW: `message` is hashed; DIGEST: `message` is the digest; EXTERNAL_MU: ML-DSA's μ.
   * ECDSA signatures are DER; Ed25519 and ML-DSA signatures their raw encodings.
   */
  sign: { request: { key: MaterialRef; algorithm: SigningAlgorithm; messageType: MessageType; message: Uint8Array }; result: Uint8Array }
  verify: {
    request: { key: MaterialRef; algorithm: SigningAlgorithm; messageType: MessageType; message: Uint8Array; signature: Uint8Array }
    result: boolean
  }
  asymmetricEncrypt: { request: { key: MaterialRef; algorithm: AsymmetricEncryptionAlgorithm; plaintext: Uint8Array }; result: Uint8Array }
  /** `DECRYPT_FAILED` for every failure. */
  asymmetricDecrypt: { request: { key: MaterialRef; algorithm: AsymmetricEncryptionAlgorithm; ciphertext: Uint8Array }; result: Uint8Array }
  /** ECDH with a peer's DER SubjectPublicKeyInfo: the raw shared secret; `INVALID_PUBLIC_KEY` for a bad peer key. */
  deriveSharedSecret: { request: { key: MaterialRef; peerPublicKey: Uint8Array }; result: Uint8Array }
  /** ML-KEM encapsulation to the key's public key: a fresh 32-byte shared secret and its ciphertext. */
  encapsulate: { request: { key: MaterialRef }; result: { ciphertext: Uint8Array; sharedSecret: Uint8Array } }
  /**
   * ML-KEM decapsulation. A ciphertext of the right length always yields a secret (implicit
   * rejection makes a pseudo-random one for a wrong ciphertext); `DECRYPT_FAILED` only for
   * a ciphertext of the wrong length.
   */
  decapsulate: { request: { key: MaterialRef; ciphertext: Uint8Array }; result: Uint8Array }
  generateMac: { request: { key: MaterialRef; algorithm: MacAlgorithm; message: Uint8Array }; result: Uint8Array }
  /** Compares in constant time inside the HSM. */
  verifyMac: { request: { key: MaterialRef; algorithm: MacAlgorithm; message: Uint8Array; mac: Uint8Array }; result: boolean }
  /**
   * ReEncrypt where either side is an RSA key: decrypts under `source`, encrypts under
   * `destination`, the plaintext never leaving the HSM. `DECRYPT_FAILED` for any failure of
   * the source side; `PLAINTEXT_TOO_LONG` if an RSA destination cannot take the plaintext.
   */
  reEncryptAny: {
    request: { source: ReEncryptSide; ciphertext: Uint8Array; destination: ReEncryptSide }
    result: Uint8Array
  }
  /** A fresh key pair whose private key (PKCS#8 DER) is encrypted under the symmetric `key`. */
  generateDataKeyPair: {
    request: { key: MaterialRef; keyPairSpec: KeyPairSpec; encodedContext: Uint8Array; includePlaintext: boolean }
    result: { privateKeyCiphertextBlob: Uint8Array; privateKeyPlaintext?: Uint8Array; publicKey: Uint8Array }
  }
  /**
   * GetParametersForImport: a fresh RSA wrapping key pair. The private half leaves only inside
   * the import token, sealed under the domain key and bound to the key, its spec, the wrapping
   * algorithm and `expiresAt` (docs/spec/key-token.md §6).
   */
  createImportParameters: {
    request: { keyId: string; keySpec: KeySpec; wrappingKeySpec: WrappingKeySpec; wrappingAlgorithm: WrappingAlgorithm; expiresAt: number }
    result: { publicKey: Uint8Array; importToken: Uint8Array }
  }
  /**
   * ImportKeyMaterial: opens the import token, unwraps the material and seals it as a key
   * token for (keyId, materialVersion, keySpec). The material id is computed from the key id
   * and the material (docs/spec/key-token.md §5), so equal material gives equal ids.
   */
  importKeyMaterial: {
    request: {
      keyId: string
      keySpec: KeySpec
      materialVersion: number
      importToken: Uint8Array
      encryptedKeyMaterial: Uint8Array
      /** The region's clock (epoch ms): the token is refused once expired by it or by the HSM's own. */
      now: number
    }
    result: { token: KeyToken; materialId: string }
  }
}
export type KeyOperationName = keyof KeyOperations

/** One side of a re-encryption: a symmetric key with its encoded context, or an RSA key with its algorithm. */
export type ReEncryptSide =
  | { key: MaterialRef; algorithm: 'SYMMETRIC_DEFAULT'; encodedContext: Uint8Array }
  | { key: MaterialRef; algorithm: AsymmetricEncryptionAlgorithm }

/**
 * The HSM port as one table: each call's arguments and result. Everything else derives
 * from it: the port itself ({@link Hsm}), the worker's messages (worker-protocol.ts), the
 * worker's dispatch (worker.ts), the worker client (worker-hsm.ts) and the in-process
 * HSM of the tests (in-process-hsm.ts); a call added here is a compile error in each
 * place that must handle it, and nowhere else.
 */
export interface HsmCalls {
  /** Generates fresh key material of `keySpec` for (keyId, version) and returns it sealed. */
  createKeyMaterial: { args: [keyId: string, materialVersion: number, keySpec: KeySpec]; result: KeyToken }
  /** Asymmetric, HMAC, KEM and import operations (see {@link KeyOperations}). */
  keyOperation: {
    args: { [N in KeyOperationName]: [name: N, request: KeyOperations[N]['request']] }[KeyOperationName]
    result: KeyOperations[KeyOperationName]['result']
  }
  /** Encrypts under `key` into a ciphertext blob (docs/spec/ciphertext-blob.md). */
  encrypt: { args: [key: MaterialRef, plaintext: Uint8Array, encodedContext: Uint8Array]; result: Uint8Array }
  /** Decrypts a blob the caller attributed to `key` by its unauthenticated header. */
  decrypt: { args: [key: MaterialRef, blob: Uint8Array, encodedContext: Uint8Array]; result: Uint8Array }
  /** Generates a data key of `numberOfBytes` and returns it encrypted under `key`, and in plaintext if asked. */
  generateDataKey: {
    args: [key: MaterialRef, numberOfBytes: number, encodedContext: Uint8Array, includePlaintext: boolean]
    result: { ciphertextBlob: Uint8Array; plaintext?: Uint8Array }
  }
  /** Decrypts under `source` and encrypts under `destination` without the plaintext leaving the HSM. */
  reEncrypt: {
    args: [source: MaterialRef, blob: Uint8Array, sourceContext: Uint8Array, destination: MaterialRef, destinationContext: Uint8Array]
    result: Uint8Array
  }
  generateRandom: { args: [numberOfBytes: number]; result: Uint8Array }

  // Replication (docs/spec/replication.md). Everything that needs a private key or key
  // material in plaintext; messages, trust stores and session state live in the region.

  /**
   * This HSM's Replication Signing Keys, oldest first: the newest (last) is the one
   * `signReplication` uses (docs/spec/replication.md §2, §3.2).
   */
  replicationSigningKeys: { args: []; result: RskPublicKey[] }
  /**
   * Signs a message body with the newest RSK: ECDSA P-384 / SHA-384 over
   * `"trent-replication-v1" || 0x00 || body` (docs/spec/replication.md §3.2 rule 1).
   * The signature is the 96-byte r || s (IEEE P1363), as the envelope carries it (§5.1).
   */
  signReplication: { args: [body: Uint8Array]; result: { keyId: string; signature: Uint8Array } }
  /**
   * Creates a new RSK, stores it sealed and signs with it from now on
   * (docs/spec/replication.md §3.2, "Rotating an RSK"). Older RSKs stay listed.
   */
  rotateReplicationSigningKey: { args: []; result: RskPublicKey }
  /**
   * Destination side: generates the session's ephemeral RAKB and returns its public key
   * (an uncompressed SEC1 point, 97 bytes) and its private half **sealed under the domain
   * key**, bound to the session id, `expiresAt` and the public point
   * (docs/spec/replication.md §4.3, §6.2). The region keeps the sealed agreement in the
   * session record, so that any node of the region (they share the domain key) can
   * complete the session, and a restart does not lose it; the region deletes it when the
   * session ends, which is what makes it single-use.
   */
  openAgreement: { args: [sessionId: string, expiresAt: number]; result: SealedAgreement }
  /**
   * Source side: generates RAKA, derives the RWK with `rakbPublicKey` and wraps each
   * material version under it, then drops RAKA, all in this one call
   * (docs/spec/replication.md §4.1–§4.3). `materials` must be the binding's key, in strictly
   * ascending version order; `wrapped` comes back in the same order.
   */
  wrapForTransfer: {
    args: [binding: TransferBinding, rakbPublicKey: Uint8Array, materials: MaterialForTransfer[]]
    result: { rakaPublicKey: Uint8Array; wrapped: WrappedMaterial[] }
  }
  /**
   * Unwraps with the session's RAKB, opened from `agreement` (which must be authentic for
   * the binding's session id and not expired), and seals each version under this HSM's
   * domain key. Each must be valid material of `keySpec`, the key's spec from the signed
   * shared state. `alreadyHeld`: versions the destination already has; each must decrypt
   * to identical bytes or the whole call fails.
   *
   * Destination side (docs/spec/replication.md §4.1–§4.3, §6.2). Returns one key token per
   * entry of `wrapped`, in its order. Any failure of the agreement or the unwrap is
   * `TRANSFER_FAILED` and yields nothing.
   */
  unwrapTransfer: {
    args: [
      binding: TransferBinding,
      rakaPublicKey: Uint8Array,
      wrapped: WrappedMaterial[],
      alreadyHeld: MaterialRef[],
      keySpec: KeySpec,
      agreement: SealedAgreement,
    ]
    result: KeyToken[]
  }
}

export type HsmCallName = keyof HsmCalls

/** Every call of the table, at run time: what a worker may be asked, what each implementation forwards. */
export const HSM_CALLS = [
  'createKeyMaterial',
  'keyOperation',
  'encrypt',
  'decrypt',
  'generateDataKey',
  'reEncrypt',
  'generateRandom',
  'replicationSigningKeys',
  'signReplication',
  'rotateReplicationSigningKey',
  'openAgreement',
  'wrapForTransfer',
  'unwrapTransfer',
] as const satisfies readonly HsmCallName[]

// The list names every call of the table: a call left out is a compile error here.
const everyCallListed: Exclude<HsmCallName, (typeof HSM_CALLS)[number]> extends never ? true : never = true
void everyCallListed

/** True if `name` is a call of the table (a worker checks what it is asked before it dispatches). */
export function isHsmCall(name: unknown): name is HsmCallName {
  return typeof name === 'string' && (HSM_CALLS as readonly string[]).includes(name)
}

/** The port: one asynchronous method per call of the table, `keyOperation` generic over its name. */
export type Hsm = {
  [C in Exclude<HsmCallName, 'keyOperation'>]: (...args: HsmCalls[C]['args']) => Promise<HsmCalls[C]['result']>
} & {
  keyOperation<N extends KeyOperationName>(name: N, request: KeyOperations[N]['request']): Promise<KeyOperations[N]['result']>
  close(): Promise<void>
}

/**
 * What implements the table inside the boundary (soft/soft-hsm.ts): the same calls,
 * answering at once or later.
 */
export type HsmImplementation = {
  [C in Exclude<HsmCallName, 'keyOperation'>]: (...args: HsmCalls[C]['args']) => HsmCalls[C]['result'] | Promise<HsmCalls[C]['result']>
} & {
  keyOperation<N extends KeyOperationName>(
    name: N,
    request: KeyOperations[N]['request'],
  ): KeyOperations[N]['result'] | Promise<KeyOperations[N]['result']>
}

/** Runs one call of the table on an implementation (the one place a call is dispatched by name). */
export function dispatchHsmCall(implementation: HsmImplementation, name: HsmCallName, args: readonly unknown[]): unknown {
  // `name` is a call of the table and `args` its arguments (the worker checks the name
  // first; the region builds both from the table), so the method takes them.
  const method = implementation[name] as (...callArgs: readonly unknown[]) => unknown
  return method.apply(implementation, [...args])
}

/**
 * An {@link Hsm} whose every call goes through `call`, with the call's name and its
 * arguments as the table gives them: how both implementations are built.
 */
export function hsmOver(call: (name: HsmCallName, args: readonly unknown[]) => Promise<unknown>, close: () => Promise<void>): Hsm {
  const methods: Record<string, unknown> = { close }
  for (const name of HSM_CALLS) methods[name] = (...args: unknown[]) => call(name, args)
  // Each method was made from the table's own list of calls, so the object has the port's shape.
  return methods as Hsm
}
