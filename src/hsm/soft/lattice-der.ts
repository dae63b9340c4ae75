/**
 * DER encodings of ML-DSA and ML-KEM keys: the private key as PKCS#8 in its seed form,
 * the public key as SubjectPublicKeyInfo, both with the NIST algorithm identifiers
 * (id-ml-dsa-44 … 2.16.840.1.101.3.4.3.17–19, id-alg-ml-kem-512 … 2.16.840.1.101.3.4.4.1–3)
 * and absent parameters, as the IETF LAMPS profiles specify (draft-ietf-lamps-dilithium-certificates,
 * draft-ietf-lamps-kyber-certificates; test/vectors/lamps-example-keys.json holds their examples).
 *
 * The seed form (`[0] IMPLICIT OCTET STRING`, 32 bytes ξ for ML-DSA, 64 bytes d || z for
 * ML-KEM) is the only private-key form accepted: the expanded key is derived from it, so
 * a key held as a seed cannot carry an expanded half that does not belong to it. Both
 * encodings are fixed-length, so they are built and checked byte for byte rather than
 * parsed.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { clean } from '../internal/bytes.js'

/** The DER of the AlgorithmIdentifier's OID: 06 09 60 86 48 01 65 03 04 <arc> <n>. */
function oid(arc: number, n: number): Buffer {
  return Buffer.from([0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, arc, n])
}

export interface LatticeDer {
  /** OID content bytes (DER, tag and length included). */
  oid: Buffer
  seedBytes: number
  publicKeyBytes: number
}

export function mlDsaDer(level: 44 | 65 | 87, publicKeyBytes: number): LatticeDer {
  return { oid: oid(0x03, level === 44 ? 0x11 : level === 65 ? 0x12 : 0x13), seedBytes: 32, publicKeyBytes }
}

export function mlKemDer(level: 512 | 768 | 1024, publicKeyBytes: number): LatticeDer {
  return { oid: oid(0x04, level === 512 ? 0x01 : level === 768 ? 0x02 : 0x03), seedBytes: 64, publicKeyBytes }
}

/** A DER length: short form below 128, else 0x81/0x82 and one or two bytes (keys here stay below 64 KiB). */
function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length])
  if (length < 0x100) return Buffer.from([0x81, length])
  return Buffer.from([0x82, length >> 8, length & 0xff])
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content])
}

function algorithmIdentifier(der: LatticeDer): Buffer {
  return tlv(0x30, der.oid)
}

/** PKCS#8 v1 (RFC 5958 OneAsymmetricKey, version 0) holding the seed. */
export function seedToPkcs8(der: LatticeDer, seed: Uint8Array): Buffer {
  if (seed.length !== der.seedBytes) throw new RangeError(`seed: expected ${der.seedBytes} bytes, got ${seed.length}`)
  const privateKey = tlv(0x04, tlv(0x80, Buffer.from(seed)))
  return tlv(0x30, Buffer.concat([Buffer.from([0x02, 0x01, 0x00]), algorithmIdentifier(der), privateKey]))
}

/**
 * The seed inside `pkcs8`, a copy the caller wipes; undefined unless `pkcs8` is exactly the
 * seed-form encoding of this algorithm (no attributes, no public key, no expanded key).
 */
export function seedFromPkcs8(der: LatticeDer, pkcs8: Uint8Array): Buffer | undefined {
  if (!(pkcs8 instanceof Uint8Array)) return undefined
  const template = seedToPkcs8(der, new Uint8Array(der.seedBytes))
  if (pkcs8.length !== template.length) return undefined
  const seedAt = template.length - der.seedBytes
  // Everything before the seed is fixed; compare it all (the key's own bytes are not secret
  // here, but the comparison is as cheap as a parse).
  if (!Buffer.from(pkcs8.buffer, pkcs8.byteOffset, seedAt).equals(template.subarray(0, seedAt))) return undefined
  return Buffer.from(pkcs8.subarray(seedAt))
}

/** SubjectPublicKeyInfo: the algorithm and the raw public key in a BIT STRING. */
export function publicKeyToSpki(der: LatticeDer, publicKey: Uint8Array): Buffer {
  if (publicKey.length !== der.publicKeyBytes)
    throw new RangeError(`publicKey: expected ${der.publicKeyBytes} bytes, got ${publicKey.length}`)
  return tlv(0x30, Buffer.concat([algorithmIdentifier(der), tlv(0x03, Buffer.concat([Buffer.from([0x00]), Buffer.from(publicKey)]))]))
}

/** The raw public key inside `spki`, or undefined unless it is exactly this algorithm's encoding. */
export function publicKeyFromSpki(der: LatticeDer, spki: Uint8Array): Uint8Array | undefined {
  if (!(spki instanceof Uint8Array)) return undefined
  const template = publicKeyToSpki(der, new Uint8Array(der.publicKeyBytes))
  const keyAt = template.length - der.publicKeyBytes
  if (spki.length !== template.length) return undefined
  if (!Buffer.from(spki.buffer, spki.byteOffset, keyAt).equals(template.subarray(0, keyAt))) return undefined
  return spki.subarray(keyAt)
}

/** New key material: a random seed of the algorithm's size, as PKCS#8 (the seed is wiped). */
export function newSeedPkcs8(der: LatticeDer): Buffer {
  const seed = randomBytes(der.seedBytes)
  try {
    return seedToPkcs8(der, seed)
  } finally {
    clean(seed)
  }
}

/**
 * The expansion of seed-form keys (the key pair a seed generates), cached by the buffer
 * holding their PKCS#8 bytes, as asymmetric.ts keeps parsed keys: the HSM passes the same
 * cached buffer for every use of a key version. An expanded secret key lives as long as
 * that buffer; it cannot be wiped when the WeakMap drops it, the same limit
 * docs/security.md states for OpenSSL's parsed keys. The seed is wiped once expanded.
 */
export function expandedSeedKeys<Spec extends string, Expanded extends { spec: Spec }>(
  derOf: (spec: Spec) => LatticeDer,
  expandSeed: (spec: Spec, seed: Uint8Array) => Expanded,
): (spec: Spec, pkcs8: Uint8Array) => Expanded {
  const expanded = new WeakMap<Uint8Array, Expanded>()
  return (spec, pkcs8) => {
    const cached = pkcs8 instanceof Uint8Array ? expanded.get(pkcs8) : undefined
    if (cached !== undefined && cached.spec === spec) return cached
    const seed = seedFromPkcs8(derOf(spec), pkcs8)
    if (seed === undefined) throw new RangeError(`${spec}: not a seed-form PKCS#8 private key`)
    try {
      const key = expandSeed(spec, seed)
      expanded.set(pkcs8, key)
      return key
    } finally {
      clean(seed)
    }
  }
}
