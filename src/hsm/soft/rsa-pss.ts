/**
 * RSA signature encodings (RFC 8017): EMSA-PSS (§9.1) and EMSA-PKCS1-v1_5 (§9.2).
 *
 * node:crypto only signs a message it hashes itself; AWS KMS also signs a digest the
 * caller computed (MessageType DIGEST). So the encoded message EM is built here and the
 * raw RSA private operation is applied by the caller (asymmetric.ts). RAW messages take
 * the same path after hashing, which makes a DIGEST signature over H(m) and a RAW
 * signature over m the same thing by construction.
 *
 * Pure functions over bytes; nothing here touches a key.
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

export type RsaHash = 'sha1' | 'sha256' | 'sha384' | 'sha512'

export const RSA_HASH_BYTES: Record<RsaHash, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }

function hash(name: RsaHash, ...parts: Uint8Array[]): Buffer {
  const h = createHash(name)
  for (const part of parts) h.update(part)
  return h.digest()
}

/** MGF1 (RFC 8017 §B.2.1): Hash(seed || C) for a 4-byte big-endian counter C, concatenated and cut. */
export function mgf1(name: RsaHash, seed: Uint8Array, length: number): Buffer {
  const hLen = RSA_HASH_BYTES[name]
  const out = Buffer.alloc(Math.ceil(length / hLen) * hLen)
  const counter = Buffer.alloc(4)
  for (let i = 0, offset = 0; offset < length; i++, offset += hLen) {
    counter.writeUInt32BE(i, 0)
    hash(name, seed, counter).copy(out, offset)
  }
  return out.subarray(0, length)
}

/** Zeroes the bits of the first byte above emBits, so the integer EM is below 2^emBits and hence below n. */
function topMask(emLen: number, emBits: number): number {
  return 0xff >>> (8 * emLen - emBits)
}

/**
 * EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with MGF1 over the same hash and a random salt of
 * `saltLength` bytes. emBits is modBits - 1 (§8.1.1), so EM is ceil(emBits / 8) bytes.
 */
export function emsaPssEncode(name: RsaHash, mHash: Uint8Array, emBits: number, saltLength: number): Buffer {
  const hLen = RSA_HASH_BYTES[name]
  if (mHash.length !== hLen) throw new RangeError(`PSS: digest must be ${hLen} bytes`)
  const emLen = Math.ceil(emBits / 8)
  if (emLen < hLen + saltLength + 2) throw new RangeError('PSS: modulus too small for this hash and salt')
  const salt = randomBytes(saltLength)
  // H = Hash(0x00 * 8 || mHash || salt): the eight zero bytes are the spec's padding1.
  const h = hash(name, Buffer.alloc(8), mHash, salt)
  // DB = PS || 0x01 || salt, with PS all zero; it is then masked by MGF1(H).
  const dbLen = emLen - hLen - 1
  const db = Buffer.alloc(dbLen)
  db[dbLen - saltLength - 1] = 0x01
  salt.copy(db, dbLen - saltLength)
  const mask = mgf1(name, h, dbLen)
  for (let i = 0; i < dbLen; i++) db[i] = (db[i] ?? 0) ^ (mask[i] ?? 0)
  db[0] = (db[0] ?? 0) & topMask(emLen, emBits)
  return Buffer.concat([db, h, Buffer.of(0xbc)])
}

/**
 * EMSA-PSS-VERIFY (RFC 8017 §9.1.2). `em` is the emLen-byte encoded message recovered
 * from the signature. The salt length is fixed by the caller (AWS KMS: the hash length)
 * rather than inferred, so a signature made with another salt length is rejected, as
 * `openssl ... -sigopt rsa_pss_saltlen:digest` also rejects it.
 */
export function emsaPssVerify(name: RsaHash, mHash: Uint8Array, em: Uint8Array, emBits: number, saltLength: number): boolean {
  const hLen = RSA_HASH_BYTES[name]
  const emLen = Math.ceil(emBits / 8)
  if (mHash.length !== hLen || em.length !== emLen) return false
  if (emLen < hLen + saltLength + 2) return false
  if (em[emLen - 1] !== 0xbc) return false
  const dbLen = emLen - hLen - 1
  const maskedDb = em.subarray(0, dbLen)
  const h = em.subarray(dbLen, dbLen + hLen)
  // The bits above emBits must be zero in the signature as received, before unmasking.
  if (((maskedDb[0] ?? 0) & ~topMask(emLen, emBits) & 0xff) !== 0) return false
  const db = mgf1(name, h, dbLen)
  for (let i = 0; i < dbLen; i++) db[i] = (db[i] ?? 0) ^ (maskedDb[i] ?? 0)
  db[0] = (db[0] ?? 0) & topMask(emLen, emBits)
  const psLen = dbLen - saltLength - 1
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false
  if (db[psLen] !== 0x01) return false
  const salt = db.subarray(dbLen - saltLength)
  const expected = hash(name, Buffer.alloc(8), mHash, salt)
  return timingSafeEqual(expected, h)
}

/**
 * The DER prefix of DigestInfo (RFC 8017 §9.2 note 1): SEQUENCE { SEQUENCE { OID, NULL },
 * OCTET STRING digest } for the SHA-2 OIDs 2.16.840.1.101.3.4.2.{1,2,3}; the digest is
 * appended. Built from the OID arc so the lengths are computed, not copied.
 */
function digestInfoPrefix(name: Exclude<RsaHash, 'sha1'>): Buffer {
  const arc = { sha256: 1, sha384: 2, sha512: 3 }[name]
  const hLen = RSA_HASH_BYTES[name]
  const oid = Buffer.of(0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, arc)
  const algorithm = Buffer.concat([Buffer.of(0x30, oid.length + 2), oid, Buffer.of(0x05, 0x00)])
  const bodyLength = algorithm.length + 2 + hLen
  return Buffer.concat([Buffer.of(0x30, bodyLength), algorithm, Buffer.of(0x04, hLen)])
}

/**
 * EMSA-PKCS1-v1_5-ENCODE (RFC 8017 §9.2): 0x00 || 0x01 || 0xff.. || 0x00 || DigestInfo,
 * exactly k bytes. Verification re-encodes and compares the whole block (§8.2.2 step 4)
 * instead of parsing the recovered one, which avoids the lenient-parser forgeries
 * (Bleichenbacher 2006) by construction.
 */
export function emsaPkcs1v15Encode(name: Exclude<RsaHash, 'sha1'>, mHash: Uint8Array, k: number): Buffer {
  const hLen = RSA_HASH_BYTES[name]
  if (mHash.length !== hLen) throw new RangeError(`PKCS#1 v1.5: digest must be ${hLen} bytes`)
  const t = Buffer.concat([digestInfoPrefix(name), mHash])
  if (k < t.length + 11) throw new RangeError('PKCS#1 v1.5: modulus too small for this hash')
  const em = Buffer.alloc(k, 0xff)
  em[0] = 0x00
  em[1] = 0x01
  em[k - t.length - 1] = 0x00
  t.copy(em, k - t.length)
  return em
}
