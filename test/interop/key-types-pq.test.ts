/**
 * Ed25519, ML-DSA and ML-KEM keys through the AWS SDK v3 against a real partition (the
 * launcher, one process per region, the replication proxy), checked outside Trent:
 *
 * - Ed25519 signatures with node:crypto (OpenSSL) for ED25519_SHA_512; ED25519_PH_SHA_512
 *   with @noble/curves' Ed25519ph (node:crypto has no Ed25519ph; the HSM's primitive is
 *   also anchored to RFC 8032's vector in test/unit/key-specs-pq.test.ts);
 * - ML-DSA signatures and ML-KEM encapsulations with pyca/cryptography over OpenSSL 3.5+
 *   (test/interop/pq_openssl.py), an implementation independent of Trent's
 *   @noble/post-quantum. OpenSSL has no ML-KEM-512, so that one is encapsulated with
 *   @noble/post-quantum in this process: the same library as the HSM, but a separate
 *   encapsulation the HSM does not take part in, decapsulated by the HSM; the primitive
 *   itself is checked against NIST's ACVP vectors in the unit test;
 * - the AWS errors for wrong message types, lengths and key usages;
 * - each spec as a multi-Region key: signed in one region and verified in the other,
 *   encapsulated against one region's public key and decapsulated in the other.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DecapsulateCommand,
  DescribeKeyCommand,
  EncapsulateCommand,
  GenerateDataKeyPairCommand,
  GetPublicKeyCommand,
  ReplicateKeyCommand,
  SignCommand,
  VerifyCommand,
  type KMSClient,
  type KeySpec,
  type SignCommandInput,
  type KeyUsageType,
} from '@aws-sdk/client-kms'
import { ml_kem512 } from '@noble/post-quantum/ml-kem.js'
import { ed25519ph } from '@noble/curves/ed25519.js'
import { rejectsWith } from '../helpers/aws-errors.js'
import { kmsClient, startPartition, stopAllPartitions, waitFor, type RunningPartition } from '../helpers/partition.js'

const US = 'us-east-1'
const EU = 'eu-west-1'
const SCRIPT = fileURLToPath(new URL('../../../test/interop/pq_openssl.py', import.meta.url))
/** Replication over real processes and a real proxy: generous, never asserted. */
const SYNC = { timeoutMs: 120_000, intervalMs: 200 }

const ML_DSA = ['ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87'] as const
const ML_KEM = ['ML_KEM_512', 'ML_KEM_768', 'ML_KEM_1024'] as const
const DSA_SIGNATURE_BYTES = { ML_DSA_44: 2420, ML_DSA_65: 3309, ML_DSA_87: 4627 } as const
/** The SubjectPublicKeyInfo lengths AWS returns: the raw key plus 22 bytes of DER. */
const DSA_SPKI_BYTES = { ML_DSA_44: 1334, ML_DSA_65: 1974, ML_DSA_87: 2614 } as const
const KEM_SPKI_BYTES = { ML_KEM_512: 822, ML_KEM_768: 1206, ML_KEM_1024: 1590 } as const
const KEM_CIPHERTEXT_BYTES = { ML_KEM_512: 768, ML_KEM_768: 1088, ML_KEM_1024: 1568 } as const

let partition: RunningPartition
const kms: Record<string, KMSClient> = {}

before(async () => {
  partition = await startPartition({ regions: [US, EU], extraArgs: ['--reconcile-interval-ms', '500'], timeoutMs: 60_000 })
  kms[US] = kmsClient(partition, US)
  kms[EU] = kmsClient(partition, EU)
})
after(async () => {
  await stopAllPartitions()
})

function client(region: string): KMSClient {
  return kms[region] ?? assert.fail(`no client for ${region}`)
}

type OpenSslRequest =
  | { op: 'mldsa_verify'; spki: string; message: string; signature: string }
  | { op: 'mlkem_encapsulate'; spki: string }
  | { op: 'mlkem_decapsulate'; pkcs8: string; ciphertext: string }
  | { op: 'public_key'; pkcs8: string }
type OpenSslResult = { valid?: boolean; ciphertext?: string; sharedSecret?: string; spki?: string; error?: string }

