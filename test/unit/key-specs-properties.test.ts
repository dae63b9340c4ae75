/**
 * Properties over every key spec and algorithm (fast-check), and known answers that do not
 * come from OpenSSL: RFC 6979's deterministic ECDSA signature for P-256 verifies here.
 */
import assert from 'node:assert/strict'
import { createHash, createPrivateKey } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import { p256 } from '@noble/curves/nist.js'
import {
  encryptionAlgorithmsFor,
  generateKeyMaterial,
  generateMac,
  isValidKeyMaterial,
  isValidKeyMaterialAsync,
  macAlgorithmsFor,
  maxRsaPlaintextBytes,
  rsaDecrypt,
  rsaEncrypt,
  sign,
  signingAlgorithmsFor,
  verify,
  verifyMac,
  type AsymmetricKeySpec,
  type HmacKeySpec,
  type SigningAlgorithm,
} from '../../src/hsm/soft/key-specs.js'

const HASH = { '256': 'sha256', '384': 'sha384', '512': 'sha512' } as const
function digestOf(algorithm: SigningAlgorithm, message: Uint8Array): Buffer {
  return createHash(HASH[algorithm.slice(-3) as keyof typeof HASH])
    .update(message)
    .digest()
}

function flipBit(bytes: Uint8Array, bit: number): Buffer {
  const copy = Buffer.from(bytes)
  const at = bit % (copy.length * 8)
  copy[at >> 3] = (copy[at >> 3] ?? 0) ^ (1 << (at & 7))
  return copy
}

// RSA_2048 stands for the RSA specs (the 3072- and 4096-bit ones share every code path and
// are covered, more slowly, by key-specs.test.ts); every curve is here.
const SIGNING_SPECS: readonly AsymmetricKeySpec[] = ['RSA_2048', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1']

for (const spec of SIGNING_SPECS) {
  const key = generateKeyMaterial(spec)
  for (const algorithm of signingAlgorithmsFor(spec)) {
    test(`${spec} ${algorithm} property: any message signs and verifies, RAW or DIGEST; any flipped signature bit fails`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 512 }), fc.boolean(), fc.nat(), (message, viaDigest, bit) => {
          const digest = digestOf(algorithm, message)
          const signature = viaDigest ? sign(spec, key, algorithm, 'DIGEST', digest) : sign(spec, key, algorithm, 'RAW', message)
          assert.equal(verify(spec, key, algorithm, 'RAW', message, signature), true)
          assert.equal(verify(spec, key, algorithm, 'DIGEST', digest, signature), true)
          assert.equal(verify(spec, key, algorithm, 'RAW', message, flipBit(signature, bit)), false)
        }),
        { numRuns: 25 },
      )
    })
  }
}

test('RSA_2048 OAEP property: any plaintext up to the bound round-trips; any flipped ciphertext bit fails', () => {
  const key = generateKeyMaterial('RSA_2048')
  for (const algorithm of encryptionAlgorithmsFor('RSA_2048')) {
    if (algorithm === 'SYMMETRIC_DEFAULT') continue
    const limit = maxRsaPlaintextBytes('RSA_2048', algorithm)
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: limit }), fc.nat(), (plaintext, bit) => {
        const ciphertext = rsaEncrypt('RSA_2048', key, algorithm, plaintext)
        assert.deepEqual(rsaDecrypt('RSA_2048', key, algorithm, ciphertext), Buffer.from(plaintext))
        assert.equal(rsaDecrypt('RSA_2048', key, algorithm, flipBit(ciphertext, bit)), undefined)
      }),
      { numRuns: 25 },
    )
  }
})

for (const spec of ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'] as const satisfies readonly HmacKeySpec[]) {
  test(`${spec} property: a MAC verifies for its message only; any flipped bit or truncation fails`, () => {
    const key = generateKeyMaterial(spec)
    const [algorithm] = macAlgorithmsFor(spec)
    assert.ok(algorithm !== undefined)
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 4096 }), fc.nat(), (message, bit) => {
        const mac = generateMac(spec, key, algorithm, message)
        assert.equal(verifyMac(spec, key, algorithm, message, mac), true)
        assert.equal(verifyMac(spec, key, algorithm, message, flipBit(mac, bit)), false)
        assert.equal(verifyMac(spec, key, algorithm, message, mac.subarray(0, mac.length - 1)), false)
        assert.equal(verifyMac(spec, key, algorithm, flipBit(message, bit), mac), false)
      }),
      { numRuns: 100 },
    )
  })
}

test('RFC 6979 A.2.5: the published P-256/SHA-256 signature of "sample" verifies, RAW and DIGEST; noble derives the same r', () => {
  const d = Buffer.from('C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721', 'hex')
  const r = Buffer.from('EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716', 'hex')
  const s = Buffer.from('F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8', 'hex')
  const point = p256.getPublicKey(d, false)
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    d: d.toString('base64url'),
    x: Buffer.from(point.subarray(1, 33)).toString('base64url'),
    y: Buffer.from(point.subarray(33)).toString('base64url'),
  }
  const pkcs8 = createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'der' })
  const message = Buffer.from('sample')
  const signature = new p256.Signature(BigInt(`0x${r.toString('hex')}`), BigInt(`0x${s.toString('hex')}`)).toBytes('der')
  assert.equal(verify('ECC_NIST_P256', pkcs8, 'ECDSA_SHA_256', 'RAW', message, signature), true)
  assert.equal(verify('ECC_NIST_P256', pkcs8, 'ECDSA_SHA_256', 'DIGEST', digestOf('ECDSA_SHA_256', message), signature), true)
  assert.equal(verify('ECC_NIST_P256', pkcs8, 'ECDSA_SHA_256', 'RAW', Buffer.from('sample!'), signature), false)
  // An independent implementation of RFC 6979 reproduces the published r.
  const deterministic = p256.Signature.fromBytes(p256.sign(message, d, { lowS: false, format: 'der' }), 'der')
  assert.equal(deterministic.r.toString(16).padStart(64, '0'), r.toString('hex').toLowerCase())
})

test('isValidKeyMaterialAsync agrees with isValidKeyMaterial: generated material, other specs, damaged keys', async () => {
  const specs = ['SYMMETRIC_DEFAULT', 'HMAC_256', 'RSA_2048', 'ECC_NIST_P256', 'ECC_SECG_P256K1'] as const
  for (const spec of specs) {
    const material = generateKeyMaterial(spec)
    const damaged = Buffer.from(material)
    damaged[Math.floor(damaged.length / 2)] = (damaged[Math.floor(damaged.length / 2)] ?? 0) ^ 0x10
    for (const other of specs) {
      assert.equal(await isValidKeyMaterialAsync(other, material), isValidKeyMaterial(other, material), `${spec} material as ${other}`)
    }
    assert.equal(await isValidKeyMaterialAsync(spec, material), true, `${spec}: generated material is valid`)
    assert.equal(await isValidKeyMaterialAsync(spec, damaged), isValidKeyMaterial(spec, damaged), `${spec}: damaged material`)
  }
  // Not a key at all.
  assert.equal(await isValidKeyMaterialAsync('RSA_2048', Buffer.alloc(10)), false)
})
