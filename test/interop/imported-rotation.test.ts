/**
 * Rotation of imported key material through the AWS SDK (AWS: ImportKeyMaterial with
 * ImportType NEW_KEY_MATERIAL, then RotateKeyOnDemand): new material waits in
 * PENDING_ROTATION, becomes current on rotation, and every earlier material keeps
 * decrypting; ListKeyRotations' fields, KeyMaterialId in responses, deletion and expiry of
 * one material, every refusal, each checked with a key id and with a key ARN, and the
 * materials surviving a restart of the region's process.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  type ImportKeyMaterialCommandInput,
  type KMSClient,
  type KeySpec,
  type KeyUsageType,
  type RotationsListEntry,
} from '@aws-sdk/client-kms'
import { expireImportedMaterial } from '../../src/kms/imported-material.js'
import { wrapForImport } from '../helpers/import-wrap.js'
import { startInProcessRegion, type InProcessRegion } from '../helpers/in-process-region.js'
import { freePortRange } from '../helpers/partition.js'
import { startRegionProcess, type RegionProcess } from '../helpers/region-process.js'

let region: InProcessRegion
let kms: KMSClient

before(async () => {
  region = await startInProcessRegion({ port: await freePortRange(1) })
  kms = region.client()
})
after(async () => {
  await region.close()
})

const DAY_MS = 86_400_000
const ARN_PREFIX = 'arn:aws:kms:us-east-1:111122223333:key/'

async function createExternalKey(
  client: KMSClient = kms,
  spec: KeySpec = 'SYMMETRIC_DEFAULT',
  usage: KeyUsageType = 'ENCRYPT_DECRYPT',
): Promise<string> {
  const created = await client.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: spec, KeyUsage: usage }))
  return created.KeyMetadata?.KeyId ?? assert.fail('no key id')
}

type ImportOptions = Partial<
  Pick<ImportKeyMaterialCommandInput, 'ImportType' | 'KeyMaterialId' | 'KeyMaterialDescription' | 'ExpirationModel' | 'ValidTo'>
>

/** GetParametersForImport, wrap as a user does, ImportKeyMaterial; `keyRef` may be the key id or its ARN. */
async function importMaterial(keyRef: string, material: Uint8Array, options: ImportOptions = {}, client: KMSClient = kms): Promise<string> {
  const parameters = await client.send(
    new GetParametersForImportCommand({ KeyId: keyRef, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }),
  )
  const out = await client.send(
    new ImportKeyMaterialCommand({
      KeyId: keyRef,
      ImportToken: parameters.ImportToken,
      EncryptedKeyMaterial: wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_256', material),
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      ...options,
    }),
  )
  assert.equal(out.KeyId, ARN_PREFIX + keyRef.replace(ARN_PREFIX, ''), 'ImportKeyMaterial answers with the key ARN')
  return out.KeyMaterialId ?? assert.fail('no KeyMaterialId')
}

async function rotations(keyId: string, all: boolean, client: KMSClient = kms): Promise<RotationsListEntry[]> {
  const out = await client.send(new ListKeyRotationsCommand({ KeyId: keyId, ...(all ? { IncludeKeyMaterial: 'ALL_KEY_MATERIAL' } : {}) }))
  return out.Rotations ?? []
}

async function describe(keyId: string, client: KMSClient = kms) {
  return (await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata ?? assert.fail('no metadata')
}

async function encrypt(keyId: string, text: string, client: KMSClient = kms): Promise<Uint8Array> {
  return (
    (await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(text) }))).CiphertextBlob ?? assert.fail('no ciphertext')
  )
}

async function decrypt(ciphertext: Uint8Array, client: KMSClient = kms): Promise<{ text: string; materialId: string | undefined }> {
  const out = await client.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
  return { text: Buffer.from(out.Plaintext ?? []).toString(), materialId: out.KeyMaterialId }
}

/** The error a call fails with: its name and message. */
async function failure(work: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await work
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } }
    assert.ok((e.$metadata?.httpStatusCode ?? 0) < 500, `a client error, not ${e.$metadata?.httpStatusCode}: ${e.name} ${e.message}`)
    return { name: e.name, message: e.message }
  }
  return assert.fail('the call succeeded')
}

