/**
 * Ed25519 (RFC 8032, FIPS 186-5 §7) for the ECC_NIST_EDWARDS25519 key spec and AWS's two
 * signing algorithms:
 *
 * - ED25519_SHA_512, PureEdDSA over a RAW message, by OpenSSL (node:crypto);
 * - ED25519_PH_SHA_512, HashEdDSA (Ed25519ph, RFC 8032 §5.1 with phflag 1 and an empty
 *   context) over a DIGEST: a 64-byte SHA-512 digest the caller computed, which is
 *   prehashed once more, as AWS documents ("KMS still performs the SHA-512 prehash …
 *   the input is hashed twice", Sign's MessageType). So the signature is Ed25519ph of the
 *   digest taken as the message, which any Ed25519ph verifier checks given the digest.
 *   node:crypto in Node 20 has no Ed25519ph; @noble/curves signs it.
 *
 * Key material is the private key as DER PKCS#8 (RFC 8410, version 1, 48 bytes), the form
 * OpenSSL writes and AWS takes for imports; only that canonical form is accepted.
 *
 * @module
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto'
import { ed25519ph } from '@noble/curves/ed25519.js'
import { clean } from '../internal/bytes.js'
import type { MessageType, SigningAlgorithm } from '../../wire/key-specs.js'

const SPEC = 'ECC_NIST_EDWARDS25519'
const PKCS8_BYTES = 48
const DIGEST_BYTES = 64

interface Loaded {
  privateKey: KeyObject
  publicKey: KeyObject
}

/** Parsed keys by their material buffer, as asymmetric.ts keeps them. */
const loadedKeys = new WeakMap<Uint8Array, Loaded>()

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function load(pkcs8: Uint8Array): Loaded {
  const cached = pkcs8 instanceof Uint8Array ? loadedKeys.get(pkcs8) : undefined
  if (cached !== undefined) return cached
  if (!(pkcs8 instanceof Uint8Array) || pkcs8.length !== PKCS8_BYTES) throw new RangeError(`${SPEC}: not a DER PKCS#8 Ed25519 private key`)
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: asBuffer(pkcs8), format: 'der', type: 'pkcs8' })
  } catch {
    throw new RangeError(`${SPEC}: not a PKCS#8 private key`)
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new RangeError(`${SPEC}: the private key is not an Ed25519 key`)
  // One encoding per key: OpenSSL re-exports what it read, and only its own bytes are kept.
  if (!privateKey.export({ format: 'der', type: 'pkcs8' }).equals(asBuffer(pkcs8)))
    throw new RangeError(`${SPEC}: not the canonical PKCS#8 encoding`)
  const loaded = { privateKey, publicKey: createPublicKey(privateKey) }
  loadedKeys.set(pkcs8, loaded)
  return loaded
}

/** The 32-byte private key (RFC 8032's secret key), for noble; the caller wipes it. */
function secretKeyOf(privateKey: KeyObject): Buffer {
  const jwk = privateKey.export({ format: 'jwk' })
  if (typeof jwk.d !== 'string') throw new RangeError('not an Ed25519 private key')
  return Buffer.from(jwk.d, 'base64url')
}

/** The 32-byte public key A. */
function rawPublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' })
  if (typeof jwk.x !== 'string') throw new RangeError('not an Ed25519 public key')
  return Buffer.from(jwk.x, 'base64url')
}

export function isEd25519Spec(spec: unknown): spec is typeof SPEC {
  return spec === SPEC
}

export function generateEd25519KeyPair(): { privateKey: Buffer; publicKey: Buffer } {
  return generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
    publicKeyEncoding: { type: 'spki', format: 'der' },
  })
}

export function generateEd25519KeyPairAsync(): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      'ed25519',
      { privateKeyEncoding: { type: 'pkcs8', format: 'der' }, publicKeyEncoding: { type: 'spki', format: 'der' } },
      (err, publicKey, privateKey) => (err === null ? resolve({ privateKey, publicKey }) : reject(err)),
    )
  })
}

/** SubjectPublicKeyInfo with id-Ed25519 (RFC 8410), 44 bytes: what AWS GetPublicKey returns. */
export function ed25519PublicKey(pkcs8: Uint8Array): Buffer {
  return load(pkcs8).publicKey.export({ format: 'der', type: 'spki' })
}

/** The message as the algorithm takes it; RangeError for a message type AWS refuses. */
function checkRequest(algorithm: SigningAlgorithm, messageType: MessageType, message: Uint8Array): void {
  if (!(message instanceof Uint8Array)) throw new TypeError('message: expected Uint8Array')
  if (algorithm === 'ED25519_SHA_512') {
    if (messageType !== 'RAW') throw new RangeError(`ED25519_SHA_512 signs RAW messages only, not ${String(messageType)}`)
    return
  }
  if (algorithm !== 'ED25519_PH_SHA_512') throw new RangeError(`${String(algorithm)} is not a signing algorithm for ${SPEC}`)
  if (messageType !== 'DIGEST') throw new RangeError(`ED25519_PH_SHA_512 signs a DIGEST only, not ${String(messageType)}`)
  if (message.length !== DIGEST_BYTES)
    throw new RangeError(`DIGEST must be ${DIGEST_BYTES} bytes for ED25519_PH_SHA_512, got ${message.length}`)
}

/**
 * Ed25519ph of a message of any length (RFC 8032 §5.1.6 with phflag 1, empty context):
 * SHA-512 of `message` is what is signed. ED25519_PH_SHA_512 passes the caller's digest as
 * the message; the known-answer test passes RFC 8032's.
 */
export function ed25519phSign(pkcs8: Uint8Array, message: Uint8Array): Buffer {
  const secretKey = secretKeyOf(load(pkcs8).privateKey)
  try {
    return Buffer.from(ed25519ph.sign(message, secretKey))
  } finally {
    clean(secretKey)
  }
}

/** Ed25519ph verification (RFC 8032 §5.1.7), with RFC 8032's strict encoding rules. Never throws. */
export function ed25519phVerify(pkcs8: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    // zip215: false: RFC 8032's strict encoding rules (canonical S and points), as OpenSSL
    // applies on the pure path, so both algorithms accept the same signatures.
    return ed25519ph.verify(signature, message, rawPublicKey(load(pkcs8).publicKey), { zip215: false })
  } catch {
    return false
  }
}

export function ed25519Sign(pkcs8: Uint8Array, algorithm: SigningAlgorithm, messageType: MessageType, message: Uint8Array): Buffer {
  checkRequest(algorithm, messageType, message)
  if (algorithm === 'ED25519_SHA_512') return nodeSign(null, message, load(pkcs8).privateKey)
  return ed25519phSign(pkcs8, message)
}

export function ed25519Verify(
  pkcs8: Uint8Array,
  algorithm: SigningAlgorithm,
  messageType: MessageType,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  checkRequest(algorithm, messageType, message)
  const { publicKey } = load(pkcs8)
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false
  if (algorithm === 'ED25519_PH_SHA_512') return ed25519phVerify(pkcs8, message, signature)
  try {
    return nodeVerify(null, message, publicKey, signature)
  } catch {
    return false
  }
}

/** A canonical Ed25519 PKCS#8 key that signs and verifies. Never throws. */
export function isValidEd25519Material(material: Uint8Array): boolean {
  try {
    const message = Buffer.alloc(DIGEST_BYTES, 0x5a)
    return ed25519Verify(material, 'ED25519_SHA_512', 'RAW', message, ed25519Sign(material, 'ED25519_SHA_512', 'RAW', message))
  } catch {
    return false
  }
}
