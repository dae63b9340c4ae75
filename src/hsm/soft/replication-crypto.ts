/**
 * The cryptography of the replication protocol (docs/spec/replication.md §2–§4), as pure
 * and deterministic functions: every random input (the ephemeral private keys) comes from
 * the caller, so the same inputs always give the same bytes and known-answer vectors
 * (test/vectors/replication/) can pin them. Key management lives in replication-keys.ts,
 * the HSM operations in soft-hsm.ts.
 *
 * Everything here runs inside the HSM boundary: it sees RWKs and key material in plaintext.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHash, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto'
import { HsmError, type TransferBinding, type WrappedMaterial } from '../hsm.js'
import { clean, u32be } from '../internal/bytes.js'

/** An uncompressed SEC1 P-384 point: 0x04 || x (48) || y (48). */
export const P384_POINT_BYTES = 97
/** Z, the x-coordinate of the ECDH result (SP 800-56A §5.7.1.2). */
export const SHARED_SECRET_BYTES = 48
export const RWK_BYTES = 32
export const WRAP_TAG_BYTES = 16
/**
 * The longest HKDF `info` node:crypto's hkdfSync accepts. The spec bounds no field of
 * `Info`, so a transfer whose names and version list do not fit is refused rather than
 * derived differently (with typical names, about 170 versions fit in one session).
 */
export const MAX_RWK_INFO_BYTES = 1024

/** DER prefix of a P-384 SubjectPublicKeyInfo whose key is an uncompressed point (RFC 5480). */
const P384_SPKI_PREFIX = Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex')
const RWK_INFO_LABEL = Buffer.from('trent/rwk/v1\0', 'utf8')
const WRAP_AAD_LABEL = Buffer.from('trent/rwk-wrap/v1\0', 'utf8')
const SIGNING_LABEL = Buffer.from('trent-replication-v1\0', 'utf8')
const SESSION_ID_PATTERN = /^[0-9a-f]{32}$/
const MATERIAL_ID_PATTERN = /^[0-9a-f]{64}$/

/** A material version in plaintext, as the source wraps it and the destination gets it back. */
export interface PlainMaterial {
  materialVersion: number
  materialId: string
  material: Uint8Array
}

/** The fields of a transfer every check looks at: a version and its KeyMaterialId. */
export interface VersionEntry {
  materialVersion: number
  materialId: string
}

export function isSessionId(value: string): boolean {
  return SESSION_ID_PATTERN.test(value)
}

export function isMaterialId(value: string): boolean {
  return MATERIAL_ID_PATTERN.test(value)
}

/** The 16 session-id bytes: the HKDF salt (§4.1) and part of each wrap's AAD (§4.2). */
export function sessionIdBytes(sessionId: string): Buffer {
  if (!isSessionId(sessionId)) throw new RangeError('sessionId: expected 32 lower-case hex digits')
  return Buffer.from(sessionId, 'hex')
}

/** True if the string survives UTF-8 encoding unchanged (no lone surrogates). */
function isWellFormed(value: string): boolean {
  return Buffer.from(value, 'utf8').toString('utf8') === value
}

//= docs/spec/replication.md#rwk
// lp(x) = u16 length || x (UTF-8 for strings)
function lengthPrefixed(bytes: Uint8Array): Buffer {
  if (bytes.length > 0xffff) throw new RangeError('field longer than 65535 bytes')
  const length = Buffer.alloc(2)
  length.writeUInt16BE(bytes.length, 0)
  return Buffer.concat([length, bytes])
}

function lengthPrefixedString(value: string): Buffer {
  return lengthPrefixed(Buffer.from(value, 'utf8'))
}

function u16be(value: number): Buffer {
  const out = Buffer.alloc(2)
  out.writeUInt16BE(value, 0)
  return out
}

/** The bytes `Info` will take for this binding and number of versions, without building it. */
function rwkInfoLength(binding: Omit<TransferBinding, 'sessionId'>, versionCount: number): number {
  const strings = [binding.partition, binding.sourceRegion, binding.destinationRegion, binding.keyId]
  return (
    RWK_INFO_LABEL.length +
    strings.reduce((sum, value) => sum + 2 + Buffer.byteLength(value, 'utf8'), 0) +
    2 +
    4 * versionCount +
    2 * (2 + P384_POINT_BYTES)
  )
}

/**
 * Why a transfer's binding and version list cannot be used, or `undefined` if they can.
 * The HSM's caller decides what the answer means: the source refuses the request
 * (`BAD_REQUEST`), the destination fails the transfer (`TRANSFER_FAILED`).
 */