test('new imported material: PENDING_ROTATION until RotateKeyOnDemand, then current; old ciphertexts keep decrypting', async () => {
  const keyId = await createExternalKey()
  const first = randomBytes(32)
  // The first import needs no ImportType: it defaults to NEW_KEY_MATERIAL while nothing was ever imported.
  const id1 = await importMaterial(keyId, first, { KeyMaterialDescription: 'first' })
  assert.match(id1, /^[0-9a-f]{64}$/)
  const d1 = await describe(keyId)
  assert.equal(d1.KeyState, 'Enabled')
  assert.equal(d1.CurrentKeyMaterialId, id1)
  assert.deepEqual(await rotations(keyId, false), [], 'no rotation yet')
  const c1 = await encrypt(keyId, 'under the first material')

  const second = randomBytes(32)
  const validTo = new Date(region.clock.now() + 30 * DAY_MS)
  const id2 = await importMaterial(keyId, second, {
    ImportType: 'NEW_KEY_MATERIAL',
    KeyMaterialDescription: 'second',
    ExpirationModel: 'KEY_MATERIAL_EXPIRES',
    ValidTo: validTo,
  })
  assert.notEqual(id2, id1)
  assert.equal((await describe(keyId)).CurrentKeyMaterialId, id1, 'new material is not current before the rotation')
  const all = await rotations(keyId, true)
  assert.deepEqual(all, [
    {
      KeyId: keyId,
      KeyMaterialId: id1,
      KeyMaterialDescription: 'first',
      ImportState: 'IMPORTED',
      KeyMaterialState: 'CURRENT',
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    },
    {
      KeyId: keyId,
      KeyMaterialId: id2,
      KeyMaterialDescription: 'second',
      ImportState: 'IMPORTED',
      KeyMaterialState: 'PENDING_ROTATION',
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      ValidTo: validTo,
    },
  ])
  assert.deepEqual(await rotations(keyId, false), [], 'ROTATIONS_ONLY lists completed rotations only')
  assert.equal((await decrypt(await encrypt(keyId, 'still the first'))).materialId, id1, 'Encrypt keeps using the current material')

  const rotated = await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
  // The bare key id, as the API reference's example answers (not the ARN).
  assert.equal(rotated.KeyId, keyId)
  const d2 = await describe(keyId)
  assert.equal(d2.CurrentKeyMaterialId, id2)
  assert.equal(d2.KeyState, 'Enabled')
  // DescribeKey's ValidTo: the earliest expiry of the materials permanently associated with the key.
  assert.equal(d2.ExpirationModel, 'KEY_MATERIAL_EXPIRES')
  assert.equal(d2.ValidTo?.getTime(), validTo.getTime())
  const done = await rotations(keyId, false)
  assert.equal(done.length, 1)
  assert.equal(done[0]?.KeyMaterialId, id2)
  assert.equal(done[0]?.KeyMaterialState, 'CURRENT')
  assert.equal(done[0]?.RotationType, 'ON_DEMAND')
  assert.ok(done[0]?.RotationDate instanceof Date && Math.abs(done[0].RotationDate.getTime() - region.clock.now()) < 2000)
  const after = await rotations(keyId, true)
  assert.deepEqual(
    after.map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.RotationType]),
    [
      [id1, 'NON_CURRENT', undefined],
      [id2, 'CURRENT', 'ON_DEMAND'],
    ],
  )
  assert.equal(after[0]?.RotationDate, undefined, 'the first material has no rotation date')

  // Old and new ciphertexts, and KeyMaterialId in every response that has it.
  assert.deepEqual(await decrypt(c1), { text: 'under the first material', materialId: id1 })
  const c2 = await encrypt(keyId, 'under the second material')
  assert.deepEqual(await decrypt(c2), { text: 'under the second material', materialId: id2 })
  assert.equal((await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }))).KeyMaterialId, id2)
  assert.equal((await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, KeySpec: 'AES_256' }))).KeyMaterialId, id2)
  const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: c1, DestinationKeyId: keyId }))
  assert.equal(re.SourceKeyMaterialId, id1)
  assert.equal(re.DestinationKeyMaterialId, id2)
  assert.equal((await decrypt(re.CiphertextBlob ?? new Uint8Array())).text, 'under the first material')

  // A third material: the first two keep decrypting.
  const id3 = await importMaterial(keyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: ARN_PREFIX + keyId }))
  assert.equal((await describe(keyId)).CurrentKeyMaterialId, id3)
  assert.equal((await decrypt(c1)).text, 'under the first material')
  assert.equal((await decrypt(c2)).text, 'under the second material')
  assert.deepEqual(
    (await rotations(keyId, false)).map((r) => r.KeyMaterialId),
    [id2, id3],
  )

  // Re-importing an existing material (EXISTING_KEY_MATERIAL is the default now) keeps its
  // description unless a new one is given, and changes its expiry.
  assert.equal(await importMaterial(keyId, first, { KeyMaterialId: id1 }), id1)
  assert.equal((await rotations(keyId, true))[0]?.KeyMaterialDescription, 'first')
  // Without KeyMaterialId the material is recognised by its id, whichever version it is:
  // the token is sealed for its own version, so its ciphertexts still decrypt.
  assert.equal(await importMaterial(keyId, first, { KeyMaterialDescription: 'first again' }), id1)
  assert.equal((await rotations(keyId, true))[0]?.KeyMaterialDescription, 'first again')
  assert.deepEqual(await decrypt(c1), { text: 'under the first material', materialId: id1 })
  assert.equal((await describe(keyId)).CurrentKeyMaterialId, id3, 're-importing an old material does not make it current')
})

