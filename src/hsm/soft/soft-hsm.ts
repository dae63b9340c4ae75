/**
 * The software HSM: the implementation of the Hsm port that runs inside the HSM worker.
 * Everything in this file is on the secret side of the boundary.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import {
  HEADER_LENGTH,
  IV_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  encodeCiphertextHeader,
  kdfContextOf,
  parseCiphertextHeaderUnauthenticated,
} from '../../wire/ciphertext-blob.js'
import { HsmError, type KeyToken, type MaterialRef } from '../hsm.js'
import { abytes, anumber, astring, clean } from '../internal/bytes.js'
import { kbkdfCounterHmacSha256 } from '../internal/kbkdf.js'
import { openKeyToken, sealKeyToken } from './key-token.js'
import type { DomainKey } from './domain-key.js'

const MATERIAL_BYTES = 32
/** SP 800-108 label for per-ciphertext keys (docs/spec/ciphertext-blob.md §3). */
const CIPHERTEXT_KDF_LABEL = Buffer.from('trent/ciphertext/v1', 'utf8')
/** Unwrapped key material kept for reuse; bounded so a flood of keys cannot grow it. */
const MATERIAL_CACHE_LIMIT = 10_000

export class SoftHsm {
  readonly #domainKey: DomainKey
  /** Token (base64) → key material, as a KeyObject so the bytes are not on the JS heap. */
  readonly #materials = new Map<string, KeyObject>()

  constructor(domainKey: DomainKey) {
    this.#domainKey = domainKey
  }

  createKeyMaterial(keyId: string, materialVersion: number): KeyToken {
    astring(keyId, 'keyId')
    anumber(materialVersion, 'materialVersion', 1, 0xffffffff)
    const material = randomBytes(MATERIAL_BYTES)
    try {
      return sealKeyToken(this.#domainKey.key, this.#domainKey.id, { keyId, materialVersion }, material)
    } finally {
      clean(material)
    }
  }

  encrypt(key: MaterialRef, plaintext: Uint8Array, encodedContext: Uint8Array): Uint8Array {
    abytes(plaintext, 'plaintext')
    abytes(encodedContext, 'encodedContext')
    return this.#seal(this.#material(key), key, plaintext, encodedContext)
  }

  decrypt(key: MaterialRef, blob: Uint8Array, encodedContext: Uint8Array): Uint8Array {
    abytes(blob, 'blob')
    abytes(encodedContext, 'encodedContext')
    return this.#open(this.#material(key), key, blob, encodedContext)
  }

  generateDataKey(
    key: MaterialRef,
    numberOfBytes: number,
    encodedContext: Uint8Array,
    includePlaintext: boolean,
  ): { ciphertextBlob: Uint8Array; plaintext?: Uint8Array } {
    anumber(numberOfBytes, 'numberOfBytes', 1, 1024)
    abytes(encodedContext, 'encodedContext')
    const material = this.#material(key)
    const dataKey = randomBytes(numberOfBytes)
    const ciphertextBlob = this.#seal(material, key, dataKey, encodedContext)
    if (includePlaintext) return { ciphertextBlob, plaintext: dataKey }
    clean(dataKey)
    return { ciphertextBlob }
  }

  reEncrypt(
    source: MaterialRef,
    blob: Uint8Array,
    sourceContext: Uint8Array,
    destination: MaterialRef,
    destinationContext: Uint8Array,
  ): Uint8Array {
    const plaintext = this.#open(this.#material(source), source, blob, sourceContext)
    try {
      return this.#seal(this.#material(destination), destination, plaintext, destinationContext)
    } finally {
      clean(plaintext)
    }
  }

  generateRandom(numberOfBytes: number): Uint8Array {
    anumber(numberOfBytes, 'numberOfBytes', 1, 1024)
    return randomBytes(numberOfBytes)
  }

  /** Opens (or reuses) the key material a token seals, checking its binding. */
  #material(ref: MaterialRef): KeyObject {
    astring(ref.keyId, 'keyId')
    anumber(ref.materialVersion, 'materialVersion', 1, 0xffffffff)
    abytes(ref.token, 'token')
    // The cache key includes the binding: a token is only ever authenticated for the
    // (key id, version) it was sealed for, so the same bytes presented under another
    // binding must be checked again, and fail.
    const cacheKey = `${ref.keyId}/${ref.materialVersion}/${Buffer.from(ref.token).toString('base64')}`
    const cached = this.#materials.get(cacheKey)
    if (cached !== undefined) return cached
    const bytes = openKeyToken(this.#domainKey.key, ref, ref.token)
    if (bytes === undefined) throw new HsmError('TOKEN_REJECTED', 'key token does not open for its binding')
    const material = createSecretKey(bytes)
    clean(bytes)
    if (this.#materials.size >= MATERIAL_CACHE_LIMIT) {
      const oldest = this.#materials.keys().next()
      if (oldest.done !== true) this.#materials.delete(oldest.value)
    }
    this.#materials.set(cacheKey, material)
    return material
  }

  //= docs/spec/ciphertext-blob.md#3-per-ciphertext-key
  #seal(material: KeyObject, ref: MaterialRef, plaintext: Uint8Array, encodedContext: Uint8Array): Uint8Array {
    const header = encodeCiphertextHeader({
      keyId: ref.keyId,
      materialVersion: ref.materialVersion,
      salt: randomBytes(SALT_LENGTH),
      iv: randomBytes(IV_LENGTH),
    })
    const derived = kbkdfCounterHmacSha256(material, CIPHERTEXT_KDF_LABEL, kdfContextOf(header), 32)
    try {
      const cipher = createCipheriv('aes-256-gcm', derived, header.subarray(HEADER_LENGTH - IV_LENGTH))
      cipher.setAAD(Buffer.concat([header, encodedContext]))
      return Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    } finally {
      clean(derived)
    }
  }

  //= docs/spec/ciphertext-blob.md#5-decryption
  #open(material: KeyObject, ref: MaterialRef, blob: Uint8Array, encodedContext: Uint8Array): Buffer {
    const header = parseCiphertextHeaderUnauthenticated(blob)
    // A blob whose header names another key or version than the material we were given
    // would fail its tag anyway; refusing it here changes nothing an attacker can see.
    if (header === undefined || header.keyId !== ref.keyId || header.materialVersion !== ref.materialVersion) {
      throw new HsmError('DECRYPT_FAILED')
    }
    const headerBytes = blob.subarray(0, HEADER_LENGTH)
    const derived = kbkdfCounterHmacSha256(material, CIPHERTEXT_KDF_LABEL, kdfContextOf(headerBytes), 32)
    try {
      const decipher = createDecipheriv('aes-256-gcm', derived, header.iv)
      decipher.setAAD(Buffer.concat([headerBytes, encodedContext]))
      decipher.setAuthTag(blob.subarray(blob.length - TAG_LENGTH))
      return Buffer.concat([decipher.update(blob.subarray(HEADER_LENGTH, blob.length - TAG_LENGTH)), decipher.final()])
    } catch {
      throw new HsmError('DECRYPT_FAILED')
    } finally {
      clean(derived)
    }
  }
}
