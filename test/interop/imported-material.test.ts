/**
 * Imported key material through the AWS SDK: the whole flow with each wrapping
 * algorithm, done the way a user does it (wrap locally with the public key from
 * GetParametersForImport), expiry, deletion, re-import, and every refusal.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes, verify as nodeVerify } from 'node:crypto'
import { after, before, test } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  SignCommand,
  type AlgorithmSpec,
  type KMSClient,
  type KeySpec,
  type KeyUsageType,
  type WrappingKeySpec,
} from '@aws-sdk/client-kms'
import { expireImportedMaterial } from '../../src/kms/imported-material.js'
import { wrapForImport } from '../helpers/import-wrap.js'
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

const DAY_S = 86_400

async function createExternalKey(spec: KeySpec = 'SYMMETRIC_DEFAULT', usage: KeyUsageType = 'ENCRYPT_DECRYPT'): Promise<string> {
  const created = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: spec, KeyUsage: usage }))
  assert.equal(created.KeyMetadata?.KeyState, 'PendingImport')
  assert.equal(created.KeyMetadata?.Origin, 'EXTERNAL')
  return created.KeyMetadata?.KeyId ?? assert.fail('no key id')
}

async function importInto(
  keyId: string,
  material: Uint8Array,
  algorithm: AlgorithmSpec = 'RSAES_OAEP_SHA_256',
  spec: WrappingKeySpec = 'RSA_2048',
  expires = false,
): Promise<string> {
  const parameters = await kms.send(
    new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: spec }),
  )
  const imported = await kms.send(
    new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken: parameters.ImportToken,
      EncryptedKeyMaterial: wrapForImport(parameters.PublicKey ?? new Uint8Array(), algorithm, material),
      ...(expires
        ? { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(region.clock.now() + 2 * DAY_S * 1000) }
        : { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    }),
  )
  return imported.KeyMaterialId ?? assert.fail('no key material id')
}

async function roundTrips(keyId: string): Promise<void> {
  const encrypted = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('imported') }))
  const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
  assert.equal(Buffer.from(decrypted.Plaintext ?? []).toString(), 'imported')
}

for (const algorithm of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'] as const) {
  test(`import symmetric material wrapped with ${algorithm}`, async () => {
    const keyId = await createExternalKey()
    await assert.rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), (err: Error) => {
      assert.equal(err.name, 'KMSInvalidStateException')
      assert.match(err.message, /is pending import\.$/)
      return true
    })
    const parameters = await kms.send(
      new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: 'RSA_2048' }),
    )
    const validTo = parameters.ParametersValidTo?.getTime() ?? 0
    assert.ok(Math.abs(validTo - (region.clock.now() + DAY_S * 1000)) < 5000, 'parameters are good for 24 hours')
    const material = randomBytes(32)
    const materialId = await importInto(keyId, material, algorithm)
    assert.match(materialId, /^[0-9a-f]{64}$/)
    const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(described.KeyMetadata?.KeyState, 'Enabled')
    assert.equal(described.KeyMetadata?.ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE')
    assert.equal(described.KeyMetadata?.CurrentKeyMaterialId, materialId)
    await roundTrips(keyId)
    // The same material again (re-import) is fine and has the same id; other material is not.
    assert.equal(await importInto(keyId, material, algorithm), materialId)
    await assert.rejects(importInto(keyId, randomBytes(32), algorithm), { name: 'IncorrectKeyMaterialException' })
  })
}

test('a 4096-bit wrapping key works too', async () => {
  const keyId = await createExternalKey()
  await importInto(keyId, randomBytes(32), 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_4096')
  await roundTrips(keyId)
})

test('import tokens: expired, for another key, altered, or a wrapping that does not open', async () => {
  const keyId = await createExternalKey()
  const other = await createExternalKey()
  const material = randomBytes(32)
  const parameters = await kms.send(
    new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }),
  )
  const wrapped = wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_256', material)
  const base = {
    ImportToken: parameters.ImportToken,
    EncryptedKeyMaterial: wrapped,
    ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
  } as const
  await assert.rejects(kms.send(new ImportKeyMaterialCommand({ ...base, KeyId: other })), { name: 'InvalidImportTokenException' })
  const altered = Buffer.from(parameters.ImportToken ?? [])
  altered[altered.length - 20] = (altered[altered.length - 20] ?? 0) ^ 1
  await assert.rejects(kms.send(new ImportKeyMaterialCommand({ ...base, KeyId: keyId, ImportToken: altered })), {
    name: 'InvalidImportTokenException',
  })
  const garbage = Buffer.from(wrapped)
  garbage[5] = (garbage[5] ?? 0) ^ 1
  await assert.rejects(kms.send(new ImportKeyMaterialCommand({ ...base, KeyId: keyId, EncryptedKeyMaterial: garbage })), {
    name: 'InvalidCiphertextException',
  })
  // Material of the wrong size for the key spec.
  const short = wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_256', randomBytes(16))
  await assert.rejects(kms.send(new ImportKeyMaterialCommand({ ...base, KeyId: keyId, EncryptedKeyMaterial: short })), {
    name: 'IncorrectKeyMaterialException',
  })
  // A day later the token has expired, by the region's clock.
  region.clock.advance((DAY_S + 1) * 1000)
  await assert.rejects(kms.send(new ImportKeyMaterialCommand({ ...base, KeyId: keyId })), { name: 'ExpiredImportTokenException' })
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'PendingImport')
})

test('ValidTo: required with KEY_MATERIAL_EXPIRES; when it passes the key goes back to PendingImport; re-import brings it back', async () => {
  const keyId = await createExternalKey()
  const material = randomBytes(32)
  const parameters = await kms.send(
    new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' }),
  )
  const wrapped = wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_1', material)
  await assert.rejects(
    kms.send(
      new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: parameters.ImportToken,
        EncryptedKeyMaterial: wrapped,
        ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      }),
    ),
    (err: Error) =>
      err.name === 'ValidationException' && err.message === 'A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES',
  )
  await importInto(keyId, material, 'RSAES_OAEP_SHA_1', 'RSA_2048', true)
  const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }))
  assert.equal(described.KeyMetadata?.ExpirationModel, 'KEY_MATERIAL_EXPIRES')
  assert.ok(described.KeyMetadata?.ValidTo instanceof Date)
  const ciphertext = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('before expiry') }))).CiphertextBlob
  region.clock.advance(3 * DAY_S * 1000)
  assert.deepEqual(await expireImportedMaterial(region.kms), [keyId])
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'PendingImport')
  await assert.rejects(kms.send(new DecryptCommand({ CiphertextBlob: ciphertext })), { name: 'KMSInvalidStateException' })
  await importInto(keyId, material)
  const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
  assert.equal(Buffer.from(decrypted.Plaintext ?? []).toString(), 'before expiry', 'the same material decrypts what it encrypted before')
})

test('DeleteImportedKeyMaterial: back to PendingImport, only the same material may return', async () => {
  const keyId = await createExternalKey()
  const material = randomBytes(32)
  const materialId = await importInto(keyId, material)
  const deleted = await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }))
  assert.equal(deleted.KeyMaterialId, materialId)
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'PendingImport')
  // Deleting again, in PendingImport, has no effect and no error.
  await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }))
  await assert.rejects(importInto(keyId, randomBytes(32)), { name: 'IncorrectKeyMaterialException' })
  assert.equal(await importInto(keyId, material), materialId)
  await roundTrips(keyId)
})

test("import operations on a key of AWS_KMS origin are refused with AWS's message", async () => {
  const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
  await assert.rejects(
    kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })),
    (err: Error) =>
      err.name === 'UnsupportedOperationException' &&
      err.message.endsWith(`key/${keyId} origin is AWS_KMS which is not valid for this operation.`),
  )
  await assert.rejects(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId })), { name: 'UnsupportedOperationException' })
})

test('asymmetric and HMAC material can be imported: signatures verify with the imported public key', async () => {
  const local = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const keyId = await createExternalKey('ECC_NIST_P256', 'SIGN_VERIFY')
  await importInto(keyId, local.privateKey.export({ type: 'pkcs8', format: 'der' }), 'RSA_AES_KEY_WRAP_SHA_256')
  const message = Buffer.from('signed with imported material')
  const signed = await kms.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }))
  assert.ok(nodeVerify('sha256', message, local.publicKey, signed.Signature ?? new Uint8Array()))
  // An RSA private key is not P-256 material.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const other = await createExternalKey('ECC_NIST_P256', 'SIGN_VERIFY')
  await assert.rejects(importInto(other, rsa.privateKey.export({ type: 'pkcs8', format: 'der' }), 'RSA_AES_KEY_WRAP_SHA_256'), {
    name: 'IncorrectKeyMaterialException',
  })

  const hmac = await createExternalKey('HMAC_256', 'GENERATE_VERIFY_MAC')
  const hmacKey = randomBytes(32)
  await importInto(hmac, hmacKey)
  const mac = await kms.send(new GenerateMacCommand({ KeyId: hmac, Message: message, MacAlgorithm: 'HMAC_SHA_256' }))
  const { createHmac } = await import('node:crypto')
  assert.deepEqual(Buffer.from(mac.Mac ?? []), createHmac('sha256', hmacKey).update(message).digest())
})
