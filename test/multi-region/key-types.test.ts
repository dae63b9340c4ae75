/**
 * Every key type as a multi-Region key: replicas hold the same private key or HMAC key
 * (public keys, signatures and MACs identical across regions, ciphertexts of one region
 * decrypt in another), and imported material, which is never transported: each region
 * imports the same bytes itself, and other bytes are refused.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import {
  CreateKeyCommand,
  DecapsulateCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncapsulateCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
  type KeySpec,
  type KeyUsageType,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { readFileSync } from 'node:fs'
import { startInMemoryPartition, type InMemoryPartition } from '../helpers/in-memory-partition.js'
import { wrapForImport } from '../helpers/import-wrap.js'

const A = 'us-east-1'
const B = 'eu-west-1'
const C = 'ap-southeast-2'
let p: InMemoryPartition

before(async () => {
  p = await startInMemoryPartition([A, B, C])
})
after(async () => {
  await p.close()
})

function client(region: string): KMSClient {
  return p.region(region).client()
}

async function replicatedKey(spec: KeySpec, usage: KeyUsageType, origin: 'AWS_KMS' | 'EXTERNAL' = 'AWS_KMS'): Promise<string> {
  const created = await client(A).send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage, MultiRegion: true, Origin: origin }))
  const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
  return keyId
}

async function replicate(keyId: string, ...regions: string[]): Promise<void> {
  for (const region of regions) await client(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: region }))
  await p.settle()
}

async function stateIn(region: string, keyId: string): Promise<string | undefined> {
  return (await client(region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState
}

for (const spec of ['RSA_2048', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_SECG_P256K1'] as const) {
  test(`${spec} multi-Region key: same public key in every region; a signature made in one verifies in the others`, async () => {
    const keyId = await replicatedKey(spec, 'SIGN_VERIFY')
    await replicate(keyId, B, C)
    const algorithm = spec === 'RSA_2048' ? 'RSASSA_PSS_SHA_256' : spec === 'ECC_NIST_P384' ? 'ECDSA_SHA_384' : 'ECDSA_SHA_256'
    const publicKeys = new Set<string>()
    for (const region of [A, B, C]) {
      assert.equal(await stateIn(region, keyId), 'Enabled')
      const described = await client(region).send(new DescribeKeyCommand({ KeyId: keyId }))
      assert.equal(described.KeyMetadata?.KeySpec, spec)
      assert.equal(described.KeyMetadata?.KeyUsage, 'SIGN_VERIFY')
      const out = await client(region).send(new GetPublicKeyCommand({ KeyId: keyId }))
      publicKeys.add(Buffer.from(out.PublicKey ?? []).toString('base64'))
    }
    assert.equal(publicKeys.size, 1, 'one public key across the related keys')
    const message = Buffer.from('signed in one region, verified in another')
    for (const signer of [A, B, C]) {
      const signed = await client(signer).send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: algorithm }))
      for (const verifier of [A, B, C]) {
        const verified = await client(verifier).send(
          new VerifyCommand({ KeyId: keyId, Message: message, Signature: signed.Signature, SigningAlgorithm: algorithm }),
        )
        assert.equal(verified.SignatureValid, true, `${signer} → ${verifier}`)
      }
    }
  })
}

test('RSA ENCRYPT_DECRYPT multi-Region key: a ciphertext of one region decrypts in another', async () => {
  const keyId = await replicatedKey('RSA_3072', 'ENCRYPT_DECRYPT')
  await replicate(keyId, B)
  const encrypted = await client(B).send(
    new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('cross-region'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }),
  )
  const decrypted = await client(A).send(
    new DecryptCommand({ KeyId: keyId, CiphertextBlob: encrypted.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }),
  )
  assert.equal(Buffer.from(decrypted.Plaintext ?? []).toString(), 'cross-region')
})

test('HMAC multi-Region key: identical MACs in every region', async () => {
  const keyId = await replicatedKey('HMAC_384', 'GENERATE_VERIFY_MAC')
  await replicate(keyId, B, C)
  const message = Buffer.from('mac everywhere')
  const macs = new Set<string>()
  for (const region of [A, B, C]) {
    const out = await client(region).send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_384' }))
    macs.add(Buffer.from(out.Mac ?? []).toString('base64'))
    await client(C === region ? A : C).send(
      new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: out.Mac, MacAlgorithm: 'HMAC_SHA_384' }),
    )
  }
  assert.equal(macs.size, 1)
})

test('asymmetric and HMAC keys are not rotated (AWS: symmetric encryption keys only)', async () => {
  const keyId = await replicatedKey('ECC_NIST_P256', 'SIGN_VERIFY')
  await assert.rejects(client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), { name: 'UnsupportedOperationException' })
})

async function importIn(region: string, keyId: string, material: Uint8Array): Promise<string> {
  const kms = client(region)
  const parameters = await kms.send(
    new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', WrappingKeySpec: 'RSA_2048' }),
  )
  const out = await kms.send(
    new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken: parameters.ImportToken,
      EncryptedKeyMaterial: wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSA_AES_KEY_WRAP_SHA_256', material),
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    }),
  )
  return out.KeyMaterialId ?? assert.fail('no material id')
}

test('imported material in a multi-Region key: nothing is transported; each region imports the same bytes, other bytes are refused', async () => {
  const keyId = await replicatedKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 'EXTERNAL')
  // A key still pending import cannot be replicated (key-state table, footnote 5).
  await assert.rejects(client(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B })), { name: 'KMSInvalidStateException' })
  const material = randomBytes(32)
  const materialId = await importIn(A, keyId, material)
  const deliveredBefore = p.deliveries.length
  await replicate(keyId, B, C)
  const sent = p.deliveries.slice(deliveredBefore)
  assert.ok(
    sent.some((d) => d.type === 'ReplicaCreate'),
    'the replicas were created',
  )
  const transfers = sent.filter((d) => d.type === 'AgreementOffer' || d.type === 'MaterialTransfer')
  assert.equal(transfers.length, 0, 'no material transfer for imported material')
  assert.equal(await stateIn(B, keyId), 'PendingImport')
  assert.equal(await stateIn(C, keyId), 'PendingImport')
  const ciphertext = (await client(A).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('imported, multi-Region') })))
    .CiphertextBlob
  await assert.rejects(client(B).send(new DecryptCommand({ CiphertextBlob: ciphertext })), { name: 'KMSInvalidStateException' })

  await assert.rejects(importIn(B, keyId, randomBytes(32)), { name: 'IncorrectKeyMaterialException' })
  assert.equal(await stateIn(B, keyId), 'PendingImport', 'a refused import changes nothing')
  assert.equal(await importIn(B, keyId, material), materialId)
  assert.equal(await stateIn(B, keyId), 'Enabled')
  const decrypted = await client(B).send(new DecryptCommand({ CiphertextBlob: ciphertext }))
  assert.equal(Buffer.from(decrypted.Plaintext ?? []).toString(), 'imported, multi-Region')
  // C still waits for its own import; B's import did nothing to it.
  assert.equal(await stateIn(C, keyId), 'PendingImport')
  const describedB = await client(B).send(new DescribeKeyCommand({ KeyId: keyId }))
  assert.equal(describedB.KeyMetadata?.Origin, 'EXTERNAL')
  assert.equal(describedB.KeyMetadata?.CurrentKeyMaterialId, materialId)
  assert.equal(describedB.KeyMetadata?.MultiRegionConfiguration?.MultiRegionKeyType, 'REPLICA')
})

test('imported asymmetric material in a multi-Region key: the replica signs with the same key once imported', async () => {
  const { generateKeyPairSync, verify } = await import('node:crypto')
  const local = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
  const pkcs8 = local.privateKey.export({ type: 'pkcs8', format: 'der' })
  const keyId = await replicatedKey('ECC_NIST_P384', 'SIGN_VERIFY', 'EXTERNAL')
  await importIn(A, keyId, pkcs8)
  await replicate(keyId, C)
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'der' })
  await assert.rejects(importIn(C, keyId, otherKey), { name: 'IncorrectKeyMaterialException' })
  await importIn(C, keyId, pkcs8)
  const message = Buffer.from('imported P-384, signed in the replica')
  const signed = await client(C).send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_384' }))
  assert.ok(verify('sha384', message, local.publicKey, signed.Signature ?? new Uint8Array()))
})

for (const [spec, algorithm, messageType, message] of [
  ['ECC_NIST_EDWARDS25519', 'ED25519_SHA_512', 'RAW', Buffer.from('Ed25519 in every region')],
  ['ECC_NIST_EDWARDS25519', 'ED25519_PH_SHA_512', 'DIGEST', Buffer.alloc(64, 0x11)],
  ['ML_DSA_65', 'ML_DSA_SHAKE_256', 'RAW', Buffer.from('ML-DSA in every region')],
  ['ML_DSA_87', 'ML_DSA_SHAKE_256', 'EXTERNAL_MU', Buffer.alloc(64, 0x22)],
] as const) {
  test(`${spec} multi-Region key (${algorithm}, ${messageType}): one public key; a signature made in one region verifies in the others`, async () => {
    const keyId = await replicatedKey(spec, 'SIGN_VERIFY')
    await replicate(keyId, B, C)
    const publicKeys = new Set<string>()
    for (const region of [A, B, C]) {
      assert.equal(await stateIn(region, keyId), 'Enabled')
      publicKeys.add(Buffer.from((await client(region).send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey ?? []).toString('base64'))
    }
    assert.equal(publicKeys.size, 1)
    for (const signer of [A, B, C]) {
      const signed = await client(signer).send(
        new SignCommand({ KeyId: keyId, Message: message, MessageType: messageType, SigningAlgorithm: algorithm }),
      )
      for (const verifier of [A, B, C]) {
        const verified = await client(verifier).send(
          new VerifyCommand({
            KeyId: keyId,
            Message: message,
            MessageType: messageType,
            Signature: signed.Signature,
            SigningAlgorithm: algorithm,
          }),
        )
        assert.equal(verified.SignatureValid, true, `${signer} → ${verifier}`)
      }
    }
  })
}

test('ML_KEM_1024 multi-Region key: a secret encapsulated in one region decapsulates in the others', async () => {
  const keyId = await replicatedKey('ML_KEM_1024', 'ENCAPSULATE_DECAPSULATE')
  await replicate(keyId, B, C)
  for (const encapsulator of [A, B, C]) {
    const out = await client(encapsulator).send(new EncapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM' }))
    for (const decapsulator of [A, B, C]) {
      const opened = await client(decapsulator).send(
        new DecapsulateCommand({
          KeyId: keyId,
          EncapsulationAlgorithm: 'ML_KEM',
          SharedSecretCiphertextBlob: out.SharedSecretCiphertextBlob,
        }),
      )
      assert.deepEqual(opened.SharedSecret, out.SharedSecret, `${encapsulator} → ${decapsulator}`)
    }
  }
})

// The IETF LAMPS example keys (test/vectors/lamps-example-keys.json): seed-form PKCS#8, as
// a user would import ML-DSA or ML-KEM material, with the SubjectPublicKeyInfo it must give.
const LAMPS = JSON.parse(readFileSync(new URL('../../../test/vectors/lamps-example-keys.json', import.meta.url), 'utf8')) as {
  keys: Array<{ keySpec: string; pkcs8: string; spki: string }>
}
function lampsKey(spec: string): { pkcs8: Buffer; spki: Buffer } {
  const key = LAMPS.keys.find((entry) => entry.keySpec === spec) ?? assert.fail(`no example key for ${spec}`)
  return { pkcs8: Buffer.from(key.pkcs8, 'hex'), spki: Buffer.from(key.spki, 'hex') }
}

test('imported ML-DSA and ML-KEM material in a multi-Region key: each region imports the same seed; another seed is refused', async () => {
  for (const [spec, usage, other] of [
    ['ML_DSA_44', 'SIGN_VERIFY', 'ML_DSA_65'],
    ['ML_KEM_768', 'ENCAPSULATE_DECAPSULATE', 'ML_KEM_512'],
  ] as const) {
    const { pkcs8, spki } = lampsKey(spec)
    const keyId = await replicatedKey(spec, usage, 'EXTERNAL')
    // Another parameter set's key is not this spec's material.
    await assert.rejects(importIn(A, keyId, lampsKey(other).pkcs8), { name: 'IncorrectKeyMaterialException' })
    await importIn(A, keyId, pkcs8)
    assert.deepEqual(Buffer.from((await client(A).send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey ?? []), spki)
    await replicate(keyId, B)
    const anotherSeed = Buffer.from(pkcs8)
    anotherSeed[anotherSeed.length - 1] = (anotherSeed[anotherSeed.length - 1] ?? 0) ^ 1
    await assert.rejects(importIn(B, keyId, anotherSeed), { name: 'IncorrectKeyMaterialException' })
    await importIn(B, keyId, pkcs8)
    assert.equal(await stateIn(B, keyId), 'Enabled')
    assert.deepEqual(Buffer.from((await client(B).send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey ?? []), spki)
    if (usage === 'SIGN_VERIFY') {
      const message = Buffer.from('imported ML-DSA, signed in the replica')
      const signed = await client(B).send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: 'ML_DSA_SHAKE_256' }))
      assert.equal(
        (
          await client(A).send(
            new VerifyCommand({ KeyId: keyId, Message: message, Signature: signed.Signature, SigningAlgorithm: 'ML_DSA_SHAKE_256' }),
          )
        ).SignatureValid,
        true,
      )
    } else {
      const out = await client(A).send(new EncapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM' }))
      const opened = await client(B).send(
        new DecapsulateCommand({
          KeyId: keyId,
          EncapsulationAlgorithm: 'ML_KEM',
          SharedSecretCiphertextBlob: out.SharedSecretCiphertextBlob,
        }),
      )
      assert.deepEqual(opened.SharedSecret, out.SharedSecret)
    }
  }
})