test('every misuse is refused with the same error whether the key is named by id or by ARN', async () => {
  const keyId = await createExternalKey()
  const material = randomBytes(32)
  const refs = [keyId, ARN_PREFIX + keyId]

  // Nothing imported yet: EXISTING_KEY_MATERIAL has nothing to match; nothing to rotate.
  for (const ref of refs) {
    assert.equal(
      (await failure(importMaterial(ref, material, { ImportType: 'EXISTING_KEY_MATERIAL' }))).name,
      'IncorrectKeyMaterialException',
    )
    assert.deepEqual(await failure(kms.send(new RotateKeyOnDemandCommand({ KeyId: ref }))), {
      name: 'KMSInvalidStateException',
      message: `${ARN_PREFIX}${keyId} is pending import.`,
    })
  }
  const id1 = await importMaterial(keyId, material)
  const outcomes = new Map<string, Array<{ name: string; message: string }>>()
  const record = (label: string, outcome: { name: string; message: string }): void => {
    outcomes.set(label, [...(outcomes.get(label) ?? []), outcome])
  }
  for (const ref of refs) {
    // Rotating with nothing pending.
    record('rotate, nothing pending', await failure(kms.send(new RotateKeyOnDemandCommand({ KeyId: ref }))))
    // The material already associated with the key is not new material.
    record('NEW with the existing material', await failure(importMaterial(ref, material, { ImportType: 'NEW_KEY_MATERIAL' })))
    // A KeyMaterialId with NEW_KEY_MATERIAL.
    record(
      'NEW with a KeyMaterialId',
      await failure(importMaterial(ref, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialId: id1 })),
    )
    // Other material as EXISTING_KEY_MATERIAL (the default after the first import).
    record('other material as existing', await failure(importMaterial(ref, randomBytes(32))))
    // A KeyMaterialId the key does not have, and one that is the key's but not this material's.
    record('unknown KeyMaterialId', await failure(importMaterial(ref, material, { KeyMaterialId: 'ab'.repeat(32) })))
    record('KeyMaterialId of other material', await failure(importMaterial(ref, randomBytes(32), { KeyMaterialId: id1 })))
    record(
      'delete an unknown KeyMaterialId',
      await failure(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: ref, KeyMaterialId: 'cd'.repeat(32) }))),
    )
  }
  const expected: Record<string, string> = {
    'rotate, nothing pending': 'KMSInvalidStateException',
    'NEW with the existing material': 'IncorrectKeyMaterialException',
    'NEW with a KeyMaterialId': 'ValidationException',
    'other material as existing': 'IncorrectKeyMaterialException',
    'unknown KeyMaterialId': 'IncorrectKeyMaterialException',
    'KeyMaterialId of other material': 'IncorrectKeyMaterialException',
    'delete an unknown KeyMaterialId': 'NotFoundException',
  }
  for (const [label, [byId, byArn]] of outcomes) {
    assert.equal(byId?.name, expected[label], `${label}: ${byId?.name} ${byId?.message}`)
    assert.deepEqual(byArn, byId, `${label}: the ARN gets the very answer the id gets`)
  }
  assert.equal(
    outcomes.get('rotate, nothing pending')?.[0]?.message,
    `No available key material pending rotation for the key: ${ARN_PREFIX}${keyId}.`,
  )

  // One material pending at a time: a second NEW import is refused, by id and by ARN alike.
  const id2 = await importMaterial(keyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })
  for (const ref of refs) {
    const third = randomBytes(32)
    const refused = await failure(importMaterial(ref, third, { ImportType: 'NEW_KEY_MATERIAL' }))
    assert.equal(refused.name, 'KMSInvalidStateException')
    assert.match(
      refused.message,
      new RegExp(
        `^New key material \\(id: [0-9a-f]{64}\\) cannot be imported into KMS key ${ARN_PREFIX}${keyId}, because another key material \\(id: ${id2}\\) is pending rotation\\.$`,
      ),
    )
  }
  assert.deepEqual(
    (await rotations(keyId, true)).map((r) => r.KeyMaterialState),
    ['CURRENT', 'PENDING_ROTATION'],
    'the refusals changed nothing',
  )

  // Rotation of keys that cannot have several materials, and of KMS-made keys without a pending import.
  const hmac = await createExternalKey(kms, 'HMAC_256', 'GENERATE_VERIFY_MAC')
  await importMaterial(hmac, randomBytes(32))
  for (const ref of [hmac, ARN_PREFIX + hmac]) {
    assert.equal(
      (await failure(importMaterial(ref, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' }))).name,
      'UnsupportedOperationException',
    )
    assert.equal((await failure(kms.send(new RotateKeyOnDemandCommand({ KeyId: ref })))).name, 'UnsupportedOperationException')
  }
  const kmsKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
  assert.deepEqual(await failure(importMaterial(kmsKey, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })), {
    name: 'UnsupportedOperationException',
    message: `${ARN_PREFIX}${kmsKey} origin is AWS_KMS which is not valid for this operation.`,
  })
})

