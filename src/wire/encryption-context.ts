/**
 * Canonical serialisation of a KMS encryption context, the part of the AAD that binds a
 * ciphertext to its context (docs/spec/ciphertext-blob.md §4).
 *
 * Pairs are sorted by the UTF-8 bytes of their keys (not by JS string order, which
 * sorts UTF-16 code units and disagrees for characters outside the BMP), and every
 * string is length-prefixed, so that no two different contexts encode alike.
 *
 * @module
 */

export type EncryptionContext = Readonly<Record<string, string>>

/** Largest byte length of one key or value; a u16 length prefix bounds it. */
const MAX_STRING_BYTES = 0xffff

export function encodeEncryptionContext(context: EncryptionContext | undefined): Uint8Array {
  const pairs = Object.entries(context ?? {}).map(([key, value]) => [Buffer.from(key, 'utf8'), Buffer.from(value, 'utf8')] as const)
  pairs.sort(([a], [b]) => Buffer.compare(a, b))
  if (pairs.length > 0xffff) throw new RangeError('encryption context: too many pairs')
  let size = 2
  for (const [key, value] of pairs) {
    if (key.length > MAX_STRING_BYTES || value.length > MAX_STRING_BYTES) {
      throw new RangeError('encryption context: a key or value is too long')
    }
    size += 4 + key.length + value.length
  }
  const out = Buffer.alloc(size)
  let offset = out.writeUInt16BE(pairs.length, 0)
  for (const [key, value] of pairs) {
    offset = out.writeUInt16BE(key.length, offset)
    offset += key.copy(out, offset)
    offset = out.writeUInt16BE(value.length, offset)
    offset += value.copy(out, offset)
  }
  return out
}
