import assert from 'node:assert/strict'
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto'
import { test } from 'node:test'
import { p256, p384, p521 } from '@noble/curves/nist.js'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import type { ECDSA } from '@noble/curves/abstract/weierstrass.js'
import {
  algorithmsFor,
  ASYMMETRIC_KEY_SPECS,
  encryptionAlgorithmsFor,
  ENCRYPTION_ALGORITHMS,
  generateDataKeyPair,
  generateKeyMaterial,
  HMAC_KEY_SPECS,
  isValidKeyMaterial,
  keyAgreementAlgorithmsFor,
  KEY_SPECS,
  keyUsagesFor,
  macAlgorithmsFor,
  maxRsaPlaintextBytes,
  publicKeyOf,
  rsaDecrypt,
  rsaEncrypt,
  sign,
  signingAlgorithmsFor,
  SIGNING_ALGORITHMS,
  verify,
  type AsymmetricKeySpec,
  type KeyPairSpec,
  type EncryptionAlgorithm,
  type KeySpec,
  type SigningAlgorithm,
} from '../../src/hsm/soft/key-specs.js'

// One key per spec for the whole file: RSA_4096 generation takes about a second.
// The RSA and ECC specs; Ed25519, ML-DSA and ML-KEM have test/unit/key-specs-pq.test.ts.
const RSA_AND_EC = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1'] as const
const RSA_AND_EC_SPECS = ASYMMETRIC_KEY_SPECS.filter((spec): spec is (typeof RSA_AND_EC)[number] =>
  (RSA_AND_EC as readonly string[]).includes(spec),
)
const keys = Object.fromEntries(RSA_AND_EC_SPECS.map((spec) => [spec, generateKeyMaterial(spec)])) as Record<AsymmetricKeySpec, Buffer>
const RSA_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const
// A second key per spec, made on first use, for "another key of the same spec" checks.
const otherKeys = new Map<AsymmetricKeySpec, Buffer>()
function otherKey(spec: AsymmetricKeySpec): Buffer {
  let key = otherKeys.get(spec)
  if (key === undefined) otherKeys.set(spec, (key = generateKeyMaterial(spec)))
  return key
}
// Signatures checked with every byte flipped (the others with a sample): the cheap specs.
const EXHAUSTIVE = new Set<AsymmetricKeySpec>(['RSA_2048', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_SECG_P256K1'])
const CURVES: Partial<Record<AsymmetricKeySpec, ECDSA>> = {
  ECC_NIST_P256: p256,
  ECC_NIST_P384: p384,
  ECC_NIST_P521: p521,
  ECC_SECG_P256K1: secp256k1,
}

function hashOf(algorithm: SigningAlgorithm): 'sha256' | 'sha384' | 'sha512' {
  return algorithm.endsWith('256') ? 'sha256' : algorithm.endsWith('384') ? 'sha384' : 'sha512'
}

/** The SPKI as node:crypto verify options, with AWS's PSS parameters where they apply. */
function nodeVerifyKey(spki: Buffer, algorithm: SigningAlgorithm): { key: KeyObject; padding?: number; saltLength?: number } {
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' })
  if (algorithm.startsWith('RSASSA_PSS'))
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
  return { key }
}

/** Every index for short inputs; for long ones the ends, the middle and a few random ones. */
function positions(length: number): number[] {
  if (length <= 80) return Array.from({ length }, (_, i) => i)
  const picks = new Set([0, 1, 2, Math.floor(length / 2), length - 2, length - 1])
  for (let i = 0; i < 10; i++) picks.add(Math.floor(Math.random() * length))
  return [...picks]
}

function flipped(bytes: Uint8Array, index: number): Buffer {
  const copy = Buffer.from(bytes)
  copy[index] = (copy[index] ?? 0) ^ 0x01
  return copy
}

test('algorithm tables match what AWS DescribeKey reports per key spec', () => {
  assert.deepEqual(signingAlgorithmsFor('RSA_3072'), [
    'RSASSA_PKCS1_V1_5_SHA_256',
    'RSASSA_PKCS1_V1_5_SHA_384',
    'RSASSA_PKCS1_V1_5_SHA_512',
    'RSASSA_PSS_SHA_256',
    'RSASSA_PSS_SHA_384',
    'RSASSA_PSS_SHA_512',
  ])
  assert.deepEqual(signingAlgorithmsFor('ECC_NIST_P256'), ['ECDSA_SHA_256'])
  assert.deepEqual(signingAlgorithmsFor('ECC_NIST_P384'), ['ECDSA_SHA_384'])
  assert.deepEqual(signingAlgorithmsFor('ECC_NIST_P521'), ['ECDSA_SHA_512'])
  assert.deepEqual(signingAlgorithmsFor('ECC_SECG_P256K1'), ['ECDSA_SHA_256'])
  for (const spec of ['SYMMETRIC_DEFAULT', ...HMAC_KEY_SPECS] as KeySpec[]) assert.deepEqual(signingAlgorithmsFor(spec), [])

  assert.deepEqual(encryptionAlgorithmsFor('SYMMETRIC_DEFAULT'), ['SYMMETRIC_DEFAULT'])
  for (const spec of RSA_SPECS) assert.deepEqual(encryptionAlgorithmsFor(spec), ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'])
  for (const spec of ['ECC_NIST_P256', 'ECC_SECG_P256K1', 'HMAC_256'] as KeySpec[]) assert.deepEqual(encryptionAlgorithmsFor(spec), [])

  assert.deepEqual(macAlgorithmsFor('HMAC_224'), ['HMAC_SHA_224'])
  assert.deepEqual(macAlgorithmsFor('HMAC_256'), ['HMAC_SHA_256'])
  assert.deepEqual(macAlgorithmsFor('HMAC_384'), ['HMAC_SHA_384'])
  assert.deepEqual(macAlgorithmsFor('HMAC_512'), ['HMAC_SHA_512'])
  assert.deepEqual(macAlgorithmsFor('RSA_2048'), [])

  for (const spec of ['ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521'] as KeySpec[])
    assert.deepEqual(keyAgreementAlgorithmsFor(spec), ['ECDH'])
  for (const spec of ['ECC_SECG_P256K1', 'RSA_2048', 'SYMMETRIC_DEFAULT', 'HMAC_512'] as KeySpec[])
    assert.deepEqual(keyAgreementAlgorithmsFor(spec), [])
})

test('key usages per spec follow the CreateKey KeyUsage table', () => {
  assert.deepEqual(keyUsagesFor('SYMMETRIC_DEFAULT'), ['ENCRYPT_DECRYPT'])
  for (const spec of HMAC_KEY_SPECS) assert.deepEqual(keyUsagesFor(spec), ['GENERATE_VERIFY_MAC'])
  for (const spec of RSA_SPECS) assert.deepEqual(keyUsagesFor(spec), ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'])
  for (const spec of ['ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521'] as const)
    assert.deepEqual(keyUsagesFor(spec), ['SIGN_VERIFY', 'KEY_AGREEMENT'])
  assert.deepEqual(keyUsagesFor('ECC_SECG_P256K1'), ['SIGN_VERIFY'])
  assert.deepEqual(keyUsagesFor('ECC_NIST_EDWARDS25519'), ['SIGN_VERIFY'])
  for (const spec of ['ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87'] as const) assert.deepEqual(keyUsagesFor(spec), ['SIGN_VERIFY'])
  for (const spec of ['ML_KEM_512', 'ML_KEM_768', 'ML_KEM_1024'] as const) assert.deepEqual(keyUsagesFor(spec), ['ENCAPSULATE_DECAPSULATE'])
  assert.deepEqual(keyUsagesFor('NOT_A_SPEC' as KeySpec), [])

  // DescribeKey reports only the list that belongs to the key's usage.
  assert.deepEqual(algorithmsFor('RSA_2048', 'SIGN_VERIFY'), {
    EncryptionAlgorithms: [],
    SigningAlgorithms: signingAlgorithmsFor('RSA_2048'),
    MacAlgorithms: [],
    KeyAgreementAlgorithms: [],
    EncapsulationAlgorithms: [],
  })
  assert.deepEqual(algorithmsFor('RSA_2048', 'ENCRYPT_DECRYPT').EncryptionAlgorithms, ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'])
  assert.deepEqual(algorithmsFor('RSA_2048', 'ENCRYPT_DECRYPT').SigningAlgorithms, [])
  assert.deepEqual(algorithmsFor('ECC_NIST_P384', 'KEY_AGREEMENT').KeyAgreementAlgorithms, ['ECDH'])
  assert.deepEqual(algorithmsFor('ECC_NIST_P384', 'KEY_AGREEMENT').SigningAlgorithms, [])
  assert.deepEqual(algorithmsFor('ECC_SECG_P256K1', 'KEY_AGREEMENT').KeyAgreementAlgorithms, [])
  assert.deepEqual(algorithmsFor('HMAC_384', 'GENERATE_VERIFY_MAC').MacAlgorithms, ['HMAC_SHA_384'])
})

test('generated key material has the spec length or is a PKCS#8 key of the spec', () => {
  assert.equal(generateKeyMaterial('SYMMETRIC_DEFAULT').length, 32)
  assert.equal(generateKeyMaterial('HMAC_224').length, 28)
  assert.equal(generateKeyMaterial('HMAC_256').length, 32)
  assert.equal(generateKeyMaterial('HMAC_384').length, 48)
  assert.equal(generateKeyMaterial('HMAC_512').length, 64)
  assert.notDeepEqual(generateKeyMaterial('SYMMETRIC_DEFAULT'), generateKeyMaterial('SYMMETRIC_DEFAULT'))
  for (const spec of KEY_SPECS) {
    const material =
      spec === 'SYMMETRIC_DEFAULT' || spec.startsWith('HMAC')
        ? generateKeyMaterial(spec)
        : (keys[spec as AsymmetricKeySpec] ?? generateKeyMaterial(spec))
    assert.equal(isValidKeyMaterial(spec, material), true, spec)
  }
  const details = (spec: AsymmetricKeySpec) => createPrivateKey({ key: keys[spec], format: 'der', type: 'pkcs8' }).asymmetricKeyDetails
  assert.equal(details('RSA_2048')?.modulusLength, 2048)
  assert.equal(details('RSA_3072')?.modulusLength, 3072)
  assert.equal(details('RSA_4096')?.modulusLength, 4096)
  assert.equal(details('RSA_4096')?.publicExponent, 65537n)
  assert.equal(details('ECC_NIST_P256')?.namedCurve, 'prime256v1')
  assert.equal(details('ECC_NIST_P384')?.namedCurve, 'secp384r1')
  assert.equal(details('ECC_NIST_P521')?.namedCurve, 'secp521r1')
  assert.equal(details('ECC_SECG_P256K1')?.namedCurve, 'secp256k1')
  assert.throws(() => generateKeyMaterial('NOT_A_SPEC' as KeySpec), RangeError)
})

test('isValidKeyMaterial: symmetric and HMAC lengths, including the imported HMAC ranges', () => {
  assert.equal(isValidKeyMaterial('SYMMETRIC_DEFAULT', Buffer.alloc(32)), true)
  assert.equal(isValidKeyMaterial('SYMMETRIC_DEFAULT', Buffer.alloc(31)), false)
  assert.equal(isValidKeyMaterial('SYMMETRIC_DEFAULT', Buffer.alloc(33)), false)
  assert.equal(isValidKeyMaterial('SYMMETRIC_DEFAULT', Buffer.alloc(0)), false)
  const ranges = { HMAC_224: [28, 64], HMAC_256: [32, 64], HMAC_384: [48, 128], HMAC_512: [64, 128] } as const
  for (const spec of HMAC_KEY_SPECS) {
    const [min, max] = ranges[spec]
    assert.equal(isValidKeyMaterial(spec, Buffer.alloc(min - 1)), false, `${spec} ${min - 1}`)
    assert.equal(isValidKeyMaterial(spec, Buffer.alloc(min)), true, `${spec} ${min}`)
    assert.equal(isValidKeyMaterial(spec, Buffer.alloc(max)), true, `${spec} ${max}`)
    assert.equal(isValidKeyMaterial(spec, Buffer.alloc(max + 1)), false, `${spec} ${max + 1}`)
  }
  // Never throws, whatever it is handed.
  assert.equal(isValidKeyMaterial('SYMMETRIC_DEFAULT', 'x'.repeat(32) as unknown as Uint8Array), false)
  assert.equal(isValidKeyMaterial('RSA_2048', undefined as unknown as Uint8Array), false)
  assert.equal(isValidKeyMaterial('NOT_A_SPEC' as KeySpec, Buffer.alloc(32)), false)
})

test('isValidKeyMaterial: an asymmetric key is valid for its own spec only', () => {
  for (const owner of RSA_AND_EC_SPECS) {
    for (const spec of KEY_SPECS) {
      if (spec === owner) continue
      assert.equal(isValidKeyMaterial(spec, keys[owner]), false, `${owner} key as ${spec}`)
    }
  }
})

test('isValidKeyMaterial: rejects damaged, padded, weak or differently typed asymmetric keys', () => {
  for (const spec of RSA_AND_EC_SPECS) {
    const key = keys[spec]
    assert.equal(isValidKeyMaterial(spec, key.subarray(0, key.length - 1)), false, `${spec} truncated`)
    assert.equal(isValidKeyMaterial(spec, key.subarray(0, 40)), false, `${spec} cut short`)
    assert.equal(isValidKeyMaterial(spec, Buffer.concat([key, Buffer.of(0)])), false, `${spec} trailing byte`)
    assert.equal(isValidKeyMaterial(spec, Buffer.alloc(0)), false, `${spec} empty`)
    assert.equal(isValidKeyMaterial(spec, randomBytes(key.length)), false, `${spec} random bytes`)
    assert.equal(isValidKeyMaterial(spec, publicKeyOf(spec, key)), false, `${spec} public key`)
    // Damage inside the key proper (past the algorithm identifier): a private scalar that
    // no longer matches the embedded public point, a wrong modulus, prime or CRT part.
    for (const at of [0.3, 0.5, 0.7, 0.9]) {
      const index = Math.floor(key.length * at)
      assert.equal(isValidKeyMaterial(spec, flipped(key, index)), false, `${spec} byte ${index} flipped`)
    }
  }
  const pkcs8 = { type: 'pkcs8', format: 'der' } as const
  // e = 3: below the FIPS 186-5 minimum that AWS-generated keys (65537) meet.
  const smallExponent = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).privateKey.export(pkcs8)
  assert.equal(isValidKeyMaterial('RSA_2048', smallExponent), false)
  // id-RSASSA-PSS keys are restricted to PSS and could not serve RSAES-OAEP.
  const pssOnly = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey.export(pkcs8)
  assert.equal(isValidKeyMaterial('RSA_2048', pssOnly), false)
  const ed25519 = generateKeyPairSync('ed25519').privateKey.export(pkcs8)
  assert.equal(isValidKeyMaterial('ECC_NIST_P256', ed25519), false)
  const p224 = generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).privateKey.export(pkcs8)
  assert.equal(isValidKeyMaterial('ECC_NIST_P256', p224), false)
  // A PEM key is not DER.
  const pem = createPrivateKey({ key: keys.ECC_NIST_P256, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' })
  assert.equal(isValidKeyMaterial('ECC_NIST_P256', Buffer.from(pem)), false)
  // Encrypted PKCS#8 cannot be read without its passphrase.
  const encrypted = createPrivateKey({ key: keys.ECC_NIST_P256, format: 'der', type: 'pkcs8' }).export({
    type: 'pkcs8',
    format: 'der',
    cipher: 'aes-256-cbc',
    passphrase: 'secret',
  })
  assert.equal(isValidKeyMaterial('ECC_NIST_P256', encrypted), false)
})

test('generateDataKeyPair: PKCS#8 private key and SPKI public key that belong together', () => {
  for (const spec of RSA_AND_EC_SPECS) {
    const pair = generateDataKeyPair(spec)
    const privateKey = createPrivateKey({ key: pair.privateKey, format: 'der', type: 'pkcs8' })
    const publicKey = createPublicKey({ key: pair.publicKey, format: 'der', type: 'spki' })
    assert.deepEqual(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), pair.publicKey, spec)
    assert.deepEqual(publicKeyOf(spec, pair.privateKey), pair.publicKey, spec)
    assert.equal(isValidKeyMaterial(spec, pair.privateKey), true, spec)
    const hash = spec === 'ECC_NIST_P384' ? 'sha384' : spec === 'ECC_NIST_P521' ? 'sha512' : 'sha256'
    const message = Buffer.from(`data key pair ${spec}`)
    const signature = nodeSign(hash, message, privateKey)
    assert.equal(nodeVerify(hash, message, publicKey, signature), true, spec)
    assert.equal(nodeVerify(hash, Buffer.from('other'), publicKey, signature), false, spec)
    // Fresh each time (checked where generation is cheap).
    if (!spec.startsWith('RSA') || spec === 'RSA_2048') assert.notDeepEqual(generateDataKeyPair(spec).privateKey, pair.privateKey)
  }
  assert.throws(() => generateDataKeyPair('HMAC_256' as KeyPairSpec), RangeError)
})

test('publicKeyOf returns the SPKI node:crypto derives, and refuses non-asymmetric specs', () => {
  for (const spec of RSA_AND_EC_SPECS) {
    const expected = createPublicKey(createPrivateKey({ key: keys[spec], format: 'der', type: 'pkcs8' })).export({
      type: 'spki',
      format: 'der',
    })
    assert.deepEqual(publicKeyOf(spec, keys[spec]), expected)
  }
  assert.throws(() => publicKeyOf('SYMMETRIC_DEFAULT' as AsymmetricKeySpec, keys.RSA_2048), RangeError)
  assert.throws(() => publicKeyOf('ECC_NIST_P384', keys.ECC_NIST_P256), RangeError)
})

for (const spec of RSA_AND_EC_SPECS) {
  const allowed = signingAlgorithmsFor(spec)
  for (const [n, algorithm] of allowed.entries()) {
    test(`${spec} ${algorithm}: RAW and DIGEST signatures verify here and with node:crypto; tampering fails`, () => {
      const key = keys[spec]
      const spki = publicKeyOf(spec, key)
      const hash = hashOf(algorithm)
      const message = randomBytes(77)
      const digest = createHash(hash).update(message).digest()

      const raw = sign(spec, key, algorithm, 'RAW', message)
      assert.equal(verify(spec, key, algorithm, 'RAW', message, raw), true)
      assert.equal(nodeVerify(hash, message, nodeVerifyKey(spki, algorithm), raw), true)
      // A RAW signature of m is a DIGEST signature of H(m), and the other way round.
      assert.equal(verify(spec, key, algorithm, 'DIGEST', digest, raw), true)
      const fromDigest = sign(spec, key, algorithm, 'DIGEST', digest)
      assert.equal(verify(spec, key, algorithm, 'DIGEST', digest, fromDigest), true)
      assert.equal(verify(spec, key, algorithm, 'RAW', message, fromDigest), true)
      assert.equal(nodeVerify(hash, message, nodeVerifyKey(spki, algorithm), fromDigest), true)

      // Every byte for the first algorithm of the cheaper specs, a sample for the rest.
      const signatureIndexes = n === 0 && EXHAUSTIVE.has(spec) ? Array.from({ length: raw.length }, (_, i) => i) : positions(raw.length)
      for (const i of signatureIndexes) {
        assert.equal(verify(spec, key, algorithm, 'RAW', message, flipped(raw, i)), false, `signature byte ${i}`)
      }
      for (const i of positions(message.length)) {
        assert.equal(verify(spec, key, algorithm, 'RAW', flipped(message, i), raw), false, `message byte ${i}`)
      }
      for (const i of positions(digest.length)) {
        assert.equal(verify(spec, key, algorithm, 'DIGEST', flipped(digest, i), fromDigest), false, `digest byte ${i}`)
      }
      assert.equal(verify(spec, key, algorithm, 'RAW', message, raw.subarray(0, raw.length - 1)), false)
      assert.equal(verify(spec, key, algorithm, 'RAW', message, Buffer.concat([raw, Buffer.of(0)])), false)
      assert.equal(verify(spec, key, algorithm, 'RAW', message, Buffer.alloc(0)), false)
      assert.equal(verify(spec, key, algorithm, 'RAW', message, Buffer.alloc(raw.length, 0xff)), false)
      assert.equal(verify(spec, key, algorithm, 'RAW', message, Buffer.alloc(raw.length)), false)
      // Another key of the same spec does not verify it.
      assert.equal(verify(spec, otherKey(spec), algorithm, 'RAW', message, raw), false)

      // DIGEST must be exactly the hash length.
      for (const length of [0, digest.length - 1, digest.length + 1, 20]) {
        assert.throws(() => sign(spec, key, algorithm, 'DIGEST', Buffer.alloc(length)), RangeError, `digest of ${length}`)
        assert.throws(() => verify(spec, key, algorithm, 'DIGEST', Buffer.alloc(length), fromDigest), RangeError, `digest of ${length}`)
      }
      // The empty message is a valid RAW message.
      const empty = sign(spec, key, algorithm, 'RAW', Buffer.alloc(0))
      assert.equal(nodeVerify(hash, Buffer.alloc(0), nodeVerifyKey(spki, algorithm), empty), true)
    })
  }

  test(`${spec}: signing algorithms of other specs are refused with RangeError`, () => {
    const key = keys[spec]
    for (const algorithm of SIGNING_ALGORITHMS) {
      if (allowed.includes(algorithm)) continue
      const digest = Buffer.alloc(hashOf(algorithm) === 'sha256' ? 32 : hashOf(algorithm) === 'sha384' ? 48 : 64)
      assert.throws(() => sign(spec, key, algorithm, 'RAW', Buffer.from('m')), RangeError, algorithm)
      assert.throws(() => sign(spec, key, algorithm, 'DIGEST', digest), RangeError, algorithm)
      assert.throws(() => verify(spec, key, algorithm, 'RAW', Buffer.from('m'), Buffer.alloc(64)), RangeError, algorithm)
    }
    assert.throws(() => sign(spec, key, 'SM2DSA' as SigningAlgorithm, 'RAW', Buffer.from('m')), RangeError)
    assert.throws(() => sign(spec, key, allowed[0] as SigningAlgorithm, 'HASHED' as 'RAW', Buffer.from('m')), RangeError)
  })
}

test('signing refuses key material of another spec and non-asymmetric specs', () => {
  assert.throws(() => sign('RSA_3072', keys.RSA_2048, 'RSASSA_PSS_SHA_256', 'RAW', Buffer.from('m')), RangeError)
  assert.throws(() => sign('ECC_NIST_P256', keys.ECC_SECG_P256K1, 'ECDSA_SHA_256', 'RAW', Buffer.from('m')), RangeError)
  assert.throws(() => sign('HMAC_256' as AsymmetricKeySpec, keys.RSA_2048, 'RSASSA_PSS_SHA_256', 'RAW', Buffer.from('m')), RangeError)
  assert.throws(() => verify('ECC_NIST_P384', keys.ECC_NIST_P256, 'ECDSA_SHA_384', 'RAW', Buffer.from('m'), Buffer.alloc(8)), RangeError)
})

test('RSASSA-PKCS1-v1_5 signatures are byte-for-byte what node:crypto produces (deterministic scheme)', () => {
  const privateKey = createPrivateKey({ key: keys.RSA_2048, format: 'der', type: 'pkcs8' })
  for (const algorithm of ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'] as const) {
    const message = Buffer.from(`pkcs1 ${algorithm}`)
    const hash = hashOf(algorithm)
    const expected = nodeSign(hash, message, privateKey)
    assert.deepEqual(sign('RSA_2048', keys.RSA_2048, algorithm, 'RAW', message), expected)
    assert.deepEqual(sign('RSA_2048', keys.RSA_2048, algorithm, 'DIGEST', createHash(hash).update(message).digest()), expected)
  }
})

test('RSASSA-PSS: node:crypto signatures with the AWS salt length verify; other salt lengths do not', () => {
  const privateKey = createPrivateKey({ key: keys.RSA_3072, format: 'der', type: 'pkcs8' })
  const message = Buffer.from('pss salt length')
  const withDigestSalt = nodeSign('sha384', message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 })
  assert.equal(verify('RSA_3072', keys.RSA_3072, 'RSASSA_PSS_SHA_384', 'RAW', message, withDigestSalt), true)
  const noSalt = nodeSign('sha384', message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 0 })
  assert.equal(verify('RSA_3072', keys.RSA_3072, 'RSASSA_PSS_SHA_384', 'RAW', message, noSalt), false)
  // PSS signatures are randomized by the salt.
  const a = sign('RSA_3072', keys.RSA_3072, 'RSASSA_PSS_SHA_384', 'RAW', message)
  const b = sign('RSA_3072', keys.RSA_3072, 'RSASSA_PSS_SHA_384', 'RAW', message)
  assert.notDeepEqual(a, b)
  // A PKCS#1 v1.5 signature is not a PSS signature, and the reverse.
  const pkcs1 = sign('RSA_3072', keys.RSA_3072, 'RSASSA_PKCS1_V1_5_SHA_384', 'RAW', message)
  assert.equal(verify('RSA_3072', keys.RSA_3072, 'RSASSA_PSS_SHA_384', 'RAW', message, pkcs1), false)
  assert.equal(verify('RSA_3072', keys.RSA_3072, 'RSASSA_PKCS1_V1_5_SHA_384', 'RAW', message, a), false)
  // Same scheme, other hash.
  assert.equal(verify('RSA_3072', keys.RSA_3072, 'RSASSA_PSS_SHA_256', 'RAW', message, a), false)
})

test('ECDSA: DER signatures, low-S when we sign, high-S accepted when we verify', () => {
  for (const spec of ['ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1'] as const) {
    const curve = CURVES[spec] as ECDSA
    const algorithm = signingAlgorithmsFor(spec)[0] as SigningAlgorithm
    const spki = publicKeyOf(spec, keys[spec])
    const message = Buffer.from(`high-s ${spec}`)
    const signature = sign(spec, keys[spec], algorithm, 'RAW', message)
    assert.equal(signature[0], 0x30, 'DER SEQUENCE')
    const parsed = curve.Signature.fromBytes(signature, 'der')
    assert.equal(parsed.hasHighS(), false)
    const highS = new curve.Signature(parsed.r, curve.Point.Fn.ORDER - parsed.s).toBytes('der')
    assert.equal(verify(spec, keys[spec], algorithm, 'RAW', message, highS), true, spec)
    assert.equal(nodeVerify(hashOf(algorithm), message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), highS), true)
    // The raw r||s form is not what AWS returns or accepts.
    assert.equal(verify(spec, keys[spec], algorithm, 'RAW', message, parsed.toBytes('compact')), false)
    // Low-S on both paths (OpenSSL's RAW signatures are normalized, noble's are low-S).
    for (let i = 0; i < 16; i++) {
      const m = randomBytes(16)
      const d = createHash(hashOf(algorithm)).update(m).digest()
      for (const s of [sign(spec, keys[spec], algorithm, 'RAW', m), sign(spec, keys[spec], algorithm, 'DIGEST', d)]) {
        assert.equal(curve.Signature.fromBytes(s, 'der').hasHighS(), false, spec)
        assert.equal(verify(spec, keys[spec], algorithm, 'RAW', m, s), true, spec)
      }
    }
    // Hedged: two signatures of the same message differ.
    assert.notDeepEqual(sign(spec, keys[spec], algorithm, 'RAW', message), signature)
    // node:crypto (OpenSSL) signatures verify here.
    const fromNode = nodeSign(hashOf(algorithm), message, createPrivateKey({ key: keys[spec], format: 'der', type: 'pkcs8' }))
    assert.equal(verify(spec, keys[spec], algorithm, 'RAW', message, fromNode), true)
  }
})

const OAEP_MAX: Record<(typeof RSA_SPECS)[number], Record<EncryptionAlgorithm, number>> = {
  // AWS's documented limits: k - 2·hLen - 2.
  RSA_2048: { RSAES_OAEP_SHA_1: 214, RSAES_OAEP_SHA_256: 190 },
  RSA_3072: { RSAES_OAEP_SHA_1: 342, RSAES_OAEP_SHA_256: 318 },
  RSA_4096: { RSAES_OAEP_SHA_1: 470, RSAES_OAEP_SHA_256: 446 },
}

for (const spec of RSA_SPECS) {
  for (const algorithm of ENCRYPTION_ALGORITHMS) {
    test(`${spec} ${algorithm}: OAEP round trip, exact plaintext bound, node:crypto interop, tampering`, () => {
      const key = keys[spec]
      const max = maxRsaPlaintextBytes(spec, algorithm)
      assert.equal(max, OAEP_MAX[spec][algorithm])
      const k = Number(spec.slice(4)) / 8
      for (const length of [0, 1, 32, max]) {
        const plaintext = randomBytes(length)
        const ciphertext = rsaEncrypt(spec, key, algorithm, plaintext)
        assert.equal(ciphertext.length, k)
        assert.deepEqual(rsaDecrypt(spec, key, algorithm, ciphertext), plaintext)
      }
      assert.throws(() => rsaEncrypt(spec, key, algorithm, Buffer.alloc(max + 1)), RangeError)
      // OAEP is randomized.
      const plaintext = Buffer.from('attack at dawn')
      assert.notDeepEqual(rsaEncrypt(spec, key, algorithm, plaintext), rsaEncrypt(spec, key, algorithm, plaintext))

      const oaepHash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256'
      const spki = createPublicKey({ key: publicKeyOf(spec, key), format: 'der', type: 'spki' })
      const fromNode = publicEncrypt({ key: spki, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, plaintext)
      assert.deepEqual(rsaDecrypt(spec, key, algorithm, fromNode), plaintext)

      for (const i of positions(fromNode.length))
        assert.equal(rsaDecrypt(spec, key, algorithm, flipped(fromNode, i)), undefined, `byte ${i}`)
      assert.equal(rsaDecrypt(spec, key, algorithm, fromNode.subarray(1)), undefined)
      assert.equal(rsaDecrypt(spec, key, algorithm, Buffer.concat([Buffer.of(0), fromNode])), undefined)
      assert.equal(rsaDecrypt(spec, key, algorithm, Buffer.alloc(0)), undefined)
      assert.equal(rsaDecrypt(spec, key, algorithm, Buffer.alloc(k, 0xff)), undefined)
      const otherHash = algorithm === 'RSAES_OAEP_SHA_1' ? 'RSAES_OAEP_SHA_256' : 'RSAES_OAEP_SHA_1'
      assert.equal(rsaDecrypt(spec, key, otherHash, fromNode), undefined)
      assert.equal(rsaDecrypt(spec, otherKey(spec), algorithm, fromNode), undefined)
    })
  }
}

test('RSA-OAEP is refused for non-RSA specs, unknown algorithms and other specs’ keys', () => {
  assert.throws(() => maxRsaPlaintextBytes('ECC_NIST_P256', 'RSAES_OAEP_SHA_256'), RangeError)
  assert.throws(() => rsaEncrypt('ECC_NIST_P256', keys.ECC_NIST_P256, 'RSAES_OAEP_SHA_256', Buffer.from('x')), RangeError)
  assert.throws(() => rsaDecrypt('ECC_NIST_P256', keys.ECC_NIST_P256, 'RSAES_OAEP_SHA_256', Buffer.alloc(256)), RangeError)
  assert.throws(() => rsaEncrypt('RSA_2048', keys.RSA_2048, 'SYMMETRIC_DEFAULT' as EncryptionAlgorithm, Buffer.from('x')), RangeError)
  assert.throws(() => rsaEncrypt('RSA_2048', keys.RSA_3072, 'RSAES_OAEP_SHA_256', Buffer.from('x')), RangeError)
})
