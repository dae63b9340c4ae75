/**
 * Asymmetric primitives for the AWS KMS RSA and ECC key specs: key generation, PKCS#8
 * checks, signing (RAW and DIGEST), RSA-OAEP and ECDH. Keys arrive and leave as DER bytes
 * (PKCS#8 private, SubjectPublicKeyInfo public), the formats AWS uses for imported key
 * material, GetPublicKey and GenerateDataKeyPair.
 *
 * RSA uses OpenSSL (node:crypto) for the modular arithmetic and rsa-pss.ts for the
 * encodings. ECDSA uses OpenSSL for RAW messages and @noble/curves for DIGEST ones, because
 * node:crypto cannot sign or verify a digest the caller computed. ECDH uses OpenSSL and
 * re-checks the peer point with noble.
 *
 * @module
 */
import {
  checkPrime,
  checkPrimeSync,
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPair,
  generateKeyPairSync,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto'
import { p256, p384, p521 } from '@noble/curves/nist.js'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import type { ECDSA } from '@noble/curves/abstract/weierstrass.js'
import { clean } from '../internal/bytes.js'
import { emsaPkcs1v15Encode, emsaPssEncode, emsaPssVerify, RSA_HASH_BYTES } from './rsa-pss.js'
import {
  signingAlgorithmsFor,
  type AsymmetricKeySpec,
  type EncryptionAlgorithm,
  type MessageType,
  type SigningAlgorithm,
} from '../../wire/key-specs.js'

/** The specs this module serves; Ed25519, ML-DSA and ML-KEM have modules of their own. */
export type RsaOrEcKeySpec = Exclude<
  AsymmetricKeySpec,
  'ECC_NIST_EDWARDS25519' | 'ML_DSA_44' | 'ML_DSA_65' | 'ML_DSA_87' | 'ML_KEM_512' | 'ML_KEM_768' | 'ML_KEM_1024'
>
type RsaOrEcdsaAlgorithm = Exclude<SigningAlgorithm, 'ED25519_SHA_512' | 'ED25519_PH_SHA_512' | 'ML_DSA_SHAKE_256'>

type SignHash = 'sha256' | 'sha384' | 'sha512'

interface RsaSpec {
  kind: 'rsa'
  bits: number
}

interface EcSpec {
  kind: 'ec'
  /** The name node:crypto reports in asymmetricKeyDetails.namedCurve (and accepts to generate). */
  nodeCurve: string
  curve: ECDSA
  /** The one ECDSA hash AWS pairs with the curve. */
  hash: SignHash
  /** AWS offers key agreement (ECDH) on the NIST curves only. */
  keyAgreement: boolean
}

const SPECS: Record<RsaOrEcKeySpec, RsaSpec | EcSpec> = {
  RSA_2048: { kind: 'rsa', bits: 2048 },
  RSA_3072: { kind: 'rsa', bits: 3072 },
  RSA_4096: { kind: 'rsa', bits: 4096 },
  ECC_NIST_P256: { kind: 'ec', nodeCurve: 'prime256v1', curve: p256, hash: 'sha256', keyAgreement: true },
  ECC_NIST_P384: { kind: 'ec', nodeCurve: 'secp384r1', curve: p384, hash: 'sha384', keyAgreement: true },
  ECC_NIST_P521: { kind: 'ec', nodeCurve: 'secp521r1', curve: p521, hash: 'sha512', keyAgreement: true },
  ECC_SECG_P256K1: { kind: 'ec', nodeCurve: 'secp256k1', curve: secp256k1, hash: 'sha256', keyAgreement: false },
}

const SIGNING: Record<RsaOrEcdsaAlgorithm, { scheme: 'pss' | 'pkcs1' | 'ecdsa'; hash: SignHash }> = {
  RSASSA_PSS_SHA_256: { scheme: 'pss', hash: 'sha256' },
  RSASSA_PSS_SHA_384: { scheme: 'pss', hash: 'sha384' },
  RSASSA_PSS_SHA_512: { scheme: 'pss', hash: 'sha512' },
  RSASSA_PKCS1_V1_5_SHA_256: { scheme: 'pkcs1', hash: 'sha256' },
  RSASSA_PKCS1_V1_5_SHA_384: { scheme: 'pkcs1', hash: 'sha384' },
  RSASSA_PKCS1_V1_5_SHA_512: { scheme: 'pkcs1', hash: 'sha512' },
  ECDSA_SHA_256: { scheme: 'ecdsa', hash: 'sha256' },
  ECDSA_SHA_384: { scheme: 'ecdsa', hash: 'sha384' },
  ECDSA_SHA_512: { scheme: 'ecdsa', hash: 'sha512' },
}

const OAEP: Record<EncryptionAlgorithm, 'sha1' | 'sha256'> = {
  RSAES_OAEP_SHA_1: 'sha1',
  RSAES_OAEP_SHA_256: 'sha256',
}

function has<K extends string>(table: Record<K, unknown>, key: unknown): key is K {
  return typeof key === 'string' && Object.prototype.hasOwnProperty.call(table, key)
}

export function isRsaOrEcSpec(spec: unknown): spec is RsaOrEcKeySpec {
  return has(SPECS, spec)
}

function specOf(spec: unknown): RsaSpec | EcSpec {
  if (!has(SPECS, spec)) throw new RangeError(`${String(spec)} is not an asymmetric key spec`)
  return SPECS[spec]
}

/** The digest length a DIGEST message must have for this algorithm (32, 48 or 64). */
export function signingDigestBytes(algorithm: SigningAlgorithm): number {
  if (!has(SIGNING, algorithm)) throw new RangeError(`unknown signing algorithm ${String(algorithm)}`)
  return RSA_HASH_BYTES[SIGNING[algorithm].hash]
}

function signingFor(spec: RsaOrEcKeySpec, algorithm: SigningAlgorithm): { scheme: 'pss' | 'pkcs1' | 'ecdsa'; hash: SignHash } {
  specOf(spec)
  // Which algorithms a spec offers is the wire vocabulary's table (src/wire/key-specs.ts).
  if (!has(SIGNING, algorithm) || !signingAlgorithmsFor(spec).includes(algorithm)) {
    throw new RangeError(`${String(algorithm)} is not a signing algorithm for ${spec}`)
  }
  return SIGNING[algorithm]
}

/** RAW: hash the message. DIGEST: the message is the digest, so only its length can be checked. */
function digestOf(hash: SignHash, messageType: MessageType, message: Uint8Array): Buffer {
  if (!(message instanceof Uint8Array)) throw new TypeError('message: expected Uint8Array')
  if (messageType === 'RAW') return createHash(hash).update(message).digest()
  if (messageType !== 'DIGEST') throw new RangeError(`unknown message type ${String(messageType)}`)
  const expected = RSA_HASH_BYTES[hash]
  if (message.length !== expected) throw new RangeError(`DIGEST message must be ${expected} bytes for ${hash}, got ${message.length}`)
  return Buffer.from(message)
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * True when `bytes` is exactly one DER SEQUENCE with a minimally encoded length. OpenSSL's
 * decoders ignore bytes after the first structure, so without this check two different
 * byte strings would be accepted as the same key, which an import path should not allow.
 */
export function isSingleDerSequence(bytes: Uint8Array): boolean {
  if (bytes.length < 2 || bytes[0] !== 0x30) return false
  const first = bytes[1] ?? 0
  if (first < 0x80) return 2 + first === bytes.length
  const n = first & 0x7f
  if (n === 0 || n > 4 || bytes.length < 2 + n) return false
  if (bytes[2] === 0) return false
  let length = 0
  for (let i = 0; i < n; i++) length = length * 256 + (bytes[2 + i] ?? 0)
  if (length < 0x80) return false
  return 2 + n + length === bytes.length
}

/** FIPS 186-5 §A.1.1: an odd e with 2^16 < e < 2^256. Rules out e = 1 and small-exponent keys. */
function acceptableExponent(e: bigint | undefined): boolean {
  return e !== undefined && e > 65536n && e < 1n << 256n && (e & 1n) === 1n
}

function fits(params: RsaSpec | EcSpec, key: KeyObject): boolean {
  const details = key.asymmetricKeyDetails
  if (params.kind === 'rsa') {
    // 'rsa' only: a PKCS#8 'rsa-pss' key (id-RSASSA-PSS) is restricted to PSS and cannot do OAEP.
    return key.asymmetricKeyType === 'rsa' && details?.modulusLength === params.bits && acceptableExponent(details.publicExponent)
  }
  // namedCurve is absent for keys with explicit curve parameters, which AWS does not use either.
  return key.asymmetricKeyType === 'ec' && details?.namedCurve === params.nodeCurve
}

/**
 * Parsed keys by the buffer holding their PKCS#8 bytes. Parsing costs ~0.4 ms (P-256),
 * more than a signature, and the HSM passes the same cached buffer for every use of a key
 * version, so this keeps a key parsed for as long as that buffer lives. Keyed by the
 * buffer's identity: a material buffer must not be changed in place while in use (the HSM
 * only wipes one after dropping it from its own cache).
 */
const parsedKeys = new WeakMap<Uint8Array, { spec: RsaOrEcKeySpec; key: KeyObject }>()
/** Each parsed private key's public half, derived once. */
const publicKeys = new WeakMap<KeyObject, KeyObject>()

/** Parses PKCS#8 DER and checks it is a key of exactly this spec; RangeError otherwise. */
function loadPrivateKey(spec: RsaOrEcKeySpec, pkcs8: Uint8Array): KeyObject {
  const parsed = pkcs8 instanceof Uint8Array ? parsedKeys.get(pkcs8) : undefined
  if (parsed !== undefined && parsed.spec === spec) return parsed.key
  const key = parsePrivateKey(spec, pkcs8)
  parsedKeys.set(pkcs8, { spec, key })
  return key
}

/** The public half of a loaded private key. */
function publicKeyOfKey(key: KeyObject): KeyObject {
  let publicKey = publicKeys.get(key)
  if (publicKey === undefined) {
    publicKey = createPublicKey(key)
    publicKeys.set(key, publicKey)
  }
  return publicKey
}

function parsePrivateKey(spec: RsaOrEcKeySpec, pkcs8: Uint8Array): KeyObject {
  const params = specOf(spec)
  if (!(pkcs8 instanceof Uint8Array) || !isSingleDerSequence(pkcs8)) throw new RangeError(`${spec}: not a DER PKCS#8 private key`)
  let key: KeyObject
  try {
    key = createPrivateKey({ key: asBuffer(pkcs8), format: 'der', type: 'pkcs8' })
  } catch {
    throw new RangeError(`${spec}: not a PKCS#8 private key`)
  }
  if (!fits(params, key)) throw new RangeError(`${spec}: the private key is not of this key spec`)
  return key
}

function modulusBits(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength
  if (bits === undefined) throw new RangeError('not an RSA key')
  return bits
}

/** The uncompressed SEC1 point 0x04 || x || y of an EC key, from its JWK form (coordinates are field-size). */
function ecPoint(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' })
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new RangeError('not an EC key')
  return Buffer.concat([Buffer.of(0x04), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')])
}

/**
 * The private scalar, as noble wants it. It travels through a base64url string (the JWK
 * export), which cannot be wiped; the decoded copy is wiped by the caller after use.
 */
function ecScalar(key: KeyObject, curve: ECDSA): Buffer {
  const jwk = key.export({ format: 'jwk' })
  if (typeof jwk.d !== 'string') throw new RangeError('not an EC private key')
  const d = Buffer.from(jwk.d, 'base64url')
  if (d.length !== curve.lengths.secretKey) {
    clean(d)
    throw new RangeError('EC private key has an unexpected length')
  }
  return d
}

/**
 * ECDSA, DER-encoded as AWS returns it (RFC 3279 §2.2.3). A RAW message goes to OpenSSL,
 * 5 to 100 times faster than noble here and hashing the message itself; a DIGEST goes to
 * noble, since node:crypto cannot sign a digest it did not compute (with a null algorithm
 * it hashes again with SHA-256).
 *
 * Every signature leaves in low-S form: ECDSA verifiers accept either s, and
 * Bitcoin/Ethereum tooling insists on low-S for secp256k1, so a key's signatures can be
 * used there as they are.
 */
function ecdsaSign(params: EcSpec, key: KeyObject, messageType: MessageType, message: Uint8Array, digest: Uint8Array): Buffer {
  if (messageType === 'RAW') {
    const der = nodeSign(params.hash, message, { key, dsaEncoding: 'der' })
    const parsed = params.curve.Signature.fromBytes(der, 'der')
    if (!parsed.hasHighS()) return der
    return Buffer.from(new params.curve.Signature(parsed.r, params.curve.Point.Fn.neg(parsed.s)).toBytes('der'))
  }
  const d = ecScalar(key, params.curve)
  try {
    // prehash: false because the digest is already computed. extraEntropy: hedged signing
    // (RFC 6979 §3.6), so a fault or a repeated digest does not expose the key, and
    // signatures are randomized like OpenSSL's and AWS's.
    return Buffer.from(params.curve.sign(digest, d, { prehash: false, format: 'der', lowS: true, extraEntropy: true }))
  } finally {
    clean(d)
  }
}

function ecdsaVerify(
  params: EcSpec,
  key: KeyObject,
  messageType: MessageType,
  message: Uint8Array,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    if (messageType === 'RAW') return nodeVerify(params.hash, message, { key: publicKeyOfKey(key), dsaEncoding: 'der' }, signature)
    // lowS: false because ECDSA itself accepts either s, as OpenSSL does on the RAW path;
    // signatures from AWS or OpenSSL are not normalized, and verify must accept them.
    return params.curve.verify(signature, digest, ecPoint(key), { prehash: false, format: 'der', lowS: false })
  } catch {
    return false
  }
}

function rsaSign(key: KeyObject, scheme: 'pss' | 'pkcs1', hash: SignHash, digest: Uint8Array): Buffer {
  const bits = modulusBits(key)
  const k = Math.ceil(bits / 8)
  // AWS: PSS with MGF1 over the same hash and a salt as long as the hash.
  const em = scheme === 'pss' ? emsaPssEncode(hash, digest, bits - 1, RSA_HASH_BYTES[hash]) : emsaPkcs1v15Encode(hash, digest, k)
  // EM may be one byte shorter than the modulus when modBits ≡ 1 (mod 8); the RSA input is k bytes.
  const block = Buffer.alloc(k)
  em.copy(block, k - em.length)
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, block)
}

function rsaVerify(key: KeyObject, scheme: 'pss' | 'pkcs1', hash: SignHash, digest: Uint8Array, signature: Uint8Array): boolean {
  const bits = modulusBits(key)
  const k = Math.ceil(bits / 8)
  // RFC 8017 §8.1.2 step 1: the signature is exactly k bytes (OpenSSL would left-pad a shorter one).
  if (signature.length !== k) return false
  let block: Buffer
  try {
    block = publicDecrypt({ key: publicKeyOfKey(key), padding: constants.RSA_NO_PADDING }, asBuffer(signature))
  } catch {
    return false // s >= n
  }
  if (block.length !== k) return false
  if (scheme === 'pss') {
    const emLen = Math.ceil((bits - 1) / 8)
    for (let i = 0; i < k - emLen; i++) if (block[i] !== 0) return false
    return emsaPssVerify(hash, digest, block.subarray(k - emLen), bits - 1, RSA_HASH_BYTES[hash])
  }
  const expected = emsaPkcs1v15Encode(hash, digest, k)
  return timingSafeEqual(block, expected)
}

export function sign(
  spec: RsaOrEcKeySpec,
  privateKeyPkcs8: Uint8Array,
  algorithm: SigningAlgorithm,
  messageType: MessageType,
  message: Uint8Array,
): Buffer {
  const params = specOf(spec)
  const { scheme, hash } = signingFor(spec, algorithm)
  const digest = digestOf(hash, messageType, message)
  const key = loadPrivateKey(spec, privateKeyPkcs8)
  if (params.kind === 'ec') return ecdsaSign(params, key, messageType, message, digest)
  if (scheme === 'ecdsa') throw new RangeError(`${algorithm} is not a signing algorithm for ${spec}`) // unreachable: signingFor pairs them
  return rsaSign(key, scheme, hash, digest)
}

export function verify(
  spec: RsaOrEcKeySpec,
  privateKeyPkcs8: Uint8Array,
  algorithm: SigningAlgorithm,
  messageType: MessageType,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const params = specOf(spec)
  const { scheme, hash } = signingFor(spec, algorithm)
  const digest = digestOf(hash, messageType, message)
  const key = loadPrivateKey(spec, privateKeyPkcs8)
  if (!(signature instanceof Uint8Array)) return false
  if (params.kind === 'ec') return ecdsaVerify(params, key, messageType, message, digest, signature)
  if (scheme === 'ecdsa') throw new RangeError(`${algorithm} is not a signing algorithm for ${spec}`) // unreachable: signingFor pairs them
  return rsaVerify(key, scheme, hash, digest, signature)
}

function oaepFor(spec: RsaOrEcKeySpec, algorithm: EncryptionAlgorithm): { bits: number; hash: 'sha1' | 'sha256' } {
  const params = specOf(spec)
  if (params.kind !== 'rsa') throw new RangeError(`${spec} cannot encrypt`)
  if (!has(OAEP, algorithm)) throw new RangeError(`${String(algorithm)} is not an encryption algorithm for ${spec}`)
  return { bits: params.bits, hash: OAEP[algorithm] }
}

/** RFC 8017 §7.1.1: mLen <= k - 2hLen - 2 (214/190 bytes for RSA_2048 with SHA-1/SHA-256). */
export function maxRsaPlaintextBytes(spec: RsaOrEcKeySpec, algorithm: EncryptionAlgorithm): number {
  const { bits, hash } = oaepFor(spec, algorithm)
  return Math.ceil(bits / 8) - 2 * RSA_HASH_BYTES[hash] - 2
}

export function rsaEncrypt(
  spec: RsaOrEcKeySpec,
  privateKeyPkcs8: Uint8Array,
  algorithm: EncryptionAlgorithm,
  plaintext: Uint8Array,
): Buffer {
  const { hash } = oaepFor(spec, algorithm)
  const max = maxRsaPlaintextBytes(spec, algorithm)
  if (!(plaintext instanceof Uint8Array)) throw new TypeError('plaintext: expected Uint8Array')
  if (plaintext.length > max) throw new RangeError(`${spec} with ${algorithm} encrypts at most ${max} bytes, got ${plaintext.length}`)
  const key = loadPrivateKey(spec, privateKeyPkcs8)
  // OAEP label: empty, as AWS (and every common tool) uses.
  return publicEncrypt({ key: publicKeyOfKey(key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, asBuffer(plaintext))
}

export function rsaDecrypt(
  spec: RsaOrEcKeySpec,
  privateKeyPkcs8: Uint8Array,
  algorithm: EncryptionAlgorithm,
  ciphertext: Uint8Array,
): Buffer | undefined {
  const { bits, hash } = oaepFor(spec, algorithm)
  const key = loadPrivateKey(spec, privateKeyPkcs8)
  // RFC 8017 §7.1.2 step 1: the ciphertext is exactly k bytes.
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== Math.ceil(bits / 8)) return undefined
  try {
    // One undefined for every failure (c >= n, bad padding, wrong hash): the caller must not
    // be able to tell them apart (Manger's attack on OAEP distinguishes the failure causes).
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, asBuffer(ciphertext))
  } catch {
    return undefined
  }
}

/** The peer's SPKI as a public key on our curve, or undefined. */
function peerKey(params: EcSpec, spki: Uint8Array): KeyObject | undefined {
  if (!(spki instanceof Uint8Array) || !isSingleDerSequence(spki)) return undefined
  let peer: KeyObject
  try {
    peer = createPublicKey({ key: asBuffer(spki), format: 'der', type: 'spki' })
  } catch {
    return undefined
  }
  if (peer.asymmetricKeyType !== 'ec' || peer.asymmetricKeyDetails?.namedCurve !== params.nodeCurve) return undefined
  // OpenSSL rejects off-curve points while decoding; checking again with an independent
  // implementation keeps an invalid-curve attack (which would leak the private scalar
  // through the shared secret) from depending on one library's decoder.
  try {
    if (!params.curve.utils.isValidPublicKey(ecPoint(peer), false)) return undefined
  } catch {
    return undefined
  }
  return peer
}

export function deriveSharedSecret(spec: RsaOrEcKeySpec, privateKeyPkcs8: Uint8Array, peerPublicKeySpki: Uint8Array): Buffer | undefined {
  const params = specOf(spec)
  if (params.kind !== 'ec' || !params.keyAgreement) throw new RangeError(`${spec} does not support key agreement`)
  const key = loadPrivateKey(spec, privateKeyPkcs8)
  const peer = peerKey(params, peerPublicKeySpki)
  if (peer === undefined) return undefined
  try {
    // SP 800-56A ECC CDH primitive: the x-coordinate of d·Q, field-size bytes, which is
    // what AWS DeriveSharedSecret returns (no KDF applied).
    return diffieHellman({ privateKey: key, publicKey: peer })
  } catch {
    return undefined
  }
}

export function publicKeyOf(spec: RsaOrEcKeySpec, privateKeyPkcs8: Uint8Array): Buffer {
  const key = loadPrivateKey(spec, privateKeyPkcs8)
  // Named-curve SPKI with an uncompressed point for EC, rsaEncryption SPKI for RSA: the
  // encodings AWS GetPublicKey returns.
  return publicKeyOfKey(key).export({ type: 'spki', format: 'der' })
}

/**
 * The same, on libuv's thread pool: an RSA 4096 key pair takes about a second, and the HSM
 * thread keeps serving other requests meanwhile.
 */
export function generateAsymmetricKeyPairAsync(spec: RsaOrEcKeySpec): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  const params = specOf(spec)
  const encodings = { privateKeyEncoding: { type: 'pkcs8', format: 'der' }, publicKeyEncoding: { type: 'spki', format: 'der' } } as const
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: Buffer, privateKey: Buffer): void =>
      err === null ? resolve({ privateKey, publicKey }) : reject(err)
    if (params.kind === 'rsa') generateKeyPair('rsa', { modulusLength: params.bits, publicExponent: 0x10001, ...encodings }, done)
    else generateKeyPair('ec', { namedCurve: params.nodeCurve, paramEncoding: 'named', ...encodings }, done)
  })
}

