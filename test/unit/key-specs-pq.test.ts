/**
 * The HSM's Ed25519, ML-DSA and ML-KEM primitives against known answers: NIST ACVP vectors
 * for ML-DSA (keyGen, sigGen, sigVer) and ML-KEM (keyGen, encapsulation, decapsulation),
 * RFC 8032 for Ed25519 and Ed25519ph, and the IETF LAMPS example keys for the DER
 * encodings (test/vectors/README.md names each file's source). Then the key-spec functions
 * the soft HSM calls, against node:crypto (Ed25519) and an ML-DSA verifier that computes μ
 * itself (noble's pure ML-DSA.Verify, a code path the HSM does not use: the HSM computes
 * μ with node:crypto's SHAKE256 and verifies from μ).
 */
import assert from 'node:assert/strict'
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js'
import { ed25519ph } from '@noble/curves/ed25519.js'
import {
  decapsulate,
  encapsulate,
  generateDataKeyPair,
  generateKeyMaterial,
  isValidKeyMaterial,
  publicKeyOf,
  sign,
  verify,
  type AsymmetricKeySpec,
} from '../../src/hsm/soft/key-specs.js'
import { ed25519phSign, ed25519phVerify } from '../../src/hsm/soft/ed25519.js'
import { mlDsaSignMu, mlDsaVerifyMu, type MlDsaKeySpec } from '../../src/hsm/soft/ml-dsa.js'
import { mlKemDecapsulateWith, mlKemEncapsulateWith, type MlKemKeySpec } from '../../src/hsm/soft/ml-kem.js'
import { mlDsaDer, mlKemDer, seedToPkcs8 } from '../../src/hsm/soft/lattice-der.js'

const VECTORS = new URL('../../../test/vectors/', import.meta.url)
function vectors<T>(path: string): T {
  return JSON.parse(readFileSync(new URL(path, VECTORS), 'utf8')) as T
}
const hex = (value: string): Buffer => Buffer.from(value, 'hex')

const DSA_SPEC: Record<string, MlDsaKeySpec> = { 'ML-DSA-44': 'ML_DSA_44', 'ML-DSA-65': 'ML_DSA_65', 'ML-DSA-87': 'ML_DSA_87' }
const KEM_SPEC: Record<string, MlKemKeySpec> = { 'ML-KEM-512': 'ML_KEM_512', 'ML-KEM-768': 'ML_KEM_768', 'ML-KEM-1024': 'ML_KEM_1024' }
const NOBLE_DSA = { ML_DSA_44: ml_dsa44, ML_DSA_65: ml_dsa65, ML_DSA_87: ml_dsa87 } as const
const DSA_PUBLIC_KEY_BYTES = { ML_DSA_44: 1312, ML_DSA_65: 1952, ML_DSA_87: 2592 } as const
const KEM_PUBLIC_KEY_BYTES = { ML_KEM_512: 800, ML_KEM_768: 1184, ML_KEM_1024: 1568 } as const
const KEM_CIPHERTEXT_BYTES = { ML_KEM_512: 768, ML_KEM_768: 1088, ML_KEM_1024: 1568 } as const

function specOf<S>(table: Record<string, S>, parameterSet: string): S {
  const spec = table[parameterSet]
  if (spec === undefined) throw new Error(`unknown parameter set ${parameterSet}`)
  return spec
}