export function transferProblem(binding: TransferBinding, entries: readonly VersionEntry[]): string | undefined {
  if (!isSessionId(binding.sessionId)) return 'sessionId: expected 32 lower-case hex digits'
  const names: [string, string][] = [
    ['partition', binding.partition],
    ['sourceRegion', binding.sourceRegion],
    ['destinationRegion', binding.destinationRegion],
    ['keyId', binding.keyId],
  ]
  for (const [label, value] of names) {
    // Lone surrogates would encode as U+FFFD, so two different bindings could share an RWK.
    if (value.length === 0 || !isWellFormed(value)) return `${label}: expected a non-empty, well-formed string`
  }
  if (entries.length === 0) return 'no material versions'
  //= docs/spec/replication.md#rwk
  // "the versions carried, ascending": strictly, so a version list has one encoding.
  let previous = 0
  for (const [index, entry] of entries.entries()) {
    const version = entry.materialVersion
    if (!Number.isInteger(version) || version < 1 || version > 0xffffffff) return `entry ${index}: bad materialVersion`
    if (version <= previous) return `entry ${index}: versions must be strictly ascending`
    previous = version
    if (!isMaterialId(entry.materialId)) return `entry ${index}: materialId must be 64 lower-case hex digits`
  }
  if (rwkInfoLength(binding, entries.length) > MAX_RWK_INFO_BYTES) {
    return `RWK info would exceed ${MAX_RWK_INFO_BYTES} bytes: too many versions or names too long for one session`
  }
  return undefined
}

//= docs/spec/replication.md#rwk
/**
 * Info = "trent/rwk/v1" || 0x00 || lp(partition) || lp(sourceRegion) || lp(destinationRegion)
 *        || lp(keyId) || u16 n || u32 version_1 || … || u32 version_n
 *        || lp(RAKA public key) || lp(RAKB public key)
 *
 * Encodes exactly what it is given; `transferProblem` is where the rules are checked.
 */
export function encodeRwkInfo(
  binding: Omit<TransferBinding, 'sessionId'>,
  versions: readonly number[],
  rakaPublicKey: Uint8Array,
  rakbPublicKey: Uint8Array,
): Buffer {
  if (versions.length > 0xffff) throw new RangeError('versions: more than 65535')
  for (const version of versions) {
    if (!Number.isInteger(version) || version < 0 || version > 0xffffffff) throw new RangeError('versions: expected u32 values')
  }
  return Buffer.concat([
    RWK_INFO_LABEL,
    lengthPrefixedString(binding.partition),
    lengthPrefixedString(binding.sourceRegion),
    lengthPrefixedString(binding.destinationRegion),
    lengthPrefixedString(binding.keyId),
    u16be(versions.length),
    ...versions.map((version) => u32be(version)),
    lengthPrefixed(rakaPublicKey),
    lengthPrefixed(rakbPublicKey),
  ])
}

//= docs/spec/replication.md#rwk
/**
 * RWK = HKDF-SHA-384(IKM = Z, salt = the 16 session-id bytes, info = Info, L = 32).
 * The caller owns the returned buffer and must wipe it.
 */
export function deriveRwk(
  sharedSecret: Uint8Array,
  binding: TransferBinding,
  versions: readonly number[],
  rakaPublicKey: Uint8Array,
  rakbPublicKey: Uint8Array,
): Buffer {
  if (sharedSecret.length !== SHARED_SECRET_BYTES) throw new RangeError(`sharedSecret: expected ${SHARED_SECRET_BYTES} bytes`)
  const info = encodeRwkInfo(binding, versions, rakaPublicKey, rakbPublicKey)
  if (info.length > MAX_RWK_INFO_BYTES) throw new RangeError(`RWK info: more than ${MAX_RWK_INFO_BYTES} bytes`)
  // Buffer.from(ArrayBuffer) shares the memory, so wiping the result wipes the only copy.
  return Buffer.from(hkdfSync('sha384', sharedSecret, sessionIdBytes(binding.sessionId), info, RWK_BYTES))
}

//= docs/spec/replication.md#wrap
// IV = u32 j || 0x0000000000000000: deterministic, safe because an RWK serves one
// session and each index is used once within it.
export function wrapIv(index: number): Buffer {
  return Buffer.concat([u32be(index), Buffer.alloc(8)])
}

//= docs/spec/replication.md#wrap
// AAD = "trent/rwk-wrap/v1" || 0x00 || sessionId || lp(keyId) || u32 version_i || materialId_i (32 bytes)
export function wrapAad(binding: TransferBinding, materialVersion: number, materialId: string): Buffer {
  if (!isMaterialId(materialId)) throw new RangeError('materialId: expected 64 lower-case hex digits')
  return Buffer.concat([
    WRAP_AAD_LABEL,
    sessionIdBytes(binding.sessionId),
    lengthPrefixedString(binding.keyId),
    u32be(materialVersion),
    Buffer.from(materialId, 'hex'),
  ])
}

