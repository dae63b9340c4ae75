/**
 * Rotation of imported material in a multi-Region key (docs/spec/replication.md
 * #imported-rotation): new material is imported into the primary, then the same bytes into
 * every replica; it is PENDING_MULTI_REGION_IMPORT_AND_ROTATION until every replica holds
 * it, RotateKeyOnDemand on the primary is refused until then, and the replicas learn of
 * the rotation through the shared state. No material ever travels between regions.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  UpdatePrimaryRegionCommand,
  type ImportType,
  type KMSClient,
  type RotationsListEntry,
} from '@aws-sdk/client-kms'
import { startInMemoryPartition, type InMemoryPartition } from '../helpers/in-memory-partition.js'
import { wrapForImport } from '../helpers/import-wrap.js'
import { freePortRange } from '../helpers/partition.js'

const A = 'us-east-1'
const B = 'eu-west-1'
const C = 'ap-southeast-2'
let p: InMemoryPartition

before(async () => {
  p = await startInMemoryPartition([A, B, C], 'trent-test-partition', await freePortRange(3))
})
after(async () => {
  await p.close()
})

function client(region: string): KMSClient {
  return p.region(region).client()
}

async function importIn(region: string, keyId: string, material: Uint8Array, importType?: ImportType): Promise<string> {
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
      ...(importType !== undefined ? { ImportType: importType } : {}),
    }),
  )
  return out.KeyMaterialId ?? assert.fail('no material id')
}

async function listing(region: string, keyId: string): Promise<Array<[string | undefined, string | undefined, string | undefined]>> {
  const out = await client(region).send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))
  return (out.Rotations ?? []).map((r: RotationsListEntry) => [r.KeyMaterialId, r.ImportState, r.KeyMaterialState])
}

async function describeIn(region: string, keyId: string) {
  return (await client(region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata ?? assert.fail('no metadata')
}

async function decryptIn(region: string, ciphertext: Uint8Array | undefined): Promise<{ text: string; materialId: string | undefined }> {
  const out = await client(region).send(new DecryptCommand({ CiphertextBlob: ciphertext }))
  return { text: Buffer.from(out.Plaintext ?? []).toString(), materialId: out.KeyMaterialId }
}

async function rejectsWith(work: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(work, (err: Error) => {
    assert.equal(err.name, name, err.message)
    if (message !== undefined) assert.match(err.message, message)
    return true
  })
}

/** An EXTERNAL multi-Region key whose first material is imported in the primary and in B and C. */
async function importedKeyEverywhere(first: Uint8Array): Promise<{ keyId: string; id1: string }> {
  const keyId =
    (await client(A).send(new CreateKeyCommand({ MultiRegion: true, Origin: 'EXTERNAL' }))).KeyMetadata?.KeyId ?? assert.fail('no key')
  const id1 = await importIn(A, keyId, first)
  for (const region of [B, C]) await client(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: region }))
  await p.settle()
  for (const region of [B, C]) assert.equal(await importIn(region, keyId, first), id1)
  await p.settle()
  return { keyId, id1 }
}

test('new imported material must reach every replica before the primary rotates; then every region uses it, and old ciphertexts decrypt everywhere', async () => {
  const first = randomBytes(32)
  const { keyId, id1 } = await importedKeyEverywhere(first)
  const c1 = await client(A).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('before the rotation') }))
  const before = p.deliveries.length

  // New material goes into the primary only: a replica refuses it.
  const second = randomBytes(32)
  await rejectsWith(importIn(B, keyId, second, 'NEW_KEY_MATERIAL'), 'UnsupportedOperationException')
  const id2 = await importIn(A, keyId, second, 'NEW_KEY_MATERIAL')
  await p.settle()
  assert.deepEqual(await listing(A, keyId), [
    [id1, 'IMPORTED', 'CURRENT'],
    [id2, 'IMPORTED', 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION'],
  ])
  assert.deepEqual(
    await listing(B, keyId),
    [
      [id1, 'IMPORTED', 'CURRENT'],
      [id2, 'PENDING_IMPORT', 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION'],
    ],
    'the replica learns of the new material through the shared state',
  )
  assert.equal((await describeIn(B, keyId)).KeyState, 'Enabled', 'material pending rotation is not needed to use the key')

  const nothingPending = new RegExp(
    `^No available key material pending rotation for the key: arn:aws:kms:${A}:111122223333:key/${keyId}\\.$`,
  )
  await rejectsWith(client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'KMSInvalidStateException', nothingPending)
  await rejectsWith(client(B).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'UnsupportedOperationException')
  // Other bytes are refused in a replica; the same bytes are taken.
  await rejectsWith(importIn(B, keyId, randomBytes(32)), 'IncorrectKeyMaterialException')
  assert.equal(await importIn(B, keyId, second), id2)
  await p.settle()
  assert.deepEqual((await listing(A, keyId))[1], [id2, 'IMPORTED', 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION'], 'C still lacks it')
  await rejectsWith(
    client(A).send(new RotateKeyOnDemandCommand({ KeyId: `arn:aws:kms:${A}:111122223333:key/${keyId}` })),
    'KMSInvalidStateException',
    nothingPending,
  )

  assert.equal(await importIn(C, keyId, second, 'EXISTING_KEY_MATERIAL'), id2)
  await p.settle()
  assert.deepEqual((await listing(A, keyId))[1], [id2, 'IMPORTED', 'PENDING_ROTATION'])
  assert.equal((await describeIn(A, keyId)).CurrentKeyMaterialId, id1, 'nothing is rotated before RotateKeyOnDemand')

  await client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
  await p.settle()
  for (const region of [A, B, C]) {
    assert.equal((await describeIn(region, keyId)).CurrentKeyMaterialId, id2, region)
    const rotations = (await client(region).send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations ?? []
    assert.deepEqual(
      rotations.map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.ImportState, r.RotationType]),
      [[id2, 'CURRENT', 'IMPORTED', 'ON_DEMAND']],
      region,
    )
    assert.ok(rotations[0]?.RotationDate instanceof Date, region)
  }
  const sent = p.deliveries.slice(before)
  assert.equal(
    sent.filter((d) => d.type === 'AgreementOffer' || d.type === 'MaterialTransfer').length,
    0,
    'no imported material travels between regions',
  )

  for (const region of [A, B, C]) {
    assert.deepEqual(await decryptIn(region, c1.CiphertextBlob), { text: 'before the rotation', materialId: id1 }, region)
    const made = await client(region).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(`after, in ${region}`) }))
    for (const other of [A, B, C])
      assert.deepEqual(
        await decryptIn(other, made.CiphertextBlob),
        { text: `after, in ${region}`, materialId: id2 },
        `${region} → ${other}`,
      )
  }
})