export function generateAsymmetricKeyPair(spec: RsaOrEcKeySpec): { privateKey: Buffer; publicKey: Buffer } {
  const params = specOf(spec)
  if (params.kind === 'rsa') {
    return generateKeyPairSync('rsa', {
      modulusLength: params.bits,
      publicExponent: 0x10001,
      privateKeyEncoding: { type: 'pkcs8', format: 'der' },
      publicKeyEncoding: { type: 'spki', format: 'der' },
    })
  }
  return generateKeyPairSync('ec', {
    namedCurve: params.nodeCurve,
    paramEncoding: 'named',
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
    publicKeyEncoding: { type: 'spki', format: 'der' },
  })
}

function bigintOf(base64url: unknown): bigint | undefined {
  if (typeof base64url !== 'string' || base64url.length === 0) return undefined
  return BigInt('0x' + Buffer.from(base64url, 'base64url').toString('hex'))
}

/**
 * The RSA private key's parts fit together (RFC 8017 §3.2): n = p·q with p and q prime,
 * e·dP ≡ 1 (mod p-1), e·dQ ≡ 1 (mod q-1), q·qInv ≡ 1 (mod p), and d agrees with dP and
 * dQ. A sign/verify test alone would not notice a wrong p, q or CRT exponent: OpenSSL
 * checks each CRT result and silently recomputes it with d, so such a key signs correctly
 * yet slowly, and holds bytes that are not what they claim. The parts travel as JWK
 * strings and bigints, which cannot be wiped (docs/security.md).
 */