test('DeleteImportedKeyMaterial by KeyMaterialId: an associated material sends the key to PendingImport; pending material is withdrawn', async () => {
  const keyId = await createExternalKey()
  const first = randomBytes(32)
  const second = randomBytes(32)
  const id1 = await importMaterial(keyId, first)
  const c1 = await encrypt(keyId, 'one')
  const id2 = await importMaterial(keyId, second, { ImportType: 'NEW_KEY_MATERIAL' })
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
  const c2 = await encrypt(keyId, 'two')

  // Deleting the non-current material: every material is needed for the key to be usable.
  const deleted = await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId, KeyMaterialId: id1 }))
  assert.equal(deleted.KeyMaterialId, id1)
  assert.equal(deleted.KeyId, ARN_PREFIX + keyId)
  assert.equal((await describe(keyId)).KeyState, 'PendingImport')
  assert.deepEqual(
    (await rotations(keyId, true)).map((r) => [r.KeyMaterialId, r.ImportState, r.KeyMaterialState]),
    [
      [id1, 'PENDING_IMPORT', 'NON_CURRENT'],
      [id2, 'IMPORTED', 'CURRENT'],
    ],
  )
  assert.equal((await failure(decrypt(c2))).name, 'KMSInvalidStateException')
  // Only that material brings it back.
  assert.equal((await failure(importMaterial(keyId, randomBytes(32), { KeyMaterialId: id1 }))).name, 'IncorrectKeyMaterialException')
  assert.equal(await importMaterial(keyId, first, { KeyMaterialId: id1 }), id1)
  assert.equal((await describe(keyId)).KeyState, 'Enabled')
  assert.equal((await decrypt(c1)).text, 'one')
  assert.equal((await decrypt(c2)).text, 'two')

  // Without KeyMaterialId the current material is deleted.
  assert.equal((await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }))).KeyMaterialId, id2)
  assert.equal((await describe(keyId)).KeyState, 'PendingImport')
  assert.equal((await describe(keyId)).ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE', 'the material still held does not expire')
  await importMaterial(keyId, second)
  assert.equal((await describe(keyId)).KeyState, 'Enabled')

  // Pending material is not associated with the key: deleting it withdraws it, the key
  // stays usable, and different new material may take its place.
  const pending = await importMaterial(keyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })
  assert.equal(
    (await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: ARN_PREFIX + keyId, KeyMaterialId: pending }))).KeyMaterialId,
    pending,
  )
  assert.equal((await describe(keyId)).KeyState, 'Enabled')
  assert.deepEqual(
    (await rotations(keyId, true)).map((r) => r.KeyMaterialId),
    [id1, id2],
  )
  assert.equal((await failure(kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId })))).name, 'KMSInvalidStateException')
  const replacement = await importMaterial(keyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
  assert.equal((await describe(keyId)).CurrentKeyMaterialId, replacement)
  assert.equal((await decrypt(c1)).text, 'one')
})

