/**
 * Every key type through the AWS SDK v3, checked against standard tools: signatures
 * verify with node:crypto and the openssl command using the public key from
 * GetPublicKey, data encrypted locally with that public key decrypts in Trent, data key
 * pairs work outside Trent, ECDH secrets agree with a local derivation.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ReEncryptCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
  type KMSClient,
  type KeySpec,
  type KeyUsageType,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms'
import { startInProcessRegion, type InProcessRegion } from '../helpers/in-process-region.js'

let region: InProcessRegion
let kms: KMSClient

before(async () => {
  region = await startInProcessRegion()
  kms = region.client()
})
after(async () => {
  await region.close()
})

async function createKey(spec: KeySpec, usage: KeyUsageType): Promise<string> {
  const created = await kms.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage }))
  return created.KeyMetadata?.KeyId ?? assert.fail('no key id')
}

async function publicKeyOf(keyId: string): Promise<Buffer> {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }))
  return Buffer.from(out.PublicKey ?? assert.fail('no public key'))
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' }
function hashOf(algorithm: string): string {
  return HASH[algorithm.slice(-3)] ?? assert.fail(`no hash for ${algorithm}`)
}

/** Verifies a KMS signature with node:crypto, as any client of GetPublicKey would. */
function verifiesLocally(spki: Buffer, algorithm: string, message: Buffer, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' })
  const options = algorithm.startsWith('RSASSA_PSS')
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
    : algorithm.startsWith('RSASSA_PKCS1')
      ? { key, padding: constants.RSA_PKCS1_PADDING }
      : { key, dsaEncoding: 'der' as const }
  return nodeVerify(hashOf(algorithm), message, options, signature)
}

const SIGNING_CASES: Array<{ spec: KeySpec; algorithms: SigningAlgorithmSpec[] }> = [
  {
    spec: 'RSA_2048',
    algorithms: [
      'RSASSA_PSS_SHA_256',
      'RSASSA_PSS_SHA_384',
      'RSASSA_PSS_SHA_512',
      'RSASSA_PKCS1_V1_5_SHA_256',
      'RSASSA_PKCS1_V1_5_SHA_384',
      'RSASSA_PKCS1_V1_5_SHA_512',
    ],
  },
  { spec: 'RSA_3072', algorithms: ['RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_512'] },
  { spec: 'RSA_4096', algorithms: ['RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256'] },
  { spec: 'ECC_NIST_P256', algorithms: ['ECDSA_SHA_256'] },
  { spec: 'ECC_NIST_P384', algorithms: ['ECDSA_SHA_384'] },
  { spec: 'ECC_NIST_P521', algorithms: ['ECDSA_SHA_512'] },
  { spec: 'ECC_SECG_P256K1', algorithms: ['ECDSA_SHA_256'] },
]

for (const { spec, algorithms } of SIGNING_CASES) {
  test(`${spec} SIGN_VERIFY: RAW and DIGEST signatures verify in Trent and with node:crypto`, async () => {
    const keyId = await createKey(spec, 'SIGN_VERIFY')
    const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }))
    const offered = [...(described.KeyMetadata?.SigningAlgorithms ?? [])].sort()
    assert.deepEqual(offered, spec.startsWith('RSA_') ? [...(SIGNING_CASES[0]?.algorithms ?? [])].sort() : algorithms)
    assert.equal(described.KeyMetadata?.EncryptionAlgorithms, undefined)
    const spki = await publicKeyOf(keyId)
    const message = Buffer.from(`a message for ${spec}`)
    for (const algorithm of algorithms) {
      const raw = await kms.send(new SignCommand({ KeyId: keyId, Message: message, MessageType: 'RAW', SigningAlgorithm: algorithm }))
      const signature = raw.Signature ?? assert.fail('no signature')
      assert.equal(raw.SigningAlgorithm, algorithm)
      assert.ok(verifiesLocally(spki, algorithm, message, signature), `${algorithm} RAW verifies with node:crypto`)
      const verified = await kms.send(
        new VerifyCommand({ KeyId: keyId, Message: message, Signature: signature, SigningAlgorithm: algorithm }),
      )
      assert.equal(verified.SignatureValid, true)

      // DIGEST: the caller hashes; the signature is the same kind a RAW one of the message is.
      const digest = createHash(hashOf(algorithm)).update(message).digest()
      const overDigest = await kms.send(
        new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: algorithm }),
      )
      assert.ok(
        verifiesLocally(spki, algorithm, message, overDigest.Signature ?? new Uint8Array()),
        `${algorithm} DIGEST verifies as a signature of the message`,
      )
      await kms.send(
        new VerifyCommand({
          KeyId: keyId,
          Message: digest,
          MessageType: 'DIGEST',
          Signature: overDigest.Signature,
          SigningAlgorithm: algorithm,
        }),
      )

      // Tampering: a flipped bit in the signature or the message is KMSInvalidSignatureException.
      const flipped = Buffer.from(signature)
      flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 0x01
      await assert.rejects(
        kms.send(new VerifyCommand({ KeyId: keyId, Message: message, Signature: flipped, SigningAlgorithm: algorithm })),
        {
          name: 'KMSInvalidSignatureException',
        },
      )
      await assert.rejects(
        kms.send(
          new VerifyCommand({
            KeyId: keyId,
            Message: Buffer.concat([message, Buffer.from('!')]),
            Signature: signature,
            SigningAlgorithm: algorithm,
          }),
        ),
        { name: 'KMSInvalidSignatureException' },
      )
    }
  })
}