/** Runs requests through pyca/cryptography (OpenSSL); a missing python3 or cryptography is a failure, not a skip. */
function openssl(requests: OpenSslRequest[]): OpenSslResult[] {
  const run = spawnSync('python3', [SCRIPT], { input: JSON.stringify(requests), encoding: 'utf8', timeout: 120_000 })
  assert.equal(run.status, 0, `pq_openssl.py failed: ${run.stderr}`)
  const results = JSON.parse(run.stdout) as OpenSslResult[]
  assert.equal(results.length, requests.length)
  for (const result of results) assert.equal(result.error, undefined, result.error)
  return results
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

async function createKey(region: string, spec: KeySpec, usage: KeyUsageType, multiRegion = false): Promise<string> {
  const created = await client(region).send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage, MultiRegion: multiRegion }))
  return created.KeyMetadata?.KeyId ?? assert.fail('no key id')
}

async function publicKeyOf(region: string, keyId: string): Promise<Buffer> {
  const out = await client(region).send(new GetPublicKeyCommand({ KeyId: keyId }))
  return Buffer.from(out.PublicKey ?? assert.fail('no public key'))
}

function shake256(outputLength: number, ...parts: Uint8Array[]): Buffer {
  const hash = createHash('shake256', { outputLength })
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/** μ of pure ML-DSA with an empty context (FIPS 204 §6.2), computed from the public key alone. */
function externalMu(spki: Buffer, rawPublicKeyBytes: number, message: Uint8Array): Buffer {
  const pk = spki.subarray(spki.length - rawPublicKeyBytes)
  return shake256(64, shake256(64, pk), Buffer.of(0, 0), message)
}

async function sign(
  region: string,
  keyId: string,
  algorithm: 'ML_DSA_SHAKE_256' | 'ED25519_SHA_512' | 'ED25519_PH_SHA_512',
  messageType: 'RAW' | 'DIGEST' | 'EXTERNAL_MU',
  message: Uint8Array,
): Promise<Uint8Array> {
  const out = await client(region).send(
    new SignCommand({ KeyId: keyId, SigningAlgorithm: algorithm, MessageType: messageType, Message: message }),
  )
  assert.equal(out.SigningAlgorithm, algorithm)
  return out.Signature ?? assert.fail('no signature')
}

/** The same request as Sign and as Verify (with a placeholder signature): AWS checks both alike. */
function signAndVerify(region: string, input: SignCommandInput): Array<() => Promise<unknown>> {
  return [
    () => client(region).send(new SignCommand(input)),
    () => client(region).send(new VerifyCommand({ ...input, Signature: new Uint8Array(64) })),
  ]
}

describe('ML-DSA keys', () => {
  for (const spec of ML_DSA) {
    it(`${spec}: CreateKey, DescribeKey, GetPublicKey; RAW and EXTERNAL_MU signatures verify in OpenSSL and in Trent`, async () => {
      const keyId = await createKey(US, spec, 'SIGN_VERIFY')
      const described = await client(US).send(new DescribeKeyCommand({ KeyId: keyId }))
      assert.equal(described.KeyMetadata?.KeySpec, spec)
      assert.deepEqual(described.KeyMetadata?.SigningAlgorithms, ['ML_DSA_SHAKE_256'])
      const got = await client(US).send(new GetPublicKeyCommand({ KeyId: keyId }))
      assert.deepEqual(got.SigningAlgorithms, ['ML_DSA_SHAKE_256'])
      assert.equal(got.KeyUsage, 'SIGN_VERIFY')
      const spki = Buffer.from(got.PublicKey ?? [])
      assert.equal(spki.length, DSA_SPKI_BYTES[spec])

      const message = Buffer.from(`interop message for ${spec}`)
      const raw = await sign(US, keyId, 'ML_DSA_SHAKE_256', 'RAW', message)
      assert.equal(raw.length, DSA_SIGNATURE_BYTES[spec])
      const mu = externalMu(spki, DSA_SPKI_BYTES[spec] - 22, message)
      const external = await sign(US, keyId, 'ML_DSA_SHAKE_256', 'EXTERNAL_MU', mu)
      const max = Buffer.alloc(4096, 0x41)
      const longest = await sign(US, keyId, 'ML_DSA_SHAKE_256', 'RAW', max)
      const [rawValid, externalValid, longestValid, wrongMessage] = openssl([
        { op: 'mldsa_verify', spki: hex(spki), message: hex(message), signature: hex(raw) },
        { op: 'mldsa_verify', spki: hex(spki), message: hex(message), signature: hex(external) },
        { op: 'mldsa_verify', spki: hex(spki), message: hex(max), signature: hex(longest) },
        { op: 'mldsa_verify', spki: hex(spki), message: hex(Buffer.from('another message')), signature: hex(raw) },
      ])
      assert.equal(rawValid?.valid, true)
      assert.equal(externalValid?.valid, true)
      assert.equal(longestValid?.valid, true)
      assert.equal(wrongMessage?.valid, false)

      for (const [messageType, payload] of [
        ['RAW', message],
        ['EXTERNAL_MU', mu],
      ] as const) {
        for (const signature of [raw, external]) {
          const verified = await client(US).send(
            new VerifyCommand({
              KeyId: keyId,
              SigningAlgorithm: 'ML_DSA_SHAKE_256',
              MessageType: messageType,
              Message: payload,
              Signature: signature,
            }),
          )
          assert.equal(verified.SignatureValid, true)
        }
      }
      const tampered = Buffer.from(raw)
      tampered[100] = (tampered[100] ?? 0) ^ 0x01
      await rejectsWith(
        client(US).send(new VerifyCommand({ KeyId: keyId, SigningAlgorithm: 'ML_DSA_SHAKE_256', Message: message, Signature: tampered })),
        'KMSInvalidSignatureException',
      )
    })
  }

  it('refuses DIGEST, a μ of the wrong length, a message over 4096 bytes and another algorithm, with AWS errors', async () => {
    const keyId = await createKey(US, 'ML_DSA_44', 'SIGN_VERIFY')
    const digest = createHash('sha256').update('m').digest()
    const base = { KeyId: keyId, SigningAlgorithm: 'ML_DSA_SHAKE_256' as const }
    for (const [input, name, message] of [
      [
        { ...base, MessageType: 'DIGEST', Message: digest },
        'ValidationException',
        'Message type DIGEST is incompatible with key spec ML_DSA_44.',
      ],
      [
        { ...base, MessageType: 'EXTERNAL_MU', Message: new Uint8Array(63) },
        'ValidationException',
        'Digest is invalid length for algorithm ML_DSA_SHAKE_256.',
      ],
      [{ ...base, MessageType: 'RAW', Message: new Uint8Array(4097) }, 'ValidationException', undefined],
      [
        { ...base, SigningAlgorithm: 'ECDSA_SHA_256', Message: digest },
        'InvalidKeyUsageException',
        'Algorithm ECDSA_SHA_256 is incompatible with key spec ML_DSA_44.',
      ],
    ] as const) {
      for (const call of signAndVerify(US, input)) await rejectsWith(call(), name, message)
    }
    // EXTERNAL_MU is for ML-DSA only.
    const ecKey = await createKey(US, 'ECC_NIST_P256', 'SIGN_VERIFY')
    await rejectsWith(
      client(US).send(
        new SignCommand({ KeyId: ecKey, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'EXTERNAL_MU', Message: new Uint8Array(64) }),
      ),
      'ValidationException',
      'Message type EXTERNAL_MU is incompatible with key spec ECC_NIST_P256.',
    )
    await rejectsWith(
      client(US).send(new CreateKeyCommand({ KeySpec: 'ML_DSA_65', KeyUsage: 'ENCRYPT_DECRYPT' })),
      'ValidationException',
      'KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ML_DSA_65',
    )
  })
})

describe('Ed25519 keys', () => {
  it('ED25519_SHA_512 over RAW verifies in node:crypto; ED25519_PH_SHA_512 over a SHA-512 DIGEST is Ed25519ph of that digest', async () => {
    const keyId = await createKey(US, 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY')
    const described = await client(US).send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.deepEqual(described.KeyMetadata?.SigningAlgorithms, ['ED25519_SHA_512', 'ED25519_PH_SHA_512'])
    assert.equal(described.KeyMetadata?.KeyAgreementAlgorithms, undefined)
    const spki = await publicKeyOf(US, keyId)
    assert.equal(spki.length, 44)
    const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' })
    assert.equal(publicKey.asymmetricKeyType, 'ed25519')

    const message = Buffer.from('an Ed25519 message')
    const pure = await sign(US, keyId, 'ED25519_SHA_512', 'RAW', message)
    assert.equal(pure.length, 64)
    assert.equal(nodeVerify(null, message, publicKey, pure), true)
    assert.equal(nodeVerify(null, Buffer.from('other'), publicKey, pure), false)

    const digest = createHash('sha512').update(message).digest()
    const prehashed = await sign(US, keyId, 'ED25519_PH_SHA_512', 'DIGEST', digest)
    assert.equal(prehashed.length, 64)
    assert.equal(ed25519ph.verify(prehashed, digest, spki.subarray(12)), true)
    assert.equal(nodeVerify(null, digest, publicKey, prehashed), false, 'not PureEdDSA of the digest')

    for (const [SigningAlgorithm, MessageType, Message, Signature] of [
      ['ED25519_SHA_512', 'RAW', message, pure],
      ['ED25519_PH_SHA_512', 'DIGEST', digest, prehashed],
    ] as const) {
      assert.equal(
        (await client(US).send(new VerifyCommand({ KeyId: keyId, SigningAlgorithm, MessageType, Message, Signature }))).SignatureValid,
        true,
      )
    }
    await rejectsWith(
      client(US).send(new VerifyCommand({ KeyId: keyId, SigningAlgorithm: 'ED25519_SHA_512', Message: digest, Signature: pure })),
      'KMSInvalidSignatureException',
    )
  })

  it('refuses the other message type of each algorithm, a digest of the wrong length, ECDSA and KEY_AGREEMENT, with AWS errors', async () => {
    const keyId = await createKey(US, 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY')
    const digest = createHash('sha512').update('m').digest()
    for (const [input, name, message] of [
      [
        { SigningAlgorithm: 'ED25519_SHA_512', MessageType: 'DIGEST', Message: digest },
        'ValidationException',
        'Message type DIGEST is incompatible with algorithm ED25519_SHA_512.',
      ],
      [
        { SigningAlgorithm: 'ED25519_PH_SHA_512', MessageType: 'RAW', Message: digest },
        'ValidationException',
        'Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.',
      ],
      [
        { SigningAlgorithm: 'ED25519_PH_SHA_512', MessageType: 'DIGEST', Message: digest.subarray(0, 32) },
        'ValidationException',
        'Digest is invalid length for algorithm ED25519_PH_SHA_512.',
      ],
      [
        { SigningAlgorithm: 'ED25519_SHA_512', MessageType: 'EXTERNAL_MU', Message: new Uint8Array(64) },
        'ValidationException',
        'Message type EXTERNAL_MU is incompatible with algorithm ED25519_SHA_512.',
      ],
      [
        { SigningAlgorithm: 'ECDSA_SHA_512', MessageType: 'RAW', Message: digest },
        'InvalidKeyUsageException',
        'Algorithm ECDSA_SHA_512 is incompatible with key spec ECC_NIST_EDWARDS25519.',
      ],
    ] as const) {
      for (const call of signAndVerify(US, { KeyId: keyId, ...input })) await rejectsWith(call(), name, message)
    }
    await rejectsWith(
      client(US).send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'KEY_AGREEMENT' })),
      'ValidationException',
    )
  })
})

