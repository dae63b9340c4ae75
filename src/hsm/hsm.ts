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

/** Key material sealed under the domain key; opaque outside the HSM. */
export type KeyToken = Uint8Array & { readonly __brand?: 'KeyToken' }

/** A usable key material version: which key, which version, and its sealed material. */
export interface MaterialRef {
  keyId: string
  materialVersion: number
  token: KeyToken
}

export type HsmErrorCode =
  /** The ciphertext, its context or its key do not authenticate. One code for all causes. */
  | 'DECRYPT_FAILED'
  /** A key token does not open under this HSM's domain key for its binding. */
  | 'TOKEN_REJECTED'
  /** The request itself is malformed (a programming error on the caller's side). */
  | 'BAD_REQUEST'

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

export interface Hsm {
  /** Generates fresh 256-bit key material for (keyId, version) and returns it sealed. */
  createKeyMaterial(keyId: string, materialVersion: number): Promise<KeyToken>
  /** Encrypts under `key` into a ciphertext blob (docs/spec/ciphertext-blob.md). */
  encrypt(key: MaterialRef, plaintext: Uint8Array, encodedContext: Uint8Array): Promise<Uint8Array>
  /** Decrypts a blob the caller attributed to `key` by its unauthenticated header. */
  decrypt(key: MaterialRef, blob: Uint8Array, encodedContext: Uint8Array): Promise<Uint8Array>
  /** Generates a data key of `numberOfBytes` and returns it encrypted under `key`, and in plaintext if asked. */
  generateDataKey(
    key: MaterialRef,
    numberOfBytes: number,
    encodedContext: Uint8Array,
    includePlaintext: boolean,
  ): Promise<{ ciphertextBlob: Uint8Array; plaintext?: Uint8Array }>
  /** Decrypts under `source` and encrypts under `destination` without the plaintext leaving the HSM. */
  reEncrypt(
    source: MaterialRef,
    blob: Uint8Array,
    sourceContext: Uint8Array,
    destination: MaterialRef,
    destinationContext: Uint8Array,
  ): Promise<Uint8Array>
  generateRandom(numberOfBytes: number): Promise<Uint8Array>
  close(): Promise<void>
}