test('signing errors: wrong algorithm for the key, wrong digest length, wrong key usage', async () => {
  const ecc = await createKey('ECC_NIST_P256', 'SIGN_VERIFY')
  await assert.rejects(
    kms.send(new SignCommand({ KeyId: ecc, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_384' })),
    (err: Error) => {
      assert.equal(err.name, 'InvalidKeyUsageException')
      assert.match(err.message, /ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256/)
      return true
    },
  )
  await assert.rejects(kms.send(new SignCommand({ KeyId: ecc, Message: Buffer.from('m'), SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), {
    name: 'InvalidKeyUsageException',
  })
  await assert.rejects(
    kms.send(new SignCommand({ KeyId: ecc, Message: Buffer.alloc(31), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
    { name: 'ValidationException' },
  )
  const symmetric = (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId
  await assert.rejects(
    kms.send(new SignCommand({ KeyId: symmetric, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' })),
    (err: Error) => {
      assert.equal(err.name, 'InvalidKeyUsageException')
      assert.match(err.message, /key usage is ENCRYPT_DECRYPT which is not valid for Sign/)
      return true
    },
  )
  await assert.rejects(kms.send(new EncryptCommand({ KeyId: ecc, Plaintext: Buffer.from('x') })), { name: 'InvalidKeyUsageException' })
  await assert.rejects(kms.send(new GetPublicKeyCommand({ KeyId: symmetric })), { name: 'UnsupportedOperationException' })
  await assert.rejects(kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'ENCRYPT_DECRYPT' })), {
    name: 'ValidationException',
  })
  await assert.rejects(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'KEY_AGREEMENT' })), {
    name: 'ValidationException',
  })
})

test('signatures verify with the openssl command', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trent-openssl-'))
  try {
    for (const [spec, algorithm, extra] of [
      ['RSA_2048', 'RSASSA_PSS_SHA_256', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest']],
      ['RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_384', []],
      ['ECC_NIST_P256', 'ECDSA_SHA_256', []],
      ['ECC_SECG_P256K1', 'ECDSA_SHA_256', []],
    ] as const) {
      const keyId = await createKey(spec, 'SIGN_VERIFY')
      const message = Buffer.from(`openssl checks ${spec} ${algorithm}`)
      const signed = await kms.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: algorithm }))
      writeFileSync(join(dir, 'key.der'), await publicKeyOf(keyId))
      writeFileSync(join(dir, 'message'), message)
      writeFileSync(join(dir, 'signature'), signed.Signature ?? new Uint8Array())
      const out = execFileSync(
        'openssl',
        [
          'dgst',
          `-${hashOf(algorithm)}`,
          '-keyform',
          'DER',
          '-verify',
          join(dir, 'key.der'),
          ...extra,
          '-signature',
          join(dir, 'signature'),
          join(dir, 'message'),
        ],
        { encoding: 'utf8' },
      )
      assert.match(out, /Verified OK/, `${spec} ${algorithm}`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

for (const spec of ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const) {
  test(`${spec} ENCRYPT_DECRYPT: node:crypto encrypts with the public key, Trent decrypts; and back`, async () => {
    const keyId = await createKey(spec, 'ENCRYPT_DECRYPT')
    const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.deepEqual(described.KeyMetadata?.EncryptionAlgorithms, ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'])
    const spki = createPublicKey({ key: await publicKeyOf(keyId), format: 'der', type: 'spki' })
    for (const [algorithm, oaepHash] of [
      ['RSAES_OAEP_SHA_1', 'sha1'],
      ['RSAES_OAEP_SHA_256', 'sha256'],
    ] as const) {
      const plaintext = Buffer.from(`secret for ${spec} ${algorithm}`)
      const ciphertext = publicEncrypt({ key: spki, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, plaintext)
      const decrypted = await kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: ciphertext, EncryptionAlgorithm: algorithm }))
      assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), plaintext)
      assert.equal(decrypted.EncryptionAlgorithm, algorithm)

      const encrypted = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionAlgorithm: algorithm }))
      const back = await kms.send(
        new DecryptCommand({ KeyId: keyId, CiphertextBlob: encrypted.CiphertextBlob, EncryptionAlgorithm: algorithm }),
      )
      assert.deepEqual(Buffer.from(back.Plaintext ?? []), plaintext)

      const tampered = Buffer.from(ciphertext)
      tampered[10] = (tampered[10] ?? 0) ^ 0x40
      await assert.rejects(kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: tampered, EncryptionAlgorithm: algorithm })), {
        name: 'InvalidCiphertextException',
      })
    }
    // The other OAEP hash, no algorithm at all, or no KeyId: all refused.
    const plaintext = Buffer.from('x')
    const sha1 = publicEncrypt({ key: spki, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, plaintext)
    await assert.rejects(kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: sha1, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), {
      name: 'InvalidCiphertextException',
    })
    await assert.rejects(kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: sha1 })), { name: 'InvalidKeyUsageException' })
    await assert.rejects(kms.send(new DecryptCommand({ CiphertextBlob: sha1, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), {
      name: 'InvalidCiphertextException',
    })
  })
}

