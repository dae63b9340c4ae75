/**
 * Exported key tokens: how key material leaves the HSM for storage
 * (docs/spec/key-token.md).
 *
 * ```
 * offset  size  field
 * 0       1     token format version, 0x01
 * 1       4     domain key id, uint32 big-endian
 * 5       12    AES-GCM IV, random
 * 17      n     AES-256-GCM ciphertext of the key material (n = 32 for symmetric keys)
 * 17+n    16    AES-GCM tag
 * ```
 * AAD = "trent/key-token/v1" || 0x00 || u16 len || key id (UTF-8) || u32 material version
 *       || bytes 0..17 of the token.
 * So a token decrypts only under its domain key and only for the key id and material
 * version it was made for: a token moved to another key or version fails its tag.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto'
import { u32be } from '../internal/bytes.js'

export const KEY_TOKEN_FORMAT_V1 = 0x01
const HEADER_LENGTH = 17
const TAG_LENGTH = 16
const LABEL = Buffer.from('trent/key-token/v1\0', 'utf8')

export interface KeyTokenBinding {
  keyId: string
  materialVersion: number
}

function aadFor(binding: KeyTokenBinding, header: Uint8Array): Buffer {
  const keyId = Buffer.from(binding.keyId, 'utf8')
  const keyIdLength = Buffer.alloc(2)
  keyIdLength.writeUInt16BE(keyId.length, 0)
  return Buffer.concat([LABEL, keyIdLength, keyId, u32be(binding.materialVersion), header])
}

export function sealKeyToken(
  domainKey: KeyObject,
  domainKeyId: number,
  binding: KeyTokenBinding,
  material: Uint8Array,
): Uint8Array {
  const header = Buffer.alloc(HEADER_LENGTH)
  header[0] = KEY_TOKEN_FORMAT_V1
  header.writeUInt32BE(domainKeyId, 1)
  randomBytes(12).copy(header, 5)
  const cipher = createCipheriv('aes-256-gcm', domainKey, header.subarray(5, 17))
  cipher.setAAD(aadFor(binding, header))
  const body = Buffer.concat([cipher.update(material), cipher.final()])
  return Buffer.concat([header, body, cipher.getAuthTag()])
}

/** The domain key id a token names, read before anything is authenticated. */
export function tokenDomainKeyIdUnauthenticated(token: Uint8Array): number | undefined {
  if (token.length < HEADER_LENGTH + TAG_LENGTH || token[0] !== KEY_TOKEN_FORMAT_V1) return undefined
  return Buffer.from(token.buffer, token.byteOffset, token.byteLength).readUInt32BE(1)
}

/**
 * Returns the key material, or undefined if the token is not authentic for this binding.
 * The caller owns the returned buffer and must wipe it.
 */
export function openKeyToken(domainKey: KeyObject, binding: KeyTokenBinding, token: Uint8Array): Buffer | undefined {
  if (token.length < HEADER_LENGTH + TAG_LENGTH || token[0] !== KEY_TOKEN_FORMAT_V1) return undefined
  const header = token.subarray(0, HEADER_LENGTH)
  try {
    const decipher = createDecipheriv('aes-256-gcm', domainKey, header.subarray(5, 17))
    decipher.setAAD(aadFor(binding, header))
    decipher.setAuthTag(token.subarray(token.length - TAG_LENGTH))
    return Buffer.concat([decipher.update(token.subarray(HEADER_LENGTH, token.length - TAG_LENGTH)), decipher.final()])
  } catch {
    return undefined
  }
}