describe('ML-KEM keys', () => {
  for (const spec of ML_KEM) {
    it(`${spec}: a secret encapsulated outside Trent decapsulates to the same secret; Encapsulate and Decapsulate agree`, async () => {
      const keyId = await createKey(US, spec, 'ENCAPSULATE_DECAPSULATE')
      const described = await client(US).send(new DescribeKeyCommand({ KeyId: keyId }))
      assert.equal(described.KeyMetadata?.KeyUsage, 'ENCAPSULATE_DECAPSULATE')
      assert.deepEqual(described.KeyMetadata?.EncapsulationAlgorithms, ['ML_KEM'])
      assert.equal(described.KeyMetadata?.SigningAlgorithms, undefined)
      const got = await client(US).send(new GetPublicKeyCommand({ KeyId: keyId }))
      assert.deepEqual(got.EncapsulationAlgorithms, ['ML_KEM'])
      const spki = Buffer.from(got.PublicKey ?? [])
      assert.equal(spki.length, KEM_SPKI_BYTES[spec])

      const outside = encapsulateOutsideFor(spec, spki)
      const decapsulated = await client(US).send(
        new DecapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM', SharedSecretCiphertextBlob: outside.ciphertext }),
      )
      assert.deepEqual(Buffer.from(decapsulated.SharedSecret ?? []), outside.sharedSecret)
      assert.equal(decapsulated.EncapsulationAlgorithm, 'ML_KEM')
      assert.match(decapsulated.KeyId ?? '', /^arn:aws:kms:us-east-1:111122223333:key\//)

      const inside = await client(US).send(new EncapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM' }))
      assert.equal(inside.SharedSecret?.length, 32)
      assert.equal(inside.SharedSecretCiphertextBlob?.length, KEM_CIPHERTEXT_BYTES[spec])
      assert.equal(inside.EncapsulationAlgorithm, 'ML_KEM')
      const opened = await client(US).send(
        new DecapsulateCommand({
          KeyId: keyId,
          EncapsulationAlgorithm: 'ML_KEM',
          SharedSecretCiphertextBlob: inside.SharedSecretCiphertextBlob,
        }),
      )
      assert.deepEqual(opened.SharedSecret, inside.SharedSecret)

      // Implicit rejection: an altered ciphertext gives a different 32-byte secret, not an error.
      const altered = Buffer.from(outside.ciphertext)
      altered[5] = (altered[5] ?? 0) ^ 0x80
      const rejected = await client(US).send(
        new DecapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM', SharedSecretCiphertextBlob: altered }),
      )
      assert.equal(rejected.SharedSecret?.length, 32)
      assert.notDeepEqual(Buffer.from(rejected.SharedSecret ?? []), outside.sharedSecret)
    })
  }

  it('GenerateDataKeyPair ML_KEM_768 and ML_KEM_1024: OpenSSL reads the private key, and the pair works outside Trent', async () => {
    const wrapping = (await client(US).send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key')
    for (const KeyPairSpec of ['ML_KEM_768', 'ML_KEM_1024'] as const) {
      const pair = await client(US).send(new GenerateDataKeyPairCommand({ KeyId: wrapping, KeyPairSpec }))
      assert.equal(pair.KeyPairSpec, KeyPairSpec)
      const pkcs8 = Buffer.from(pair.PrivateKeyPlaintext ?? [])
      const spki = Buffer.from(pair.PublicKey ?? [])
      const [derived] = openssl([{ op: 'public_key', pkcs8: hex(pkcs8) }])
      assert.equal(derived?.spki, hex(spki))
      const outside = encapsulateOutsideFor(KeyPairSpec, spki)
      const [opened] = openssl([{ op: 'mlkem_decapsulate', pkcs8: hex(pkcs8), ciphertext: hex(outside.ciphertext) }])
      assert.equal(opened?.sharedSecret, hex(outside.sharedSecret))
    }
  })

  it('refuses a ciphertext of the wrong length, other key usages both ways, DryRun and bad input, with AWS errors', async () => {
    const keyId = await createKey(US, 'ML_KEM_768', 'ENCAPSULATE_DECAPSULATE')
    const arn = `arn:aws:kms:us-east-1:111122223333:key/${keyId}`
    const decap = (blob: Uint8Array): DecapsulateCommand =>
      new DecapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM', SharedSecretCiphertextBlob: blob })
    await rejectsWith(client(US).send(decap(new Uint8Array(1087))), 'InvalidCiphertextException')
    await rejectsWith(client(US).send(decap(new Uint8Array(1568))), 'InvalidCiphertextException')
    await rejectsWith(client(US).send(decap(new Uint8Array(6145))), 'ValidationException')
    await rejectsWith(
      client(US).send(
        new DecapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM', SharedSecretCiphertextBlob: new Uint8Array(0) }),
      ),
      'ValidationException',
    )
    await rejectsWith(
      client(US).send(new EncapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM', DryRun: true })),
      'DryRunOperationException',
    )
    await rejectsWith(
      client(US).send(
        new DecapsulateCommand({
          KeyId: keyId,
          EncapsulationAlgorithm: 'ML_KEM',
          SharedSecretCiphertextBlob: new Uint8Array(1088),
          DryRun: true,
        }),
      ),
      'DryRunOperationException',
    )
    await rejectsWith(
      client(US).send(new EncapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'RSAES_OAEP_SHA_256' as 'ML_KEM' })),
      'ValidationException',
    )
    await rejectsWith(
      client(US).send(new EncapsulateCommand({ KeyId: keyId } as { KeyId: string; EncapsulationAlgorithm: 'ML_KEM' })),
      'ValidationException',
    )
    // An ML-KEM key neither signs nor encrypts ...
    await rejectsWith(
      client(US).send(new SignCommand({ KeyId: keyId, SigningAlgorithm: 'ML_DSA_SHAKE_256', Message: new Uint8Array(1) })),
      'InvalidKeyUsageException',
      `${arn} key usage is ENCAPSULATE_DECAPSULATE which is not valid for Sign.`,
    )
    // ... and no other key encapsulates.
    for (const [spec, usage] of [
      ['ML_DSA_44', 'SIGN_VERIFY'],
      ['ECC_NIST_P256', 'KEY_AGREEMENT'],
      ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT'],
    ] as const) {
      const other = await createKey(US, spec, usage)
      const otherArn = `arn:aws:kms:us-east-1:111122223333:key/${other}`
      await rejectsWith(
        client(US).send(new EncapsulateCommand({ KeyId: other, EncapsulationAlgorithm: 'ML_KEM' })),
        'InvalidKeyUsageException',
        `${otherArn} key usage is ${usage} which is not valid for Encapsulate.`,
      )
      await rejectsWith(
        client(US).send(
          new DecapsulateCommand({ KeyId: other, EncapsulationAlgorithm: 'ML_KEM', SharedSecretCiphertextBlob: new Uint8Array(1088) }),
        ),
        'InvalidKeyUsageException',
        `${otherArn} key usage is ${usage} which is not valid for Decapsulate.`,
      )
    }
    await rejectsWith(
      client(US).send(new CreateKeyCommand({ KeySpec: 'ML_KEM_512', KeyUsage: 'SIGN_VERIFY' })),
      'ValidationException',
      'KeyUsage SIGN_VERIFY is not compatible with KeySpec ML_KEM_512',
    )
    // Grants: Encapsulate and Decapsulate on an ML-KEM key, not on a signing key.
    const grantee = 'arn:aws:iam::111122223333:user/grantee'
    await client(US).send(
      new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: grantee, Operations: ['Encapsulate', 'Decapsulate', 'GetPublicKey'] }),
    )
    const signing = await createKey(US, 'ML_DSA_44', 'SIGN_VERIFY')
    await rejectsWith(
      client(US).send(new CreateGrantCommand({ KeyId: signing, GranteePrincipal: grantee, Operations: ['Decapsulate'] })),
      'ValidationException',
    )
  })
})