test('RSA Encrypt refuses a plaintext longer than OAEP allows, and an encryption context', async () => {
  const keyId = await createKey('RSA_2048', 'ENCRYPT_DECRYPT')
  await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(190), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))
  await assert.rejects(
    kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(191), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })),
    { name: 'ValidationException' },
  )
  await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(214), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }))
  await assert.rejects(
    kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(215), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })),
    { name: 'ValidationException' },
  )
  await assert.rejects(
    kms.send(
      new EncryptCommand({
        KeyId: keyId,
        Plaintext: Buffer.alloc(8),
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_1',
        EncryptionContext: { a: 'b' },
      }),
    ),
    { name: 'ValidationException' },
  )
})

for (const [spec, algorithm] of [
  ['HMAC_224', 'HMAC_SHA_224'],
  ['HMAC_256', 'HMAC_SHA_256'],
  ['HMAC_384', 'HMAC_SHA_384'],
  ['HMAC_512', 'HMAC_SHA_512'],
] as const) {
  test(`${spec}: GenerateMac and VerifyMac, tampering refused`, async () => {
    const keyId = await createKey(spec, 'GENERATE_VERIFY_MAC')
    const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.deepEqual(described.KeyMetadata?.MacAlgorithms, [algorithm])
    const message = Buffer.from(`mac me with ${spec}`)
    const { Mac: mac, MacAlgorithm } = await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: algorithm }))
    assert.equal(MacAlgorithm, algorithm)
    assert.equal(mac?.length, Number(spec.slice(5)) / 8)
    const again = await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: algorithm }))
    assert.deepEqual(again.Mac, mac, 'HMAC is deterministic')
    const verified = await kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: mac, MacAlgorithm: algorithm }))
    assert.equal(verified.MacValid, true)
    const flipped = Buffer.from(mac ?? [])
    flipped[0] = (flipped[0] ?? 0) ^ 0x80
    await assert.rejects(kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: flipped, MacAlgorithm: algorithm })), {
      name: 'KMSInvalidMacException',
    })
    await assert.rejects(
      kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: flipped.subarray(1), MacAlgorithm: algorithm })),
      { name: 'KMSInvalidMacException' },
    )
    await assert.rejects(
      kms.send(new VerifyMacCommand({ KeyId: keyId, Message: Buffer.from('other'), Mac: mac, MacAlgorithm: algorithm })),
      { name: 'KMSInvalidMacException' },
    )
    const wrong = algorithm === 'HMAC_SHA_256' ? 'HMAC_SHA_512' : 'HMAC_SHA_256'
    await assert.rejects(kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: wrong })), {
      name: 'InvalidKeyUsageException',
    })
    // Another key of the same spec gives another MAC.
    const other = await createKey(spec, 'GENERATE_VERIFY_MAC')
    const otherMac = await kms.send(new GenerateMacCommand({ KeyId: other, Message: message, MacAlgorithm: algorithm }))
    assert.notDeepEqual(otherMac.Mac, mac)
  })
}

