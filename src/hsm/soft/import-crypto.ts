/**
 * Imported key material (docs/spec/key-token.md §5–§6): the RSA wrapping key pairs of
 * GetParametersForImport, the import token that carries a wrapping private key sealed
 * under the domain key, the unwrapping algorithms of ImportKeyMaterial, and the
 * KeyMaterialId of imported material.
 *
 * @module
 */
import { constants, createDecipheriv, createHash, createPrivateKey, generateKeyPair, privateDecrypt, type KeyObject } from 'node:crypto'
import type { KeySpec } from '../../wire/key-specs.js'
import type { WrappingAlgorithm, WrappingKeySpec } from '../hsm.js'
import { clean, u32be } from '../internal/bytes.js'
import { openBlob, sealBlob } from './key-token.js'

const IMPORT_TOKEN_MAGIC = Buffer.from('TRIT', 'ascii')
const IMPORT_TOKEN_VERSION = 0x01
const IMPORT_TOKEN_LABEL = 'trent/import-token/v1'
const MATERIAL_ID_LABEL = Buffer.from('trent/imported-key-material-id/v1\0', 'utf8')
/** RFC 5649 §3: the alternative initial value of AES key wrap with padding. */
const KWP_IV = Buffer.from('a65959a6', 'hex')
const WRAPPING_ALGORITHMS: readonly WrappingAlgorithm[] = [
  'RSAES_OAEP_SHA_1',
  'RSAES_OAEP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_1',
  'RSA_AES_KEY_WRAP_SHA_256',
]

export interface ImportTokenBinding {
  keyId: string
  keySpec: KeySpec
}

export interface ImportTokenHeader {
  wrappingAlgorithm: WrappingAlgorithm
  /** Epoch ms after which the token is refused. */
  expiresAt: number
}

/** A fresh RSA wrapping key pair, made on libuv's thread pool (a 4096-bit one takes about a second). */
export function generateWrappingKeyPair(spec: WrappingKeySpec): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  const modulusLength = spec === 'RSA_2048' ? 2048 : spec === 'RSA_3072' ? 3072 : 4096
  return new Promise((resolve, reject) => {
    generateKeyPair(
      'rsa',
      {
        modulusLength,
        publicExponent: 65537,
        privateKeyEncoding: { type: 'pkcs8', format: 'der' },
        publicKeyEncoding: { type: 'spki', format: 'der' },
      },
      (err, publicKey, privateKey) => (err === null ? resolve({ privateKey, publicKey }) : reject(err)),
    )
  })
}

function lp(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
}

function u64be(value: number): Buffer {
  const out = Buffer.alloc(8)
  out.writeBigUInt64BE(BigInt(value), 0)
  return out
}

/** The clear header: what the KMS may read (to check expiry) before the HSM authenticates it. */
function encodeHeader(header: ImportTokenHeader): Buffer {
  const algorithm = Buffer.from(header.wrappingAlgorithm, 'ascii')
  return Buffer.concat([
    IMPORT_TOKEN_MAGIC,
    Buffer.from([IMPORT_TOKEN_VERSION]),
    u64be(header.expiresAt),
    Buffer.from([algorithm.length]),
    algorithm,
  ])
}

/**
 * Import token = "TRIT" || 0x01 || u64 expiresAt || u8 len || wrapping algorithm || sealed,
 * where sealed is the wrapping private key sealed under the domain key with the whole clear
 * header, the key id and the key spec in its AAD: altering any of them fails the seal.
 */
export function sealImportToken(
  domainKey: KeyObject,
  domainKeyId: number,
  binding: ImportTokenBinding,
  header: ImportTokenHeader,
  privateKey: Uint8Array,
): Buffer {
  const clear = encodeHeader(header)
  const sealed = sealBlob(
    domainKey,
    domainKeyId,
    IMPORT_TOKEN_LABEL,
    Buffer.concat([clear, lp(binding.keyId), lp(binding.keySpec)]),
    privateKey,
  )
  return Buffer.concat([clear, sealed])
}