function rsaPartsConsistent(key: KeyObject): boolean {
  const primes = rsaPartsFit(key)
  return primes !== undefined && checkPrimeSync(primes.p) && checkPrimeSync(primes.q)
}

/** p and q if the key's parts fit together arithmetically (the primality tests are the caller's). */
function rsaPartsFit(key: KeyObject): { p: bigint; q: bigint } | undefined {
  const jwk = key.export({ format: 'jwk' }) as Record<string, unknown>
  if (jwk.oth !== undefined) return undefined // multi-prime keys: AWS key specs are two-prime
  const [n, e, d, p, q, dp, dq, qi] = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'].map((name) => bigintOf(jwk[name]))
  if (n === undefined || e === undefined || d === undefined || p === undefined || q === undefined) return undefined
  if (dp === undefined || dq === undefined || qi === undefined) return undefined
  if (p <= 1n || q <= 1n || p === q || p * q !== n || d <= 0n || d >= n) return undefined
  if (dp !== d % (p - 1n) || dq !== d % (q - 1n)) return undefined
  if ((e * dp) % (p - 1n) !== 1n || (e * dq) % (q - 1n) !== 1n || (q * qi) % p !== 1n) return undefined
  return { p, q }
}

function isPrime(candidate: bigint): Promise<boolean> {
  return new Promise((resolve) => checkPrime(candidate, (err, prime) => resolve((err === null || err === undefined) && prime)))
}