for (const spec of ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1'] as const) {
  test(`GenerateDataKeyPair ${spec}: the pair works outside Trent and Decrypt returns the private key`, async () => {
    const wrappingKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId
    const context = { purpose: 'data-key-pair-test' }
    const pair = await kms.send(new GenerateDataKeyPairCommand({ KeyId: wrappingKey, KeyPairSpec: spec, EncryptionContext: context }))
    assert.equal(pair.KeyPairSpec, spec)
    const privateKey = createPrivateKey({ key: Buffer.from(pair.PrivateKeyPlaintext ?? []), format: 'der', type: 'pkcs8' })
    const publicKey = createPublicKey({ key: Buffer.from(pair.PublicKey ?? []), format: 'der', type: 'spki' })
    assert.deepEqual(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), publicKey.export({ type: 'spki', format: 'der' }))
    const message = Buffer.from('signed outside Trent')
    assert.ok(nodeVerify('sha256', message, publicKey, nodeSign('sha256', message, privateKey)))
    const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: pair.PrivateKeyCiphertextBlob, EncryptionContext: context }))
    assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), Buffer.from(pair.PrivateKeyPlaintext ?? []))
    await assert.rejects(kms.send(new DecryptCommand({ CiphertextBlob: pair.PrivateKeyCiphertextBlob })), {
      name: 'InvalidCiphertextException',
    })

    const withoutPlaintext = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: wrappingKey, KeyPairSpec: spec }))
    assert.equal((withoutPlaintext as { PrivateKeyPlaintext?: unknown }).PrivateKeyPlaintext, undefined)
    const recovered = await kms.send(new DecryptCommand({ CiphertextBlob: withoutPlaintext.PrivateKeyCiphertextBlob }))
    const recoveredKey = createPrivateKey({ key: Buffer.from(recovered.Plaintext ?? []), format: 'der', type: 'pkcs8' })
    assert.deepEqual(createPublicKey(recoveredKey).export({ type: 'spki', format: 'der' }), Buffer.from(withoutPlaintext.PublicKey ?? []))
  })
}

test('GenerateDataKeyPair needs a symmetric encryption key', async () => {
  const rsa = await createKey('RSA_2048', 'ENCRYPT_DECRYPT')
  await assert.rejects(kms.send(new GenerateDataKeyPairCommand({ KeyId: rsa, KeyPairSpec: 'ECC_NIST_P256' })), {
    name: 'InvalidKeyUsageException',
  })
})