//= docs/spec/replication.md#wrap
/** Wraps each material under the RWK, index j in the order given (which must be ascending). */
export function wrapMaterials(rwk: Uint8Array, binding: TransferBinding, materials: readonly PlainMaterial[]): WrappedMaterial[] {
  if (rwk.length !== RWK_BYTES) throw new RangeError(`rwk: expected ${RWK_BYTES} bytes`)
  return materials.map((entry, index) => {
    const cipher = createCipheriv('aes-256-gcm', rwk, wrapIv(index))
    cipher.setAAD(wrapAad(binding, entry.materialVersion, entry.materialId))
    const wrapped = Buffer.concat([cipher.update(entry.material), cipher.final(), cipher.getAuthTag()])
    return { materialVersion: entry.materialVersion, materialId: entry.materialId, wrapped }
  })
}

//= docs/spec/replication.md#wrap
/**
 * Unwraps every entry, index j in the order given. Any entry that does not authenticate
 * (wrong RWK, binding, version, material id, position or bytes) fails the whole call with
 * `TRANSFER_FAILED`, and what was already unwrapped is wiped. The caller owns and must
 * wipe the returned buffers.
 */
export function unwrapMaterials(rwk: Uint8Array, binding: TransferBinding, wrapped: readonly WrappedMaterial[]): Buffer[] {
  if (rwk.length !== RWK_BYTES) throw new RangeError(`rwk: expected ${RWK_BYTES} bytes`)
  const out: Buffer[] = []
  try {
    for (const [index, entry] of wrapped.entries()) {
      if (entry.wrapped.length < WRAP_TAG_BYTES || !isMaterialId(entry.materialId)) throw new Error('malformed entry')
      const decipher = createDecipheriv('aes-256-gcm', rwk, wrapIv(index))
      decipher.setAAD(wrapAad(binding, entry.materialVersion, entry.materialId))
      decipher.setAuthTag(entry.wrapped.subarray(entry.wrapped.length - WRAP_TAG_BYTES))
      const body = decipher.update(entry.wrapped.subarray(0, entry.wrapped.length - WRAP_TAG_BYTES))
      try {
        out.push(Buffer.concat([body, decipher.final()]))
      } finally {
        clean(body)
      }
    }
    return out
  } catch {
    clean(...out)
    throw new HsmError('TRANSFER_FAILED', 'wrapped material does not authenticate')
  }
}

//= docs/spec/replication.md#rwk
/**
 * Imports a peer's ephemeral public key: exactly an uncompressed SEC1 point (97 bytes,
 * 0x04 prefix) on P-384. OpenSSL refuses points off the curve when it decodes the SPKI;
 * every refusal is `TRANSFER_FAILED`, the one code for an agreement that cannot go on.
 */
export function publicKeyFromPoint(point: Uint8Array): KeyObject {
  if (point.length !== P384_POINT_BYTES || point[0] !== 0x04) {
    throw new HsmError('TRANSFER_FAILED', 'peer public key is not an uncompressed P-384 point')
  }
  try {
    return createPublicKey({ key: Buffer.concat([P384_SPKI_PREFIX, point]), format: 'der', type: 'spki' })
  } catch {
    throw new HsmError('TRANSFER_FAILED', 'peer public key is not a point on P-384')
  }
}

/** The uncompressed SEC1 point of a P-384 public (or private) key. */
export function pointOfPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === 'public' ? key : createPublicKey(key)
  const spki = publicKey.export({ format: 'der', type: 'spki' })
  if (spki.length !== P384_SPKI_PREFIX.length + P384_POINT_BYTES || !spki.subarray(0, P384_SPKI_PREFIX.length).equals(P384_SPKI_PREFIX)) {
    throw new TypeError('key: expected a P-384 key')
  }
  return spki.subarray(P384_SPKI_PREFIX.length)
}

//= docs/spec/replication.md#rwk
/**
 * Z = ECDH(own private key, peer public point): the 48-byte x-coordinate. The caller owns
 * and must wipe the result. A bad peer point is `TRANSFER_FAILED`.
 */
export function ecdhSharedSecret(privateKey: KeyObject, peerPoint: Uint8Array): Buffer {
  const publicKey = publicKeyFromPoint(peerPoint)
  let secret: Buffer
  try {
    secret = diffieHellman({ privateKey, publicKey })
  } catch {
    throw new HsmError('TRANSFER_FAILED', 'key agreement failed')
  }
  if (secret.length !== SHARED_SECRET_BYTES) {
    clean(secret)
    throw new HsmError('TRANSFER_FAILED', 'key agreement failed')
  }
  return secret
}

/** What an RSK signs: "trent-replication-v1" || 0x00 || body (§3.2 rule 1). */
export function replicationSigningInput(body: Uint8Array): Buffer {
  return Buffer.concat([SIGNING_LABEL, body])
}

/** An RSK's id: the first 16 bytes of SHA-256 over its SPKI DER, as 32 lower-case hex (§2). */
export function rskIdOf(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest().subarray(0, 16).toString('hex')
}
