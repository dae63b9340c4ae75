/**
 * Exported key tokens: how key material leaves the HSM for storage
 * (docs/spec/key-token.md).
 *
 * ```
 * offset  size  field
 * 0       1     token format version, 0x02 (0x01: older symmetric tokens, still opened)
 * 1       4     domain key id, uint32 big-endian
 * 5       12    AES-GCM IV, random
 * 17      n     AES-256-GCM ciphertext of the key material
 * 17+n    16    AES-GCM tag
 * ```
 * AAD (v2) = "trent/key-token/v2" || 0x00 || u16 len || key id (UTF-8) || u32 material version
 *            || u8 len || key spec (ASCII) || bytes 0..17 of the token.
 * AAD (v1) = "trent/key-token/v1" || 0x00 || u16 len || key id || u32 material version
 *            || bytes 0..17, and only for SYMMETRIC_DEFAULT.
 * So a token decrypts only under its domain key and only for the key id, material version
 * and key spec it was made for: a token moved to another key, version or spec fails its tag.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto'
import type { KeySpec } from '../../wire/key-specs.js'
import { u32be } from '../internal/bytes.js'

export const KEY_TOKEN_FORMAT_V1 = 0x01
export const KEY_TOKEN_FORMAT_V2 = 0x02
const HEADER_LENGTH = 17
const TAG_LENGTH = 16
const LABEL_V1 = Buffer.from('trent/key-token/v1\0', 'utf8')
const LABEL_V2 = Buffer.from('trent/key-token/v2\0', 'utf8')

export interface KeyTokenBinding {
  keyId: string
  materialVersion: number
  keySpec: KeySpec
}

function lengthPrefixed16(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  const length = Buffer.alloc(2)
  length.writeUInt16BE(bytes.length, 0)
  return Buffer.concat([length, bytes])
}

function aadFor(version: number, binding: KeyTokenBinding, header: Uint8Array): Buffer | undefined {
  const common = [lengthPrefixed16(binding.keyId), u32be(binding.materialVersion)]
  if (version === KEY_TOKEN_FORMAT_V2) {
    const spec = Buffer.from(binding.keySpec, 'ascii')
    return Buffer.concat([LABEL_V2, ...common, Buffer.from([spec.length]), spec, header])
  }
  // Version 1 tokens predate other key specs: they hold symmetric material only.
  if (version === KEY_TOKEN_FORMAT_V1 && binding.keySpec === 'SYMMETRIC_DEFAULT') return Buffer.concat([LABEL_V1, ...common, header])
  return undefined
}

export function sealKeyToken(domainKey: KeyObject, domainKeyId: number, binding: KeyTokenBinding, material: Uint8Array): Uint8Array {
  const header = Buffer.alloc(HEADER_LENGTH)
  header[0] = KEY_TOKEN_FORMAT_V2
  header.writeUInt32BE(domainKeyId, 1)
  randomBytes(12).copy(header, 5)
  const aad = aadFor(KEY_TOKEN_FORMAT_V2, binding, header)
  if (aad === undefined) throw new RangeError('keySpec: not a key spec')
  return sealWithHeader(domainKey, header, aad, material)
}

/** The domain key id a token names, read before anything is authenticated. */
export function tokenDomainKeyIdUnauthenticated(token: Uint8Array): number | undefined {
  if (token.length < HEADER_LENGTH + TAG_LENGTH || (token[0] !== KEY_TOKEN_FORMAT_V1 && token[0] !== KEY_TOKEN_FORMAT_V2)) return undefined
  return Buffer.from(token.buffer, token.byteOffset, token.byteLength).readUInt32BE(1)
}

/**
 * Returns the key material, or undefined if the token is not authentic for this binding.
 * The caller owns the returned buffer and must wipe it.
 */
export function openKeyToken(domainKey: KeyObject, binding: KeyTokenBinding, token: Uint8Array): Buffer | undefined {
  if (token.length < HEADER_LENGTH + TAG_LENGTH) return undefined
  const header = token.subarray(0, HEADER_LENGTH)
  const aad = aadFor(token[0] ?? 0, binding, header)
  if (aad === undefined) return undefined
  return openWithHeader(domainKey, token, aad)
}

// Sealed blobs that are not key material (import tokens, docs/spec/key-token.md §6) use the
// same layout with their own labels, so no blob of one kind opens as another.

/** Seals `secret` under the domain key with `label || context` as part of the AAD. */
export function sealBlob(domainKey: KeyObject, domainKeyId: number, label: string, context: Uint8Array, secret: Uint8Array): Uint8Array {
  const header = Buffer.alloc(HEADER_LENGTH)
  header[0] = KEY_TOKEN_FORMAT_V2
  header.writeUInt32BE(domainKeyId, 1)
  randomBytes(12).copy(header, 5)
  return sealWithHeader(domainKey, header, Buffer.concat([Buffer.from(`${label}\0`, 'utf8'), context, header]), secret)
}

export function openBlob(domainKey: KeyObject, label: string, context: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < HEADER_LENGTH + TAG_LENGTH || sealed[0] !== KEY_TOKEN_FORMAT_V2) return undefined
  return openWithHeader(domainKey, sealed, Buffer.concat([Buffer.from(`${label}\0`, 'utf8'), context, sealed.subarray(0, HEADER_LENGTH)]))
}

function sealWithHeader(domainKey: KeyObject, header: Buffer, aad: Buffer, secret: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', domainKey, header.subarray(5, 17))
  cipher.setAAD(aad)
  const body = Buffer.concat([cipher.update(secret), cipher.final()])
  return Buffer.concat([header, body, cipher.getAuthTag()])
}

function openWithHeader(domainKey: KeyObject, sealed: Uint8Array, aad: Buffer): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', domainKey, sealed.subarray(5, 17))
    decipher.setAAD(aad)
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH))
    const opened = Buffer.concat([decipher.update(sealed.subarray(HEADER_LENGTH, sealed.length - TAG_LENGTH)), decipher.final()])
    // Key material gets a buffer of its own, not a slice of Node's shared pool (where
    // Buffer.concat puts small results): cached or zeroed, it then shares memory with
    // nothing else (internal/batch-codec.ts tells why that matters).
    const own = Buffer.alloc(opened.length)
    opened.copy(own)
    opened.fill(0)
    return own
  } catch {
    return undefined
  }
}