/**
 * True when `material` is a PKCS#8 private key of exactly this spec that also works: for
 * RSA its parts must fit together (above); then a pairwise consistency test (FIPS 140-3
 * style: sign, then verify with the derived public key) rejects keys whose halves do not
 * belong together, e.g. an EC key whose embedded public point is not d·G.
 */
export function isValidAsymmetricMaterial(spec: RsaOrEcKeySpec, material: Uint8Array): boolean {
  try {
    if (!isRsaOrEcSpec(spec)) return false
    const key = loadPrivateKey(spec, material)
    if (SPECS[spec].kind === 'rsa' && !rsaPartsConsistent(key)) return false
    return passesPairwiseTest(spec, material)
  } catch {
    return false
  }
}

/**
 * The same checks, with RSA's primality tests (the slow part: about 0.2 s for an RSA 4096
 * key) on libuv's thread pool, so the HSM thread keeps serving meanwhile.
 */
export async function isValidAsymmetricMaterialAsync(spec: RsaOrEcKeySpec, material: Uint8Array): Promise<boolean> {
  try {
    if (!isRsaOrEcSpec(spec)) return false
    const key = loadPrivateKey(spec, material)
    if (SPECS[spec].kind === 'rsa') {
      const primes = rsaPartsFit(key)
      if (primes === undefined) return false
      const [pPrime, qPrime] = await Promise.all([isPrime(primes.p), isPrime(primes.q)])
      if (!pPrime || !qPrime) return false
    }
    return passesPairwiseTest(spec, material)
  } catch {
    return false
  }
}

function passesPairwiseTest(spec: RsaOrEcKeySpec, material: Uint8Array): boolean {
  const algorithm = signingAlgorithmsFor(spec)[0]
  if (algorithm === undefined) return false
  const digest = Buffer.alloc(signingDigestBytes(algorithm), 0x5a)
  const signature = sign(spec, material, algorithm, 'DIGEST', digest)
  return verify(spec, material, algorithm, 'DIGEST', digest, signature)
}