/** Reads the clear header without authenticating anything; undefined if it is not an import token. */
export function parseImportTokenHeader(token: Uint8Array): (ImportTokenHeader & { headerLength: number }) | undefined {
  const bytes = Buffer.from(token.buffer, token.byteOffset, token.byteLength)
  if (bytes.length < 14 || !bytes.subarray(0, 4).equals(IMPORT_TOKEN_MAGIC) || bytes[4] !== IMPORT_TOKEN_VERSION) return undefined
  const expires = bytes.readBigUInt64BE(5)
  if (expires > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  const algorithmLength = bytes[13] ?? 0
  if (bytes.length < 14 + algorithmLength) return undefined
  const algorithm = bytes.subarray(14, 14 + algorithmLength).toString('ascii')
  if (!(WRAPPING_ALGORITHMS as readonly string[]).includes(algorithm)) return undefined
  return { wrappingAlgorithm: algorithm as WrappingAlgorithm, expiresAt: Number(expires), headerLength: 14 + algorithmLength }
}

/** The wrapping private key (PKCS#8 DER) if the token is authentic for this key; the caller wipes it. */
export function openImportToken(
  domainKey: KeyObject,
  binding: ImportTokenBinding,
  token: Uint8Array,
): { header: ImportTokenHeader; privateKey: Buffer } | undefined {
  const header = parseImportTokenHeader(token)
  if (header === undefined) return undefined
  const clear = token.subarray(0, header.headerLength)
  const privateKey = openBlob(
    domainKey,
    IMPORT_TOKEN_LABEL,
    Buffer.concat([clear, lp(binding.keyId), lp(binding.keySpec)]),
    token.subarray(header.headerLength),
  )
  if (privateKey === undefined) return undefined
  return { header: { wrappingAlgorithm: header.wrappingAlgorithm, expiresAt: header.expiresAt }, privateKey }
}

function oaepHashOf(algorithm: WrappingAlgorithm): 'sha1' | 'sha256' {
  return algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256'
}

/**
 * Unwraps EncryptedKeyMaterial. RSAES_OAEP_*: RSA-OAEP (MGF1 with the same hash) of the
 * material. RSA_AES_KEY_WRAP_*: RSA-OAEP of a fresh AES-256 key (one modulus length of
 * bytes), followed by the material wrapped under it with AES key wrap with padding
 * (RFC 5649), the layout AWS documents for these algorithms. Undefined on any failure.
 */
export function unwrapImportedMaterial(
  privateKeyPkcs8: Uint8Array,
  algorithm: WrappingAlgorithm,
  encrypted: Uint8Array,
): Buffer | undefined {
  let key: KeyObject
  try {
    key = createPrivateKey({ key: Buffer.from(privateKeyPkcs8), format: 'der', type: 'pkcs8' })
  } catch {
    return undefined
  }
  const modulusBytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
  const oaep = { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHashOf(algorithm) }
  try {
    if (algorithm === 'RSAES_OAEP_SHA_1' || algorithm === 'RSAES_OAEP_SHA_256') {
      if (encrypted.length !== modulusBytes) return undefined
      return privateDecrypt(oaep, encrypted)
    }
    if (encrypted.length <= modulusBytes) return undefined
    const aesKey = privateDecrypt(oaep, encrypted.subarray(0, modulusBytes))
    try {
      if (aesKey.length !== 32) return undefined
      const decipher = createDecipheriv('id-aes256-wrap-pad', aesKey, KWP_IV)
      return Buffer.concat([decipher.update(encrypted.subarray(modulusBytes)), decipher.final()])
    } finally {
      clean(aesKey)
    }
  } catch {
    return undefined
  }
}

/**
 * KeyMaterialId of imported material: SHA-256 over a label, the key id and the material.
 * Equal material under the same (multi-Region) key id gives the same id in every region,
 * which is how a replica tells the primary's material from other bytes without either
 * region sending material (reference §8.7: AWS also derives it from the key id and material).
 */
export function importedMaterialId(keyId: string, material: Uint8Array): string {
  return createHash('sha256').update(MATERIAL_ID_LABEL).update(lp(keyId)).update(u32be(material.length)).update(material).digest('hex')
}