describe('multi-Region keys of the new specs', () => {
  async function replicated(spec: KeySpec, usage: KeyUsageType): Promise<string> {
    const keyId = await createKey(US, spec, usage, true)
    assert.match(keyId, /^mrk-/)
    await client(US).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: EU }))
    await waitFor(
      `the ${spec} replica to be Enabled`,
      // NotFoundException until the replica's creation reaches the other region.
      async () => {
        const state = await client(EU)
          .send(new DescribeKeyCommand({ KeyId: keyId }))
          .then((out) => out.KeyMetadata?.KeyState)
          .catch((err: unknown) => (err instanceof Error && err.name === 'NotFoundException' ? undefined : Promise.reject(err)))
        return state === 'Enabled' ? true : undefined
      },
      SYNC,
    )
    // The same key pair in both regions.
    assert.deepEqual(await publicKeyOf(EU, keyId), await publicKeyOf(US, keyId))
    return keyId
  }

  for (const spec of ML_DSA) {
    it(`${spec}: signed in one region, verified in the other (and in OpenSSL with the other region's public key)`, async () => {
      const keyId = await replicated(spec, 'SIGN_VERIFY')
      const message = Buffer.from(`multi-Region ${spec}`)
      const fromUs = await sign(US, keyId, 'ML_DSA_SHAKE_256', 'RAW', message)
      assert.equal(
        (
          await client(EU).send(
            new VerifyCommand({ KeyId: keyId, SigningAlgorithm: 'ML_DSA_SHAKE_256', Message: message, Signature: fromUs }),
          )
        ).SignatureValid,
        true,
      )
      const euSpki = await publicKeyOf(EU, keyId)
      const mu = externalMu(euSpki, DSA_SPKI_BYTES[spec] - 22, message)
      const fromEu = await sign(EU, keyId, 'ML_DSA_SHAKE_256', 'EXTERNAL_MU', mu)
      assert.equal(
        (
          await client(US).send(
            new VerifyCommand({ KeyId: keyId, SigningAlgorithm: 'ML_DSA_SHAKE_256', Message: message, Signature: fromEu }),
          )
        ).SignatureValid,
        true,
      )
      const [valid] = openssl([{ op: 'mldsa_verify', spki: hex(euSpki), message: hex(message), signature: hex(fromUs) }])
      assert.equal(valid?.valid, true)
    })
  }

  it('ECC_NIST_EDWARDS25519: both algorithms signed in one region, verified in the other', async () => {
    const keyId = await replicated('ECC_NIST_EDWARDS25519', 'SIGN_VERIFY')
    const message = Buffer.from('multi-Region Ed25519')
    const digest = createHash('sha512').update(message).digest()
    const pure = await sign(US, keyId, 'ED25519_SHA_512', 'RAW', message)
    const prehashed = await sign(EU, keyId, 'ED25519_PH_SHA_512', 'DIGEST', digest)
    assert.equal(
      (await client(EU).send(new VerifyCommand({ KeyId: keyId, SigningAlgorithm: 'ED25519_SHA_512', Message: message, Signature: pure })))
        .SignatureValid,
      true,
    )
    assert.equal(
      (
        await client(US).send(
          new VerifyCommand({
            KeyId: keyId,
            SigningAlgorithm: 'ED25519_PH_SHA_512',
            MessageType: 'DIGEST',
            Message: digest,
            Signature: prehashed,
          }),
        )
      ).SignatureValid,
      true,
    )
    const euKey = createPublicKey({ key: await publicKeyOf(EU, keyId), format: 'der', type: 'spki' })
    assert.equal(nodeVerify(null, message, euKey, pure), true)
  })

  for (const spec of ML_KEM) {
    it(`${spec}: encapsulated against one region's public key, decapsulated in the other`, async () => {
      const keyId = await replicated(spec, 'ENCAPSULATE_DECAPSULATE')
      const outside = encapsulateOutsideFor(spec, await publicKeyOf(US, keyId))
      const inEu = await client(EU).send(
        new DecapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM', SharedSecretCiphertextBlob: outside.ciphertext }),
      )
      assert.deepEqual(Buffer.from(inEu.SharedSecret ?? []), outside.sharedSecret)
      const fromEu = await client(EU).send(new EncapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM' }))
      const inUs = await client(US).send(
        new DecapsulateCommand({
          KeyId: keyId,
          EncapsulationAlgorithm: 'ML_KEM',
          SharedSecretCiphertextBlob: fromEu.SharedSecretCiphertextBlob,
        }),
      )
      assert.deepEqual(inUs.SharedSecret, fromEu.SharedSecret)
    })
  }
})

/** Encapsulation outside Trent against a SubjectPublicKeyInfo: OpenSSL, or noble for ML-KEM-512 (OpenSSL has none). */
function encapsulateOutsideFor(spec: (typeof ML_KEM)[number], spki: Buffer): { ciphertext: Buffer; sharedSecret: Buffer } {
  if (spec === 'ML_KEM_512') {
    const { cipherText, sharedSecret } = ml_kem512.encapsulate(spki.subarray(spki.length - 800))
    return { ciphertext: Buffer.from(cipherText), sharedSecret: Buffer.from(sharedSecret) }
  }
  const [result] = openssl([{ op: 'mlkem_encapsulate', spki: hex(spki) }])
  return { ciphertext: Buffer.from(result?.ciphertext ?? '', 'hex'), sharedSecret: Buffer.from(result?.sharedSecret ?? '', 'hex') }
}
