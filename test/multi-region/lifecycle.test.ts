/**
 * The multi-Region key lifecycle across three in-process regions joined by a faithful
 * in-memory proxy: replication, cross-region decryption, synchronised rotation,
 * UpdatePrimaryRegion and deletion, with AWS's answers for every invalid case.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  CancelKeyDeletionCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GetKeyRotationStatusCommand,
  ListKeyRotationsCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  UpdatePrimaryRegionCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { expectError } from '../helpers/operations-suite.js'
import { startInMemoryPartition, type InMemoryPartition } from '../helpers/in-memory-partition.js'

const A = 'us-east-1'
const B = 'eu-west-1'
const C = 'ap-southeast-2'
const ACCOUNT = '111122223333'
const arn = (region: string, keyId: string): string => `arn:aws:kms:${region}:${ACCOUNT}:key/${keyId}`

describe('multi-Region keys across three regions', () => {
  let p: InMemoryPartition
  const kms = (region: string): KMSClient => p.region(region).client()

  before(async () => {
    p = await startInMemoryPartition([A, B, C])
  })
  after(async () => {
    await p.close()
  })

  async function newReplicatedKey(regions: string[] = [B]): Promise<string> {
    const keyId = (await kms(A).send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata?.KeyId ?? ''
    for (const region of regions) await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: region }))
    await p.settle()
    return keyId
  }

  it('ReplicateKey returns a Creating replica that becomes Enabled with the same material', async () => {
    const created = await kms(A).send(new CreateKeyCommand({ MultiRegion: true, Description: 'primary' }))
    const keyId = created.KeyMetadata?.KeyId ?? ''
    const replicated = await kms(A).send(
      new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B, Description: 'replica', Tags: [{ TagKey: 't', TagValue: 'v' }] }),
    )
    const md = replicated.ReplicaKeyMetadata
    assert.equal(md?.KeyState, 'Creating')
    assert.equal(md?.Enabled, false)
    assert.equal(md?.Arn, arn(B, keyId))
    assert.equal(md?.Description, 'replica')
    assert.equal(md?.CurrentKeyMaterialId, undefined)
    assert.equal(md?.MultiRegionConfiguration?.MultiRegionKeyType, 'REPLICA')
    assert.deepEqual(md?.MultiRegionConfiguration?.PrimaryKey, { Arn: arn(A, keyId), Region: A })
    assert.deepEqual(md?.MultiRegionConfiguration?.ReplicaKeys, [{ Arn: arn(B, keyId), Region: B }])
    assert.match(replicated.ReplicaPolicy ?? '', /Enable IAM User Permissions/)
    assert.deepEqual(replicated.ReplicaTags, [{ TagKey: 't', TagValue: 'v' }])
    // The primary lists the replica at once.
    const primaryView = (await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.deepEqual(primaryView?.MultiRegionConfiguration?.ReplicaKeys, [{ Arn: arn(B, keyId), Region: B }])

    await p.settle()
    const replica = (await kms(B).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.equal(replica?.KeyState, 'Enabled')
    assert.equal(replica?.Description, 'replica')
    assert.equal(replica?.CurrentKeyMaterialId, primaryView?.CurrentKeyMaterialId)
    assert.deepEqual(replica?.MultiRegionConfiguration, { ...primaryView?.MultiRegionConfiguration, MultiRegionKeyType: 'REPLICA' })
    // Independent properties come from the request, never from the primary.
    assert.equal((await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.Description, 'primary')
  })

  it('a ciphertext of either related key decrypts with the other, with and without KeyId', async () => {
    const keyId = await newReplicatedKey([B])
    const fromA = await kms(A).send(
      new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('made in A'), EncryptionContext: { c: '1' } }),
    )
    const inB = await kms(B).send(new DecryptCommand({ CiphertextBlob: fromA.CiphertextBlob, EncryptionContext: { c: '1' } }))
    assert.equal(Buffer.from(inB.Plaintext ?? []).toString(), 'made in A')
    assert.equal(inB.KeyId, arn(B, keyId))
    const withKeyId = await kms(B).send(
      new DecryptCommand({ CiphertextBlob: fromA.CiphertextBlob, EncryptionContext: { c: '1' }, KeyId: arn(B, keyId) }),
    )
    assert.equal(withKeyId.KeyId, arn(B, keyId))
    const fromB = await kms(B).send(new EncryptCommand({ KeyId: arn(B, keyId), Plaintext: Buffer.from('made in B') }))
    assert.equal(fromB.KeyId, arn(B, keyId))
    assert.equal(
      Buffer.from((await kms(A).send(new DecryptCommand({ CiphertextBlob: fromB.CiphertextBlob }))).Plaintext ?? []).toString(),
      'made in B',
    )
    // A region with no related key cannot decrypt it.
    await expectError(
      kms(C).send(new DecryptCommand({ CiphertextBlob: fromA.CiphertextBlob, EncryptionContext: { c: '1' } })),
      'InvalidCiphertextException',
    )
  })

  it('rotation reaches every replica before the new material is used', async () => {
    const keyId = await newReplicatedKey([B, C])
    const before = (await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId
    const old = await kms(A).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('old') }))
    await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    // Not yet current anywhere: the replicas have not acknowledged it.
    assert.equal((await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId, before)
    assert.ok((await kms(A).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).OnDemandRotationStartDate instanceof Date)
    await expectError(kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'ConflictException')
    await p.settle()
    const after = await Promise.all(
      [A, B, C].map(async (r) => (await kms(r).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId),
    )
    assert.notEqual(after[0], before)
    assert.deepEqual(after, [after[0], after[0], after[0]])
    assert.equal((await kms(A).send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations?.length, 1)
    assert.equal((await kms(C).send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations?.length, 1)
    const fresh = await kms(C).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('new') }))
    for (const region of [A, B, C]) {
      assert.equal(
        Buffer.from((await kms(region).send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob }))).Plaintext ?? []).toString(),
        'old',
      )
      assert.equal(
        Buffer.from((await kms(region).send(new DecryptCommand({ CiphertextBlob: fresh.CiphertextBlob }))).Plaintext ?? []).toString(),
        'new',
      )
    }
  })

  it('the rotation setting is shared; it is set on the primary only', async () => {
    const keyId = await newReplicatedKey([B])
    await expectError(
      kms(B).send(new EnableKeyRotationCommand({ KeyId: keyId })),
      'UnsupportedOperationException',
      `${arn(B, keyId)} is not a multi-region primary key.`,
    )
    await expectError(kms(B).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), 'UnsupportedOperationException')
    await kms(A).send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 180 }))
    await p.settle()
    const status = await kms(B).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))
    assert.equal(status.KeyRotationEnabled, true)
    assert.equal(status.RotationPeriodInDays, 180)
    // Automatic rotation runs on the primary and reaches the replica.
    await p.advance(A, 181 * 86_400)
    const rotations = await kms(B).send(new ListKeyRotationsCommand({ KeyId: keyId }))
    assert.deepEqual(
      rotations.Rotations?.map((r) => r.RotationType),
      ['AUTOMATIC'],
    )
  })

  it('UpdatePrimaryRegion swaps the roles and every related key follows', async () => {
    const keyId = await newReplicatedKey([B, C])
    await kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
    assert.equal((await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Updating')
    await expectError(kms(A).send(new DisableKeyCommand({ KeyId: keyId })), 'KMSInvalidStateException', `${arn(A, keyId)} is updating.`)
    // Cryptography goes on while updating.
    await kms(A).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))
    await p.settle()
    const views = await Promise.all([A, B, C].map(async (r) => (await kms(r).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata))
    for (const view of views) {
      assert.equal(view?.KeyState, 'Enabled')
      assert.deepEqual(view?.MultiRegionConfiguration?.PrimaryKey, { Arn: arn(B, keyId), Region: B })
      assert.deepEqual(new Set(view?.MultiRegionConfiguration?.ReplicaKeys?.map((k) => k.Region)), new Set([A, C]))
    }
    assert.deepEqual(
      views.map((v) => v?.MultiRegionConfiguration?.MultiRegionKeyType),
      ['REPLICA', 'PRIMARY', 'REPLICA'],
    )
    // The new primary now owns the shared properties.
    await expectError(kms(A).send(new EnableKeyRotationCommand({ KeyId: keyId })), 'UnsupportedOperationException')
    await kms(B).send(new EnableKeyRotationCommand({ KeyId: keyId }))
    await p.settle()
    assert.equal((await kms(C).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled, true)
  })

  it('UpdatePrimaryRegion to a disabled replica is refused by the replica and the primary recovers', async () => {
    const keyId = await newReplicatedKey([B])
    await kms(B).send(new DisableKeyCommand({ KeyId: keyId }))
    await kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
    await p.settle()
    const view = (await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.equal(view?.KeyState, 'Enabled')
    assert.equal(view?.MultiRegionConfiguration?.MultiRegionKeyType, 'PRIMARY')
    await kms(B).send(new EnableKeyCommand({ KeyId: keyId }))
  })

  it('a primary with replicas waits in PendingReplicaDeletion until its last replica is deleted', async () => {
    const keyId = await newReplicatedKey([B])
    const scheduled = await kms(A).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    assert.equal(scheduled.KeyState, 'PendingReplicaDeletion')
    assert.equal(scheduled.DeletionDate, undefined)
    const waiting = (await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.equal(waiting?.KeyState, 'PendingReplicaDeletion')
    assert.equal(waiting?.PendingDeletionWindowInDays, 7)
    await expectError(
      kms(A).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })),
      'KMSInvalidStateException',
      `${arn(A, keyId)} is pending replica deletion.`,
    )
    // The replica stays usable meanwhile.
    await kms(B).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))
    await kms(B).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    await p.advance(B, 8 * 86_400)
    await expectError(kms(B).send(new DescribeKeyCommand({ KeyId: keyId })), 'NotFoundException')
    const pending = (await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.equal(pending?.KeyState, 'PendingDeletion')
    assert.deepEqual(pending?.MultiRegionConfiguration?.ReplicaKeys, [])
    assert.ok(pending?.DeletionDate instanceof Date)
    await p.advance(A, 8 * 86_400)
    await expectError(kms(A).send(new DescribeKeyCommand({ KeyId: keyId })), 'NotFoundException')
  })

  it('cancelling a PendingReplicaDeletion leaves the primary Disabled', async () => {
    const keyId = await newReplicatedKey([B])
    await kms(A).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    await kms(A).send(new CancelKeyDeletionCommand({ KeyId: keyId }))
    assert.equal((await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Disabled')
  })

  it('a deleted replica can be replicated again and gets every material version back', async () => {
    const keyId = await newReplicatedKey([B])
    const old = await kms(A).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('old') }))
    await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    await p.settle()
    await kms(B).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    await p.advance(B, 8 * 86_400)
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await p.settle()
    assert.equal(
      Buffer.from((await kms(B).send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob }))).Plaintext ?? []).toString(),
      'old',
    )
  })

  it('AWS errors for every invalid replication', async () => {
    const single = (await kms(A).send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
    await expectError(
      kms(A).send(new ReplicateKeyCommand({ KeyId: single, ReplicaRegion: B })),
      'UnsupportedOperationException',
      `${arn(A, single)} is not a multi-region primary key.`,
    )
    const keyId = await newReplicatedKey([B])
    await expectError(
      kms(B).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: C })),
      'UnsupportedOperationException',
      `${arn(B, keyId)} is not a multi-region primary key.`,
    )
    await expectError(kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: A })), 'AlreadyExistsException')
    await expectError(kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B })), 'AlreadyExistsException')
    await expectError(kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: 'sa-east-1' })), 'UnsupportedOperationException')
    await expectError(kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: C })), 'NotFoundException')
    await expectError(kms(B).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: A })), 'UnsupportedOperationException')
    await expectError(kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: single, PrimaryRegion: B })), 'UnsupportedOperationException')
    // A replica whose material has not arrived is Creating: managed, but no cryptography.
    p.intercept = (e) => (e.type === 'MaterialTransfer' ? [] : [{ to: e.to, bytes: e.bytes }])
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: C }))
    await p.settle()
    assert.equal((await kms(C).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Creating')
    await expectError(
      kms(C).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })),
      'KMSInvalidStateException',
      `${arn(C, keyId)} is creating.`,
    )
    await expectError(kms(C).send(new DisableKeyCommand({ KeyId: keyId })), 'KMSInvalidStateException', `${arn(C, keyId)} is creating.`)
    await expectError(kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: C })), 'KMSInvalidStateException')
    // Reconciliation repairs the lost message once the proxy behaves.
    p.intercept = undefined
    await p.reconcileAll()
    assert.equal((await kms(C).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Enabled')
    await kms(A).send(new DisableKeyCommand({ KeyId: keyId }))
    await expectError(
      kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: 'sa-east-1' })),
      'DisabledException',
      `${arn(A, keyId)} is disabled.`,
    )
    await kms(A).send(new EnableKeyCommand({ KeyId: keyId }))
  })
})
