/**
 * KMS key identifiers: the two id grammars AWS accepts, and their 17-byte binary form
 * used inside ciphertext blobs (docs/spec/ciphertext-blob.md §2).
 *
 * @module
 */

const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const MRK_PATTERN = /^mrk-[0-9a-fA-F]{32}$/

/** Binary tag of each id kind, the first byte of the encoded id. */
export const KEY_ID_KIND = { uuid: 0x01, mrk: 0x02 } as const

/** Bytes an encoded key id takes: one kind byte and 16 id bytes. */
export const ENCODED_KEY_ID_LENGTH = 17

export function isWellFormedKeyId(value: string): boolean {
  return UUID_PATTERN.test(value) || MRK_PATTERN.test(value)
}

export function isMultiRegionKeyId(value: string): boolean {
  return MRK_PATTERN.test(value)
}

/** Encodes a canonical (lower-case) key id. Throws RangeError on anything else. */
export function encodeKeyId(keyId: string): Uint8Array {
  const out = new Uint8Array(ENCODED_KEY_ID_LENGTH)
  let hex: string
  if (MRK_PATTERN.test(keyId)) {
    out[0] = KEY_ID_KIND.mrk
    hex = keyId.slice(4)
  } else if (UUID_PATTERN.test(keyId)) {
    out[0] = KEY_ID_KIND.uuid
    hex = keyId.replaceAll('-', '')
  } else {
    throw new RangeError('keyId: not a key id')
  }
  if (hex !== hex.toLowerCase()) throw new RangeError('keyId: not in canonical lower case')
  out.set(Buffer.from(hex, 'hex'), 1)
  return out
}

/** Decodes the 17-byte form; returns undefined for an unknown kind byte. */
export function decodeKeyId(bytes: Uint8Array): string | undefined {
  if (bytes.length !== ENCODED_KEY_ID_LENGTH) return undefined
  const hex = Buffer.from(bytes.subarray(1)).toString('hex')
  switch (bytes[0]) {
    case KEY_ID_KIND.mrk:
      return `mrk-${hex}`
    case KEY_ID_KIND.uuid:
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
    default:
      return undefined
  }
}