function shake256(outputLength: number, ...parts: Uint8Array[]): Buffer {
  const hash = createHash('shake256', { outputLength })
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/** The raw key at the end of a SubjectPublicKeyInfo whose key is `bytes` long. */
function rawKeyOf(spki: Uint8Array, bytes: number): Buffer {
  return Buffer.from(spki.subarray(spki.length - bytes))
}

// --- ML-KEM (FIPS 203), NIST ACVP ---

interface KemKeyGen {
  testGroups: Array<{ parameterSet: string; tests: Array<{ tcId: number; d: string; z: string; ek: string; dk: string }> }>
}
interface KemEncap {
  testGroups: Array<{ parameterSet: string; tests: Array<{ tcId: number; ek: string; m: string; c: string; k: string }> }>
}
interface KemDecap {
  testGroups: Array<{ parameterSet: string; dk: string; tests: Array<{ tcId: number; c: string; k: string; reason: string }> }>
}

test('ML-KEM keyGen (ACVP): the seed d || z as key material gives the vector encapsulation key, in a SubjectPublicKeyInfo', () => {
  for (const group of vectors<KemKeyGen>('ml-kem/keygen.json').testGroups) {
    const spec = specOf(KEM_SPEC, group.parameterSet)
    for (const t of group.tests) {
      const material = seedToPkcs8(
        mlKemDer(spec === 'ML_KEM_512' ? 512 : spec === 'ML_KEM_768' ? 768 : 1024, KEM_PUBLIC_KEY_BYTES[spec]),
        Buffer.concat([hex(t.d), hex(t.z)]),
      )
      assert.equal(isValidKeyMaterial(spec, material), true, `tcId ${t.tcId}`)
      const spki = publicKeyOf(spec, material)
      assert.deepEqual(rawKeyOf(spki, KEM_PUBLIC_KEY_BYTES[spec]), hex(t.ek), `tcId ${t.tcId}`)
      // The vector's decapsulation key and ours agree: what one encapsulates, the other opens.
      const { ciphertext, sharedSecret } = encapsulate(spec, material)
      assert.deepEqual(mlKemDecapsulateWith(spec, hex(t.dk), ciphertext), sharedSecret, `tcId ${t.tcId}`)
    }
  }
})

test('ML-KEM encapsulation (ACVP): ek and m give the vector ciphertext and shared secret', () => {
  for (const group of vectors<KemEncap>('ml-kem/encapsulation.json').testGroups) {
    const spec = specOf(KEM_SPEC, group.parameterSet)
    for (const t of group.tests) {
      const { ciphertext, sharedSecret } = mlKemEncapsulateWith(spec, hex(t.ek), hex(t.m))
      assert.deepEqual(Buffer.from(ciphertext), hex(t.c), `tcId ${t.tcId}`)
      assert.deepEqual(Buffer.from(sharedSecret), hex(t.k), `tcId ${t.tcId}`)
    }
  }
})

test('ML-KEM decapsulation (ACVP): the vector secret, including implicit rejection of modified ciphertexts', () => {
  let rejected = 0
  for (const group of vectors<KemDecap>('ml-kem/decapsulation.json').testGroups) {
    const spec = specOf(KEM_SPEC, group.parameterSet)
    for (const t of group.tests) {
      const secret = mlKemDecapsulateWith(spec, hex(group.dk), hex(t.c))
      assert.ok(secret !== undefined)
      assert.deepEqual(Buffer.from(secret), hex(t.k), `tcId ${t.tcId} (${t.reason})`)
      if (t.reason !== 'no modification') rejected++
    }
  }
  assert.ok(rejected >= 3, 'the subset holds modified ciphertexts')
})

// --- ML-DSA (FIPS 204), NIST ACVP ---

interface DsaKeyGen {
  testGroups: Array<{ parameterSet: string; tests: Array<{ tcId: number; seed: string; pk: string }> }>
}
interface DsaSigGen {
  testGroups: Array<{
    parameterSet: string
    deterministic: boolean
    tests: Array<{ tcId: number; sk: string; message: string; rnd?: string; signature: string }>
  }>
}
interface DsaSigVer {
  testGroups: Array<{
    parameterSet: string
    pk: string
    tests: Array<{ tcId: number; testPassed: boolean; message: string; signature: string; reason: string }>
  }>
}

function dsaDer(spec: MlDsaKeySpec): ReturnType<typeof mlDsaDer> {
  return mlDsaDer(spec === 'ML_DSA_44' ? 44 : spec === 'ML_DSA_65' ? 65 : 87, DSA_PUBLIC_KEY_BYTES[spec])
}

test('ML-DSA keyGen (ACVP): the seed as key material gives the vector public key, in a SubjectPublicKeyInfo', () => {
  for (const group of vectors<DsaKeyGen>('ml-dsa/keygen.json').testGroups) {
    const spec = specOf(DSA_SPEC, group.parameterSet)
    for (const t of group.tests) {
      const material = seedToPkcs8(dsaDer(spec), hex(t.seed))
      assert.equal(isValidKeyMaterial(spec, material), true, `tcId ${t.tcId}`)
      assert.deepEqual(rawKeyOf(publicKeyOf(spec, material), DSA_PUBLIC_KEY_BYTES[spec]), hex(t.pk), `tcId ${t.tcId}`)
    }
  }
})

// These vectors use ML-DSA's internal interface: the message is the M of Sign_internal, so
// μ = SHAKE256(tr || M, 64), with tr at bytes 64–127 of the expanded secret key (FIPS 204
// Algorithm 24) or SHAKE256(pk, 64). μ is computed here with node:crypto, independently of
// the HSM, and the HSM's external-μ signing is what is checked.
test('ML-DSA sigGen (ACVP): signing μ gives the vector signature, deterministic and hedged', () => {
  for (const group of vectors<DsaSigGen>('ml-dsa/siggen.json').testGroups) {
    const spec = specOf(DSA_SPEC, group.parameterSet)
    for (const t of group.tests) {
      const sk = hex(t.sk)
      const mu = shake256(64, sk.subarray(64, 128), hex(t.message))
      const rnd = group.deterministic ? Buffer.alloc(32) : hex(t.rnd ?? '')
      assert.deepEqual(Buffer.from(mlDsaSignMu(spec, sk, mu, rnd)), hex(t.signature), `tcId ${t.tcId}`)
    }
  }
})

test('ML-DSA sigVer (ACVP): verifying from μ accepts and refuses as the vectors say', () => {
  let refused = 0
  for (const group of vectors<DsaSigVer>('ml-dsa/sigver.json').testGroups) {
    const spec = specOf(DSA_SPEC, group.parameterSet)
    const pk = hex(group.pk)
    for (const t of group.tests) {
      const mu = shake256(64, shake256(64, pk), hex(t.message))
      assert.equal(mlDsaVerifyMu(spec, pk, mu, hex(t.signature)), t.testPassed, `tcId ${t.tcId} (${t.reason})`)
      if (!t.testPassed) refused++
    }
  }
  assert.ok(refused >= 6)
})

// --- DER encodings: IETF LAMPS examples ---

test('LAMPS example keys: the seed-form PKCS#8 is valid material and gives the example SubjectPublicKeyInfo', () => {
  const { keys } = vectors<{ keys: Array<{ keySpec: AsymmetricKeySpec; pkcs8: string; spki: string }> }>('lamps-example-keys.json')
  assert.equal(keys.length, 6)
  for (const key of keys) {
    assert.equal(isValidKeyMaterial(key.keySpec, hex(key.pkcs8)), true, key.keySpec)
    assert.deepEqual(publicKeyOf(key.keySpec, hex(key.pkcs8)), hex(key.spki), key.keySpec)
  }
})

// --- Ed25519 and Ed25519ph (RFC 8032) ---

interface Rfc8032 {
  ed25519: Array<{ name: string; secretKey: string; publicKey: string; message: string; signature: string }>
  ed25519ph: Array<{ name: string; secretKey: string; publicKey: string; message: string; signature: string }>
}

/** RFC 8410 PKCS#8 v1 of a 32-byte Ed25519 private key. */
function ed25519Pkcs8(secretKey: string): Buffer {
  return Buffer.concat([hex('302e020100300506032b657004220420'), hex(secretKey)])
}

test('Ed25519 (RFC 8032 §7.1): ED25519_SHA_512 over RAW messages gives the RFC signatures and public keys', () => {
  for (const t of vectors<Rfc8032>('ed25519/rfc8032.json').ed25519) {
    const material = ed25519Pkcs8(t.secretKey)
    assert.equal(isValidKeyMaterial('ECC_NIST_EDWARDS25519', material), true, t.name)
    const spki = publicKeyOf('ECC_NIST_EDWARDS25519', material)
    assert.equal(spki.length, 44, 'AWS returns a 44-byte SubjectPublicKeyInfo')
    assert.deepEqual(rawKeyOf(spki, 32), hex(t.publicKey), t.name)
    const signature = sign('ECC_NIST_EDWARDS25519', material, 'ED25519_SHA_512', 'RAW', hex(t.message))
    assert.deepEqual(signature, hex(t.signature), t.name)
    assert.equal(verify('ECC_NIST_EDWARDS25519', material, 'ED25519_SHA_512', 'RAW', hex(t.message), signature), true, t.name)
  }
})

test('Ed25519ph (RFC 8032 §7.3): the prehash primitive gives the RFC signature', () => {
  for (const t of vectors<Rfc8032>('ed25519/rfc8032.json').ed25519ph) {
    const material = ed25519Pkcs8(t.secretKey)
    assert.deepEqual(ed25519phSign(material, hex(t.message)), hex(t.signature), t.name)
    assert.equal(ed25519phVerify(material, hex(t.message), hex(t.signature)), true, t.name)
    assert.equal(ed25519phVerify(material, hex('616264'), hex(t.signature)), false, t.name)
  }
})

test('ED25519_PH_SHA_512 signs a 64-byte DIGEST as the Ed25519ph message (AWS prehashes it once more)', () => {
  const material = generateKeyMaterial('ECC_NIST_EDWARDS25519')
  const publicKey = rawKeyOf(publicKeyOf('ECC_NIST_EDWARDS25519', material), 32)
  const digest = createHash('sha512').update('a message').digest()
  const signature = sign('ECC_NIST_EDWARDS25519', material, 'ED25519_PH_SHA_512', 'DIGEST', digest)
  assert.equal(signature.length, 64)
  assert.equal(ed25519ph.verify(signature, digest, publicKey), true)
  assert.equal(verify('ECC_NIST_EDWARDS25519', material, 'ED25519_PH_SHA_512', 'DIGEST', digest, signature), true)
  // Not a PureEdDSA signature of the digest or of the message.
  const spki = createPublicKey({ key: publicKeyOf('ECC_NIST_EDWARDS25519', material), format: 'der', type: 'spki' })
  assert.equal(nodeVerify(null, digest, spki, signature), false)
  // The message types AWS refuses, and a digest of the wrong length.
  assert.throws(() => sign('ECC_NIST_EDWARDS25519', material, 'ED25519_PH_SHA_512', 'RAW', digest), RangeError)
  assert.throws(() => sign('ECC_NIST_EDWARDS25519', material, 'ED25519_SHA_512', 'DIGEST', digest), RangeError)
  assert.throws(() => sign('ECC_NIST_EDWARDS25519', material, 'ED25519_PH_SHA_512', 'DIGEST', digest.subarray(1)), RangeError)
  assert.throws(() => sign('ECC_NIST_EDWARDS25519', material, 'ECDSA_SHA_256', 'RAW', digest), RangeError)
})

test('Ed25519 key material: fresh keys are canonical PKCS#8, verified by node:crypto; other encodings are refused', () => {
  const material = generateKeyMaterial('ECC_NIST_EDWARDS25519')
  assert.equal(material.length, 48)
  const message = Buffer.from('sign me')
  const signature = sign('ECC_NIST_EDWARDS25519', material, 'ED25519_SHA_512', 'RAW', message)
  const spki = createPublicKey({ key: publicKeyOf('ECC_NIST_EDWARDS25519', material), format: 'der', type: 'spki' })
  assert.equal(nodeVerify(null, message, spki, signature), true)
  assert.equal(verify('ECC_NIST_EDWARDS25519', material, 'ED25519_SHA_512', 'RAW', Buffer.from('other'), signature), false)
  assert.equal(isValidKeyMaterial('ECC_NIST_EDWARDS25519', Buffer.concat([material, Buffer.of(0)])), false)
  assert.equal(isValidKeyMaterial('ECC_NIST_EDWARDS25519', generateKeyMaterial('ECC_NIST_P256')), false)
  assert.equal(isValidKeyMaterial('ECC_NIST_P256', material), false)
  const pair = generateDataKeyPair('ECC_NIST_EDWARDS25519')
  assert.deepEqual(publicKeyOf('ECC_NIST_EDWARDS25519', pair.privateKey), pair.publicKey)
})

// --- ML-DSA through the key-spec functions ---

for (const spec of ['ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87'] as const) {
  test(`${spec}: RAW and EXTERNAL_MU signatures verify with a verifier that computes μ itself`, () => {
    const material = generateKeyMaterial(spec)
    assert.equal(material.length, 54, 'seed-form PKCS#8')
    const spki = publicKeyOf(spec, material)
    assert.equal(spki.length, DSA_PUBLIC_KEY_BYTES[spec] + 22, 'the SubjectPublicKeyInfo length AWS returns')
    const pk = rawKeyOf(spki, DSA_PUBLIC_KEY_BYTES[spec])
    const message = Buffer.from(`a message for ${spec}`)
    const raw = sign(spec, material, 'ML_DSA_SHAKE_256', 'RAW', message)
    assert.equal(NOBLE_DSA[spec].verify(raw, message, pk), true)
    assert.equal(NOBLE_DSA[spec].verify(raw, Buffer.from('another message'), pk), false)
    // μ per FIPS 204 §6.2 for pure ML-DSA with an empty context: SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || M, 64).
    const mu = shake256(64, shake256(64, pk), Buffer.of(0, 0), message)
    const external = sign(spec, material, 'ML_DSA_SHAKE_256', 'EXTERNAL_MU', mu)
    assert.equal(NOBLE_DSA[spec].verify(external, message, pk), true)
    // Either message type verifies either signature: they sign the same μ.
    assert.equal(verify(spec, material, 'ML_DSA_SHAKE_256', 'EXTERNAL_MU', mu, raw), true)
    assert.equal(verify(spec, material, 'ML_DSA_SHAKE_256', 'RAW', message, external), true)
    // Hedged: two signatures of one message differ.
    assert.notDeepEqual(sign(spec, material, 'ML_DSA_SHAKE_256', 'RAW', message), raw)
    // A signature from another key, a truncated one, a flipped bit: refused.
    const other = generateKeyMaterial(spec)
    assert.equal(verify(spec, other, 'ML_DSA_SHAKE_256', 'RAW', message, raw), false)
    assert.equal(verify(spec, material, 'ML_DSA_SHAKE_256', 'RAW', message, raw.subarray(1)), false)
    const flipped = Buffer.from(raw)
    flipped[10] = (flipped[10] ?? 0) ^ 1
    assert.equal(verify(spec, material, 'ML_DSA_SHAKE_256', 'RAW', message, flipped), false)
    // DIGEST is never an ML-DSA message type; μ is exactly 64 bytes.
    assert.throws(() => sign(spec, material, 'ML_DSA_SHAKE_256', 'DIGEST', mu.subarray(0, 32)), RangeError)
    assert.throws(() => sign(spec, material, 'ML_DSA_SHAKE_256', 'EXTERNAL_MU', mu.subarray(1)), RangeError)
    assert.throws(() => sign(spec, material, 'ECDSA_SHA_256', 'RAW', message), RangeError)
  })
}

test('ML-DSA and ML-KEM key material: only the seed form of the same parameter set', () => {
  const dsa = generateKeyMaterial('ML_DSA_65')
  assert.equal(isValidKeyMaterial('ML_DSA_65', dsa), true)
  assert.equal(isValidKeyMaterial('ML_DSA_44', dsa), false)
  assert.equal(isValidKeyMaterial('ML_DSA_65', dsa.subarray(0, dsa.length - 1)), false)
  assert.equal(isValidKeyMaterial('ML_DSA_65', Buffer.concat([dsa, Buffer.of(0)])), false)
  const kem = generateKeyMaterial('ML_KEM_768')
  assert.equal(kem.length, 86)
  assert.equal(isValidKeyMaterial('ML_KEM_768', kem), true)
  assert.equal(isValidKeyMaterial('ML_KEM_512', kem), false)
  assert.equal(isValidKeyMaterial('ML_KEM_768', dsa), false)
  assert.equal(isValidKeyMaterial('ML_DSA_65', kem), false)
  assert.equal(isValidKeyMaterial('ML_KEM_768', generateKeyMaterial('ECC_NIST_P256')), false)
  assert.notDeepEqual(generateKeyMaterial('ML_KEM_768'), kem)
})

// --- ML-KEM through the key-spec functions ---

for (const spec of ['ML_KEM_512', 'ML_KEM_768', 'ML_KEM_1024'] as const) {
  test(`${spec}: encapsulate/decapsulate, implicit rejection, and a ciphertext of the wrong length`, () => {
    const material = generateKeyMaterial(spec)
    const spki = publicKeyOf(spec, material)
    assert.equal(spki.length, KEM_PUBLIC_KEY_BYTES[spec] + 22)
    const { ciphertext, sharedSecret } = encapsulate(spec, material)
    assert.equal(ciphertext.length, KEM_CIPHERTEXT_BYTES[spec])
    assert.equal(sharedSecret.length, 32)
    assert.deepEqual(decapsulate(spec, material, ciphertext), sharedSecret)
    // Encapsulating with the public key alone, with the vectors' m interface, opens the same way.
    const outside = mlKemEncapsulateWith(spec, rawKeyOf(spki, KEM_PUBLIC_KEY_BYTES[spec]), Buffer.alloc(32, 7))
    assert.deepEqual(decapsulate(spec, material, outside.ciphertext), outside.sharedSecret)
    // An altered ciphertext yields another 32-byte secret, the same each time: no error to learn from.
    const altered = Buffer.from(ciphertext)
    altered[0] = (altered[0] ?? 0) ^ 1
    const rejected = decapsulate(spec, material, altered)
    assert.ok(rejected !== undefined)
    assert.equal(rejected.length, 32)
    assert.notDeepEqual(rejected, sharedSecret)
    assert.deepEqual(decapsulate(spec, material, altered), rejected)
    assert.equal(decapsulate(spec, material, ciphertext.subarray(1)), undefined)
    assert.equal(decapsulate(spec, material, Buffer.concat([ciphertext, Buffer.of(0)])), undefined)
    assert.throws(() => encapsulate('ECC_NIST_P256', generateKeyMaterial('ECC_NIST_P256')), RangeError)
    // GenerateDataKeyPair's ML-KEM pairs: seed-form PKCS#8 and the matching public key.
    const pair = generateDataKeyPair(spec)
    assert.deepEqual(publicKeyOf(spec, pair.privateKey), pair.publicKey)
  })
}