test('expiry of one material: the key goes back to PendingImport until that material is imported again', async () => {
  const keyId = await createExternalKey()
  const first = randomBytes(32)
  await importMaterial(keyId, first, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(region.clock.now() + 2 * DAY_MS) })
  const c1 = await encrypt(keyId, 'expiring')
  await importMaterial(keyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
  region.clock.advance(3 * DAY_MS)
  assert.ok((await expireImportedMaterial(region.kms)).includes(keyId))
  assert.equal((await describe(keyId)).KeyState, 'PendingImport')
  assert.deepEqual(
    (await rotations(keyId, true)).map((r) => r.ImportState),
    ['PENDING_IMPORT', 'IMPORTED'],
  )
  await importMaterial(keyId, first)
  assert.equal((await describe(keyId)).KeyState, 'Enabled')
  assert.equal((await decrypt(c1)).text, 'expiring')
})

test('the materials, pending and rotated, survive a restart of the region process', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'trent-import-rotation-'))
  const port = await freePortRange(2)
  let process: RegionProcess | undefined
  try {
    process = await startRegionProcess({ dataDir, port, extraArgs: ['--replication-port', String(port + 1)] })
    let client = process.client()
    const keyId = await createExternalKey(client)
    const first = randomBytes(32)
    const id1 = await importMaterial(keyId, first, {}, client)
    const c1 = await encrypt(keyId, 'before the rotation', client)
    const id2 = await importMaterial(keyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialDescription: 'next' }, client)
    await process.kill9()
    process = await startRegionProcess({ dataDir, port, extraArgs: ['--replication-port', String(port + 1)] })
    client = process.client()
    assert.deepEqual(
      (await rotations(keyId, true, client)).map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.KeyMaterialDescription]),
      [
        [id1, 'CURRENT', undefined],
        [id2, 'PENDING_ROTATION', 'next'],
      ],
    )
    await client.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    const c2 = await encrypt(keyId, 'after the rotation', client)
    await process.kill9()
    process = await startRegionProcess({ dataDir, port, extraArgs: ['--replication-port', String(port + 1)] })
    client = process.client()
    assert.equal((await describe(keyId, client)).CurrentKeyMaterialId, id2)
    assert.deepEqual(await decrypt(c1, client), { text: 'before the rotation', materialId: id1 })
    assert.deepEqual(await decrypt(c2, client), { text: 'after the rotation', materialId: id2 })
  } finally {
    await process?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
})