test("new material withdrawn on the primary is withdrawn from the replicas; a replica's own deletion stays its own", async () => {
  const first = randomBytes(32)
  const { keyId, id1 } = await importedKeyEverywhere(first)
  const pending = randomBytes(32)
  const idPending = await importIn(A, keyId, pending, 'NEW_KEY_MATERIAL')
  await p.settle()
  assert.equal(await importIn(B, keyId, pending), idPending)
  await p.settle()
  await client(A).send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId, KeyMaterialId: idPending }))
  await p.settle()
  for (const region of [A, B, C]) {
    assert.deepEqual(await listing(region, keyId), [[id1, 'IMPORTED', 'CURRENT']], region)
    assert.equal((await describeIn(region, keyId)).KeyState, 'Enabled', region)
  }
  // The withdrawn material is no longer the key's: a replica refuses it.
  await rejectsWith(importIn(B, keyId, pending), 'IncorrectKeyMaterialException')

  // Different new material in its place, imported everywhere and rotated to.
  const next = randomBytes(32)
  const id2 = await importIn(A, keyId, next, 'NEW_KEY_MATERIAL')
  await p.settle()
  for (const region of [B, C]) await importIn(region, keyId, next)
  await p.settle()
  await client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
  await p.settle()

  // A replica deleting a material of its own: only that replica goes to PendingImport.
  await client(B).send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId, KeyMaterialId: id1 }))
  await p.settle()
  assert.equal((await describeIn(B, keyId)).KeyState, 'PendingImport')
  assert.equal((await describeIn(A, keyId)).KeyState, 'Enabled')
  assert.equal((await describeIn(C, keyId)).KeyState, 'Enabled')
  assert.equal(await importIn(B, keyId, first), id1)
  assert.equal((await describeIn(B, keyId)).KeyState, 'Enabled')
  assert.equal((await describeIn(B, keyId)).CurrentKeyMaterialId, id2)
})

test('a replica created after a rotation lists every material and must import each before it is Enabled', async () => {
  const first = randomBytes(32)
  const keyId =
    (await client(A).send(new CreateKeyCommand({ MultiRegion: true, Origin: 'EXTERNAL' }))).KeyMetadata?.KeyId ?? assert.fail('no key')
  const id1 = await importIn(A, keyId, first)
  const c1 = await client(A).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('made by the first material') }))
  const second = randomBytes(32)
  const id2 = await importIn(A, keyId, second, 'NEW_KEY_MATERIAL')
  // No replica yet: the new material is PENDING_ROTATION at once.
  assert.deepEqual((await listing(A, keyId))[1], [id2, 'IMPORTED', 'PENDING_ROTATION'])
  await client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
  await client(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
  await p.settle()
  assert.deepEqual(await listing(B, keyId), [
    [id1, 'PENDING_IMPORT', 'NON_CURRENT'],
    [id2, 'PENDING_IMPORT', 'CURRENT'],
  ])
  await importIn(B, keyId, second)
  assert.equal((await describeIn(B, keyId)).KeyState, 'PendingImport', 'the first material is still missing')
  await importIn(B, keyId, first)
  assert.equal((await describeIn(B, keyId)).KeyState, 'Enabled')
  assert.deepEqual(await decryptIn(B, c1.CiphertextBlob), { text: 'made by the first material', materialId: id1 })
})

test('new material pending when the primary Region changes: the new primary rotates once every other region holds it', async () => {
  const first = randomBytes(32)
  const { keyId, id1 } = await importedKeyEverywhere(first)
  const second = randomBytes(32)
  const id2 = await importIn(A, keyId, second, 'NEW_KEY_MATERIAL')
  await p.settle()
  assert.equal(await importIn(B, keyId, second), id2)
  await p.settle()
  await client(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
  await p.settle()
  assert.equal((await describeIn(B, keyId)).MultiRegionConfiguration?.MultiRegionKeyType, 'PRIMARY')
  // The new primary knows the material and that C still lacks it.
  assert.deepEqual(await listing(B, keyId), [
    [id1, 'IMPORTED', 'CURRENT'],
    [id2, 'IMPORTED', 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION'],
  ])
  await rejectsWith(client(B).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'KMSInvalidStateException')
  await rejectsWith(client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'UnsupportedOperationException')
  assert.equal(await importIn(C, keyId, second), id2)
  await p.settle()
  assert.deepEqual((await listing(B, keyId))[1], [id2, 'IMPORTED', 'PENDING_ROTATION'])
  await client(B).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
  await p.settle()
  for (const region of [A, B, C]) {
    const md = await describeIn(region, keyId)
    assert.equal(md.CurrentKeyMaterialId, id2, region)
    assert.equal(md.KeyState, 'Enabled', region)
  }
})
