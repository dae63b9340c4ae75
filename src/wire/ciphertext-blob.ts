/**
 * The Trent ciphertext blob, version 1 (docs/spec/ciphertext-blob.md).
 *
 * ```
 * offset  size  field
 * 0       1     format version, 0x01
 * 1       17    key id (kind byte + 16 bytes, see key-id.ts); never the region, so that
 *               every related multi-Region key can decrypt it
 * 18      4     key material version, uint32 big-endian, >= 1
 * 22      16    KDF salt: random per ciphertext
 * 38      12    AES-GCM IV: random per ciphertext
 * 50      n     AES-256-GCM ciphertext of the plaintext
 * 50+n    16    AES-GCM tag
 * ```
 * This module only lays bytes out; it holds no key and decides nothing about secrets.
 *
 * @module
 */

import { ENCODED_KEY_ID_LENGTH, decodeKeyId, encodeKeyId } from './key-id.js'

export const CIPHERTEXT_FORMAT_V1 = 0x01
export const SALT_LENGTH = 16
export const IV_LENGTH = 12
export const TAG_LENGTH = 16

const VERSION_OFFSET = 1 + ENCODED_KEY_ID_LENGTH
const SALT_OFFSET = VERSION_OFFSET + 4
const IV_OFFSET = SALT_OFFSET + SALT_LENGTH
/** Bytes before the encrypted payload: everything the AAD covers. */
export const HEADER_LENGTH = IV_OFFSET + IV_LENGTH
/** Bytes a blob adds to its plaintext. */
export const BLOB_OVERHEAD = HEADER_LENGTH + TAG_LENGTH

export interface CiphertextHeader {
  keyId: string
  materialVersion: number
  salt: Uint8Array
  iv: Uint8Array
}

/** The first 38 bytes: the fields the per-ciphertext key is derived from (spec §3). */
export function kdfContextOf(header: Uint8Array): Uint8Array {
  return header.subarray(0, IV_OFFSET)
}

export function encodeCiphertextHeader(header: CiphertextHeader): Uint8Array {
  if (header.salt.length !== SALT_LENGTH) throw new RangeError('salt: wrong length')
  if (header.iv.length !== IV_LENGTH) throw new RangeError('iv: wrong length')
  if (!Number.isInteger(header.materialVersion) || header.materialVersion < 1 || header.materialVersion > 0xffffffff) {
    throw new RangeError('materialVersion: out of range')
  }
  const out = Buffer.alloc(HEADER_LENGTH)
  out[0] = CIPHERTEXT_FORMAT_V1
  out.set(encodeKeyId(header.keyId), 1)
  out.writeUInt32BE(header.materialVersion, VERSION_OFFSET)
  out.set(header.salt, SALT_OFFSET)
  out.set(header.iv, IV_OFFSET)
  return out
}

/**
 * Reads the header of a blob BEFORE anything is authenticated, so that the caller can
 * find the key it names. Nothing read here may be trusted until the HSM has checked the
 * tag; a blob that cannot even be parsed returns undefined, and the caller must answer
 * exactly as it does for a failed tag (InvalidCiphertextException).
 */
export function parseCiphertextHeaderUnauthenticated(blob: Uint8Array): CiphertextHeader | undefined {
  if (blob.length < BLOB_OVERHEAD || blob[0] !== CIPHERTEXT_FORMAT_V1) return undefined
  const keyId = decodeKeyId(blob.subarray(1, VERSION_OFFSET))
  if (keyId === undefined) return undefined
  const view = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength)
  const materialVersion = view.readUInt32BE(VERSION_OFFSET)
  if (materialVersion < 1) return undefined
  return {
    keyId,
    materialVersion,
    salt: blob.subarray(SALT_OFFSET, IV_OFFSET),
    iv: blob.subarray(IV_OFFSET, HEADER_LENGTH),
  }
}
