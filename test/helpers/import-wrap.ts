/**
 * How a user prepares key material for ImportKeyMaterial, written the way AWS documents
 * it and independently of Trent's unwrapping code.
 */
import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto'
import type { AlgorithmSpec } from '@aws-sdk/client-kms'

/** What a user does with the wrapping public key: RSA-OAEP, or RSA-OAEP of an AES key plus AES key wrap with padding. */
export function wrapForImport(publicKeyDer: Uint8Array, algorithm: AlgorithmSpec, material: Uint8Array): Buffer {
  const key: KeyObject = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' })
  const oaepHash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256'
  if (algorithm === 'RSAES_OAEP_SHA_1' || algorithm === 'RSAES_OAEP_SHA_256') {
    return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, material)
  }
  const aesKey = randomBytes(32)
  const wrappedKey = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, aesKey)
  const cipher = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('a65959a6', 'hex'))
  return Buffer.concat([wrappedKey, cipher.update(material), cipher.final()])
}