for (const [spec, curve] of [
  ['ECC_NIST_P256', 'prime256v1'],
  ['ECC_NIST_P384', 'secp384r1'],
  ['ECC_NIST_P521', 'secp521r1'],
] as const) {
  test(`${spec} KEY_AGREEMENT: DeriveSharedSecret agrees with a local ECDH`, async () => {
    const keyId = await createKey(spec, 'KEY_AGREEMENT')
    const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.deepEqual(described.KeyMetadata?.KeyAgreementAlgorithms, ['ECDH'])
    const local = generateKeyPairSync('ec', { namedCurve: curve })
    const derived = await kms.send(
      new DeriveSharedSecretCommand({
        KeyId: keyId,
        KeyAgreementAlgorithm: 'ECDH',
        PublicKey: local.publicKey.export({ type: 'spki', format: 'der' }),
      }),
    )
    const trentPublic = createPublicKey({ key: await publicKeyOf(keyId), format: 'der', type: 'spki' })
    const expected = diffieHellman({ privateKey: local.privateKey, publicKey: trentPublic })
    assert.deepEqual(Buffer.from(derived.SharedSecret ?? []), expected)
    assert.equal(derived.KeyOrigin, 'AWS_KMS')
    // A key on another curve, or bytes that are no key at all.
    const otherCurve = generateKeyPairSync('ec', { namedCurve: curve === 'prime256v1' ? 'secp384r1' : 'prime256v1' })
    await assert.rejects(
      kms.send(
        new DeriveSharedSecretCommand({
          KeyId: keyId,
          KeyAgreementAlgorithm: 'ECDH',
          PublicKey: otherCurve.publicKey.export({ type: 'spki', format: 'der' }),
        }),
      ),
      { name: 'ValidationException' },
    )
    await assert.rejects(
      kms.send(new DeriveSharedSecretCommand({ KeyId: keyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: Buffer.from('not a key') })),
      {
        name: 'ValidationException',
      },
    )
    await assert.rejects(kms.send(new SignCommand({ KeyId: keyId, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' })), {
      name: 'InvalidKeyUsageException',
    })
  })
}

test('ReEncrypt with RSA keys on either side: the plaintext moves between keys without leaving Trent', async () => {
  const rsa = await createKey('RSA_2048', 'ENCRYPT_DECRYPT')
  const otherRsa = await createKey('RSA_3072', 'ENCRYPT_DECRYPT')
  const symmetric = (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
  const plaintext = Buffer.from('moved between key types')
  const spki = createPublicKey({ key: await publicKeyOf(rsa), format: 'der', type: 'spki' })
  const underRsa = publicEncrypt({ key: spki, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, plaintext)

  // RSA → symmetric, with a destination context.
  const toSymmetric = await kms.send(
    new ReEncryptCommand({
      CiphertextBlob: underRsa,
      SourceKeyId: rsa,
      SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      DestinationKeyId: symmetric,
      DestinationEncryptionContext: { step: 'one' },
    }),
  )
  assert.equal(toSymmetric.SourceEncryptionAlgorithm, 'RSAES_OAEP_SHA_256')
  assert.equal(toSymmetric.DestinationEncryptionAlgorithm, 'SYMMETRIC_DEFAULT')
  const back = await kms.send(new DecryptCommand({ CiphertextBlob: toSymmetric.CiphertextBlob, EncryptionContext: { step: 'one' } }))
  assert.deepEqual(Buffer.from(back.Plaintext ?? []), plaintext)

  // symmetric → RSA → RSA.
  const toRsa = await kms.send(
    new ReEncryptCommand({
      CiphertextBlob: toSymmetric.CiphertextBlob,
      SourceEncryptionContext: { step: 'one' },
      DestinationKeyId: otherRsa,
      DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_1',
    }),
  )
  const rsaToRsa = await kms.send(
    new ReEncryptCommand({
      CiphertextBlob: toRsa.CiphertextBlob,
      SourceKeyId: otherRsa,
      SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_1',
      DestinationKeyId: rsa,
      DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
    }),
  )
  const final = await kms.send(
    new DecryptCommand({ KeyId: rsa, CiphertextBlob: rsaToRsa.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }),
  )
  assert.deepEqual(Buffer.from(final.Plaintext ?? []), plaintext)

  // Failures: a wrong source algorithm does not decrypt; a plaintext too long for the RSA destination is refused.
  await assert.rejects(
    kms.send(
      new ReEncryptCommand({
        CiphertextBlob: underRsa,
        SourceKeyId: rsa,
        SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_1',
        DestinationKeyId: symmetric,
      }),
    ),
    { name: 'InvalidCiphertextException' },
  )
  const long = await kms.send(new EncryptCommand({ KeyId: symmetric, Plaintext: Buffer.alloc(300, 7) }))
  await assert.rejects(
    kms.send(
      new ReEncryptCommand({
        CiphertextBlob: long.CiphertextBlob,
        DestinationKeyId: rsa,
        DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      }),
    ),
    { name: 'ValidationException' },
  )
})
