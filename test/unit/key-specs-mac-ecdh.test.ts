import assert from 'node:assert/strict'
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import { p256, p384, p521 } from '@noble/curves/nist.js'
import type { ECDSA } from '@noble/curves/abstract/weierstrass.js'
import {
  deriveSharedSecret,
  generateDataKeyPair,
  generateKeyMaterial,
  generateMac,
  hmac,
  HMAC_KEY_SPECS,
  macAlgorithmsFor,
  MAC_ALGORITHMS,
  publicKeyOf,
  sign,
  verify,
  verifyMac,
  type KeyPairSpec,
  type HmacKeySpec,
  type MacAlgorithm,
} from '../../src/hsm/soft/key-specs.js'

const ascii = (text: string) => Buffer.from(text, 'ascii').toString('hex')

/**
 * RFC 4231 §4 test cases 1-7 (case 5 is compared on its first 128 bits, as the RFC
 * truncates it). Keys and data in hex; outputs for SHA-224, SHA-256, SHA-384, SHA-512.
 */
const RFC4231: Array<{ name: string; key: string; data: string; truncateTo?: number; mac: Record<MacAlgorithm, string> }> = [
  {
    name: 'test case 1',
    key: '0b'.repeat(20),
    data: ascii('Hi There'),
    mac: {
      HMAC_SHA_224: '896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22',
      HMAC_SHA_256: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
      HMAC_SHA_384: 'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
      HMAC_SHA_512:
        '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
    },
  },
  {
    name: 'test case 2 (key shorter than the output)',
    key: ascii('Jefe'),
    data: ascii('what do ya want for nothing?'),
    mac: {
      HMAC_SHA_224: 'a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44',
      HMAC_SHA_256: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      HMAC_SHA_384: 'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
      HMAC_SHA_512:
        '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    },
  },
  {
    name: 'test case 3',
    key: 'aa'.repeat(20),
    data: 'dd'.repeat(50),
    mac: {
      HMAC_SHA_224: '7fb3cb3588c6c1f6ffa9694d7d6ad2649365b0c1f65d69d1ec8333ea',
      HMAC_SHA_256: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
      HMAC_SHA_384: '88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27',
      HMAC_SHA_512:
        'fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb',
    },
  },
  {
    name: 'test case 4',
    key: '0102030405060708090a0b0c0d0e0f10111213141516171819',
    data: 'cd'.repeat(50),
    mac: {
      HMAC_SHA_224: '6c11506874013cac6a2abc1bb382627cec6a90d86efc012de7afec5a',
      HMAC_SHA_256: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
      HMAC_SHA_384: '3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb',
      HMAC_SHA_512:
        'b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd',
    },
  },
  {
    name: 'test case 5 (truncated to 128 bits)',
    key: '0c'.repeat(20),
    data: ascii('Test With Truncation'),
    truncateTo: 16,
    mac: {
      HMAC_SHA_224: '0e2aea68a90c8d37c988bcdb9fca6fa8',
      HMAC_SHA_256: 'a3b6167473100ee06e0c796c2955552b',
      HMAC_SHA_384: '3abf34c3503b2a23a46efc619baef897',
      HMAC_SHA_512: '415fad6271580a531d4179bc891d87a6',
    },
  },
  {
    name: 'test case 6 (key larger than the block)',
    key: 'aa'.repeat(131),
    data: ascii('Test Using Larger Than Block-Size Key - Hash Key First'),
    mac: {
      HMAC_SHA_224: '95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e',
      HMAC_SHA_256: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
      HMAC_SHA_384: '4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952',
      HMAC_SHA_512:
        '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598',
    },
  },
  {
    name: 'test case 7 (key and data larger than the block)',
    key: 'aa'.repeat(131),
    data: ascii(
      'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
    ),
    mac: {
      HMAC_SHA_224: '3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1',
      HMAC_SHA_256: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
      HMAC_SHA_384: '6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e',
      HMAC_SHA_512:
        'e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58',
    },
  },
]

test('HMAC primitive matches RFC 4231 for SHA-224/256/384/512', () => {
  for (const vector of RFC4231) {
    for (const algorithm of MAC_ALGORITHMS) {
      const out = hmac(algorithm, Buffer.from(vector.key, 'hex'), Buffer.from(vector.data, 'hex'))
      const got = vector.truncateTo === undefined ? out : out.subarray(0, vector.truncateTo)
      assert.equal(got.toString('hex'), vector.mac[algorithm], `${vector.name} ${algorithm}`)
    }
  }
})

test('generateMac/verifyMac: spec hash, full-length constant-time check', () => {
  for (const spec of HMAC_KEY_SPECS) {
    const [algorithm] = macAlgorithmsFor(spec) as [MacAlgorithm]
    const key = generateKeyMaterial(spec)
    const message = Buffer.from(`message for ${spec}`)
    const mac = generateMac(spec, key, algorithm, message)
    assert.deepEqual(mac, hmac(algorithm, key, message))
    assert.equal(mac.length, { HMAC_224: 28, HMAC_256: 32, HMAC_384: 48, HMAC_512: 64 }[spec])
    assert.equal(verifyMac(spec, key, algorithm, message, mac), true)
    for (let i = 0; i < mac.length; i++) {
      const bad = Buffer.from(mac)
      bad[i] = (bad[i] ?? 0) ^ 0x80
      assert.equal(verifyMac(spec, key, algorithm, message, bad), false, `${spec} byte ${i}`)
    }
    assert.equal(verifyMac(spec, key, algorithm, message, mac.subarray(0, mac.length - 1)), false)
    assert.equal(verifyMac(spec, key, algorithm, message, mac.subarray(0, 16)), false)
    assert.equal(verifyMac(spec, key, algorithm, message, Buffer.concat([mac, Buffer.of(0)])), false)
    assert.equal(verifyMac(spec, key, algorithm, message, Buffer.alloc(0)), false)
    assert.equal(verifyMac(spec, key, algorithm, Buffer.from('another message'), mac), false)
    assert.equal(verifyMac(spec, generateKeyMaterial(spec), algorithm, message, mac), false)
    // The empty message has a MAC too.
    const empty = generateMac(spec, key, algorithm, Buffer.alloc(0))
    assert.equal(verifyMac(spec, key, algorithm, Buffer.alloc(0), empty), true)
  }
})

test('generateMac/verifyMac refuse another spec’s algorithm and keys of the wrong length', () => {
  for (const spec of HMAC_KEY_SPECS) {
    const key = generateKeyMaterial(spec)
    for (const algorithm of MAC_ALGORITHMS) {
      if (macAlgorithmsFor(spec).includes(algorithm)) continue
      assert.throws(() => generateMac(spec, key, algorithm, Buffer.from('m')), RangeError, `${spec} ${algorithm}`)
      assert.throws(() => verifyMac(spec, key, algorithm, Buffer.from('m'), Buffer.alloc(32)), RangeError, `${spec} ${algorithm}`)
    }
  }
  assert.throws(() => generateMac('HMAC_224', Buffer.alloc(27), 'HMAC_SHA_224', Buffer.from('m')), RangeError)
  assert.throws(() => generateMac('HMAC_512', Buffer.alloc(129), 'HMAC_SHA_512', Buffer.from('m')), RangeError)
  assert.throws(() => generateMac('RSA_2048' as HmacKeySpec, Buffer.alloc(32), 'HMAC_SHA_256', Buffer.from('m')), RangeError)
  assert.throws(() => generateMac('HMAC_256', Buffer.alloc(32), 'HMAC_SHA_1' as MacAlgorithm, Buffer.from('m')), RangeError)
  // Imported material of any length AWS accepts works.
  const imported = randomBytes(64)
  const mac = generateMac('HMAC_256', imported, 'HMAC_SHA_256', Buffer.from('m'))
  assert.equal(verifyMac('HMAC_256', imported, 'HMAC_SHA_256', Buffer.from('m'), mac), true)
})

const NIST: Array<[KeyPairSpec, ECDSA, number]> = [
  ['ECC_NIST_P256', p256, 32],
  ['ECC_NIST_P384', p384, 48],
  ['ECC_NIST_P521', p521, 66],
]

/** The private scalar of a PKCS#8 EC key, via node:crypto's JWK export, for noble's independent ECDH. */
function scalarOf(pkcs8: Buffer): Buffer {
  const jwk = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' })
  return Buffer.from(jwk.d ?? '', 'base64url')
}

/** The uncompressed point at the end of a named-curve EC SPKI. */
function publicPointOf(spki: Buffer, fieldBytes: number): Buffer {
  return spki.subarray(spki.length - (1 + 2 * fieldBytes))
}

for (const [spec, curve, fieldBytes] of NIST) {
  test(`${spec} ECDH: both sides derive the same x-coordinate, equal to noble's`, () => {
    const ours = generateKeyMaterial(spec)
    const peer = generateDataKeyPair(spec)
    const secret = deriveSharedSecret(spec, ours, peer.publicKey)
    assert.ok(secret !== undefined)
    assert.equal(secret.length, fieldBytes)
    assert.deepEqual(deriveSharedSecret(spec, peer.privateKey, publicKeyOf(spec, ours)), secret)
    // Independently: noble's d·Q, x-coordinate of the uncompressed point.
    const point = curve.getSharedSecret(scalarOf(ours), publicPointOf(peer.publicKey, fieldBytes), false)
    assert.deepEqual(Buffer.from(point.subarray(1, 1 + fieldBytes)), secret)
    // A different peer, a different secret.
    assert.notDeepEqual(deriveSharedSecret(spec, ours, generateDataKeyPair(spec).publicKey), secret)
  })

  test(`${spec} ECDH: peer keys on other curves, off the curve or malformed give undefined`, () => {
    const ours = generateKeyMaterial(spec)
    const spki = generateDataKeyPair(spec).publicKey
    for (const other of ['ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1'] as const) {
      if (other === spec) continue
      assert.equal(deriveSharedSecret(spec, ours, generateDataKeyPair(other).publicKey), undefined, other)
    }
    assert.equal(deriveSharedSecret(spec, ours, generateDataKeyPair('RSA_2048').publicKey), undefined)
    const ed25519 = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' })
    assert.equal(deriveSharedSecret(spec, ours, ed25519), undefined)
    const offCurve = Buffer.from(spki)
    offCurve[offCurve.length - 1] = (offCurve[offCurve.length - 1] ?? 0) ^ 0x01
    assert.equal(deriveSharedSecret(spec, ours, offCurve), undefined)
    assert.equal(deriveSharedSecret(spec, ours, spki.subarray(0, spki.length - 1)), undefined)
    assert.equal(deriveSharedSecret(spec, ours, Buffer.concat([spki, Buffer.of(0)])), undefined)
    assert.equal(deriveSharedSecret(spec, ours, Buffer.alloc(0)), undefined)
    assert.equal(deriveSharedSecret(spec, ours, randomBytes(spki.length)), undefined)
    assert.equal(deriveSharedSecret(spec, ours, Buffer.from('not a key')), undefined)
    // Our own private key is not a public key.
    assert.equal(deriveSharedSecret(spec, ours, ours), undefined)
  })
}

test('ECDH is refused for ECC_SECG_P256K1 and RSA, and for key material of another spec', () => {
  const k1 = generateKeyMaterial('ECC_SECG_P256K1')
  assert.throws(() => deriveSharedSecret('ECC_SECG_P256K1', k1, publicKeyOf('ECC_SECG_P256K1', k1)), RangeError)
  const rsa = generateDataKeyPair('RSA_2048')
  assert.throws(() => deriveSharedSecret('RSA_2048', rsa.privateKey, rsa.publicKey), RangeError)
  const p384key = generateKeyMaterial('ECC_NIST_P384')
  assert.throws(() => deriveSharedSecret('ECC_NIST_P256', p384key, generateDataKeyPair('ECC_NIST_P256').publicKey), RangeError)
})

for (const spec of ['ECC_NIST_P256', 'ECC_SECG_P256K1'] as const) {
  test(`${spec} property: for random messages, RAW and DIGEST signatures round-trip and agree`, () => {
    const key = generateKeyMaterial(spec)
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), fc.boolean(), (message, viaDigest) => {
        const digest = createHash('sha256').update(message).digest()
        const signature = viaDigest ? sign(spec, key, 'ECDSA_SHA_256', 'DIGEST', digest) : sign(spec, key, 'ECDSA_SHA_256', 'RAW', message)
        assert.equal(verify(spec, key, 'ECDSA_SHA_256', 'RAW', message, signature), true)
        assert.equal(verify(spec, key, 'ECDSA_SHA_256', 'DIGEST', digest, signature), true)
        const other = Buffer.concat([message, Buffer.of(1)])
        assert.equal(verify(spec, key, 'ECDSA_SHA_256', 'RAW', other, signature), false)
      }),
      { numRuns: 100 },
    )
  })
}
