/**
 * Rotation of imported material in a multi-Region key, across a real two-region partition
 * (region processes, the replication proxy, signed messages), through the AWS SDK: the
 * replica shows the new material pending until it imports it, the primary's rotation
 * completes once it has, old and new ciphertexts decrypt in both regions, and everything
 * holds after the replica's process is killed and restarted by the launcher.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  type ImportType,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { wrapForImport } from '../helpers/import-wrap.js'
import {
  createTempDir,
  freePortRange,
  kmsClient,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
  type RunningPartition,
} from '../helpers/partition.js'

const US = 'us-east-1'
const EU = 'eu-west-1'
const SYNC = { timeoutMs: 120_000, intervalMs: 200 }

describe('rotation of imported material in a multi-Region key, across a real partition', { timeout: 600_000 }, () => {
  const dataDir = createTempDir('trent-import-rotation-')
  let partition: RunningPartition
  const kms = (region: string): KMSClient => kmsClient(partition, region)

  before(async () => {
    partition = await startPartition({
      regions: [US, EU],
      dataDir,
      port: await freePortRange(8),
      regionPortBase: 'launcher-default',
      extraArgs: ['--reconcile-interval-ms', '500'],
      timeoutMs: 60_000,
    })
  })
  after(async () => {
    await stopAllPartitions()
    removeTempDir(dataDir)
  })

  async function importIn(region: string, keyId: string, material: Uint8Array, importType?: ImportType): Promise<string> {
    const parameters = await kms(region).send(
      new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_3072' }),
    )
    const out = await kms(region).send(
      new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: parameters.ImportToken,
        EncryptedKeyMaterial: wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_256', material),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
        ...(importType !== undefined ? { ImportType: importType } : {}),
      }),
    )
    return out.KeyMaterialId ?? assert.fail('no KeyMaterialId')
  }
  async function states(region: string, keyId: string): Promise<string[]> {
    const out = await kms(region).send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))
    return (out.Rotations ?? []).map((r) => `${r.KeyMaterialId?.slice(0, 8)}:${r.ImportState}:${r.KeyMaterialState}`)
  }
  async function decryptIn(region: string, ciphertext: Uint8Array | undefined): Promise<string> {
    return Buffer.from((await kms(region).send(new DecryptCommand({ CiphertextBlob: ciphertext }))).Plaintext ?? []).toString()
  }
  const short = (id: string): string => id.slice(0, 8)

  let keyId = ''
  let id1 = ''
  let id2 = ''
  const first = randomBytes(32)
  const second = randomBytes(32)
  let before1: Uint8Array | undefined

  it('imports the first material into the primary and the replica', async () => {
    keyId =
      (await kms(US).send(new CreateKeyCommand({ MultiRegion: true, Origin: 'EXTERNAL' }))).KeyMetadata?.KeyId ?? assert.fail('no key')
    id1 = await importIn(US, keyId, first)
    await kms(US).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: EU }))
    // The replica exists once the replication protocol has created it (PendingImport, no material).
    await waitFor(
      'the replica',
      async () => {
        try {
          return (await kms(EU).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState === 'PendingImport' ? true : undefined
        } catch {
          return undefined
        }
      },
      SYNC,
    )
    assert.equal(await importIn(EU, keyId, first), id1)
    before1 = (await kms(EU).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('first, made in the replica') })))
      .CiphertextBlob
  })

  it('new material stays pending in both regions until the replica imports it; the primary refuses to rotate meanwhile', async () => {
    id2 = await importIn(US, keyId, second, 'NEW_KEY_MATERIAL')
    assert.deepEqual(await states(US, keyId), [
      `${short(id1)}:IMPORTED:CURRENT`,
      `${short(id2)}:IMPORTED:PENDING_MULTI_REGION_IMPORT_AND_ROTATION`,
    ])
    await waitFor('the replica to list the new material', async () => ((await states(EU, keyId)).length === 2 ? true : undefined), SYNC)
    assert.deepEqual(await states(EU, keyId), [
      `${short(id1)}:IMPORTED:CURRENT`,
      `${short(id2)}:PENDING_IMPORT:PENDING_MULTI_REGION_IMPORT_AND_ROTATION`,
    ])
    await assert.rejects(kms(US).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), (err: Error) => {
      assert.equal(err.name, 'KMSInvalidStateException')
      assert.equal(err.message, `No available key material pending rotation for the key: arn:aws:kms:${US}:111122223333:key/${keyId}.`)
      return true
    })
    assert.equal(await importIn(EU, keyId, second), id2)
    await waitFor(
      'the primary to see the replica hold it',
      async () => ((await states(US, keyId))[1]?.endsWith(':PENDING_ROTATION') === true ? true : undefined),
      SYNC,
    )
  })

  it('the rotation completes: both regions encrypt with the new material and decrypt the old and new ciphertexts', async () => {
    await kms(US).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    assert.equal((await kms(US).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId, id2)
    await waitFor(
      'the replica to rotate',
      async () =>
        (await kms(EU).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId === id2 ? true : undefined,
      SYNC,
    )
    const afterUs = (await kms(US).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('second, made in the primary') })))
      .CiphertextBlob
    const afterEu = await kms(EU).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('second, made in the replica') }))
    for (const region of [US, EU]) {
      assert.equal(await decryptIn(region, before1), 'first, made in the replica')
      assert.equal(await decryptIn(region, afterUs), 'second, made in the primary')
      assert.equal(await decryptIn(region, afterEu.CiphertextBlob), 'second, made in the replica')
    }
    assert.equal((await kms(US).send(new DecryptCommand({ CiphertextBlob: afterEu.CiphertextBlob }))).KeyMaterialId, id2)
  })

  it("after the replica's process is killed and restarted, both materials are still there", async () => {
    const pid = partition.regionPids.get(EU) ?? assert.fail('no pid')
    process.kill(pid, 'SIGKILL')
    await partition.waitForRegionRestart(EU, pid)
    assert.deepEqual(await states(EU, keyId), [`${short(id1)}:IMPORTED:NON_CURRENT`, `${short(id2)}:IMPORTED:CURRENT`])
    assert.equal(await decryptIn(EU, before1), 'first, made in the replica')
    const made = await kms(EU).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('after the restart') }))
    assert.equal(await decryptIn(US, made.CiphertextBlob), 'after the restart')
  })
})
