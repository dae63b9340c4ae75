/**
 * What the user sees while the proxy blocks replication (docs/spec/replication.md §7.3,
 * §8, §10 "drops or delays messages ... the sync state says why", §12): a replica whose
 * material never arrives stays Creating and refuses cryptography; the primary's
 * TrentAdmin.DescribeReplication shows it CREATING or PENDING with what is outstanding,
 * never IN_SYNC; a rotation no replica has acknowledged is not made current; and once the
 * attack stops, reconciliation completes everything.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  DecryptCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyRotationStatusCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import { expectError } from '../helpers/operations-suite.js'
import {
  A,
  B,
  C,
  arnIn,
  assertSafe,
  assertSameMaterialEverywhere,
  createMrk,
  describeReplicationIn,
  encryptIn,
  decryptIn,
  flipBase64Bit,
  replicaViews,
  replicatedKey,
  tamperBody,
  type Ciphertext,
  type JsonObject,
} from '../helpers/adversary.js'
import { startInMemoryPartition, type InMemoryPartition } from '../helpers/in-memory-partition.js'

const REGIONS = [A, B, C]

/** Flips one bit of every wrapped material of a MaterialTransfer, keeping the signature. */
function spoilTransfer(bytes: Uint8Array): Uint8Array {
  return tamperBody(bytes, (b) => {
    for (const m of b.materials as JsonObject[]) m.wrapped = flipBase64Bit(String(m.wrapped), 0)
  })
}

describe('what the user sees while the proxy blocks replication', () => {
  let p: InMemoryPartition
  const kms = (region: string) => p.region(region).client()
  before(async () => {
    p = await startInMemoryPartition(REGIONS)
  })
  after(async () => {
    p.intercept = undefined
    await p.close()
  })

  it('every MaterialTransfer tampered with: the replica stays Creating, refuses cryptography, and the primary shows it CREATING with what is pending', async () => {
    const keyId = await createMrk(p)
    const fromA = await encryptIn(p, A, keyId, 'made in A while B is blocked')
    p.intercept = (e) => [{ to: e.to, bytes: e.type === 'MaterialTransfer' ? spoilTransfer(e.bytes) : e.bytes }]
    const start = p.deliveries.length
    try {
      const replicated = await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
      assert.equal(replicated.ReplicaKeyMetadata?.KeyState, 'Creating')
      await p.settle()
      for (let i = 0; i < 3; i++) await p.reconcileAll()
      const transfers = p.deliveries.slice(start).filter((d) => d.type === 'MaterialTransfer')
      assert.ok(transfers.length >= 3, 'reconciliation kept trying')
      for (const d of transfers) assert.equal(d.result.outcome, 'refused')

      // The replica: Creating, no material, no cryptography.
      const md = (await kms(B).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
      assert.equal(md?.KeyState, 'Creating')
      assert.equal(md?.Enabled, false)
      assert.equal(md?.CurrentKeyMaterialId, undefined)
      assert.equal(p.region(B).kms.materials.get(keyId), undefined)
      const creating = `${arnIn(B, keyId)} is creating.`
      await expectError(
        kms(B).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })),
        'KMSInvalidStateException',
        creating,
      )
      await expectError(kms(B).send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })), 'KMSInvalidStateException', creating)
      await expectError(
        kms(B).send(new DecryptCommand({ CiphertextBlob: fromA.blob, EncryptionContext: { purpose: 'adversarial-replication' } })),
        'KMSInvalidStateException',
        creating,
      )
      // Its own view says what it lacks.
      const own = await describeReplicationIn(p, B, keyId)
      assert.equal(own.Role, 'REPLICA')
      assert.equal(own.KeyState, 'Creating')
      assert.deepEqual(own.MissingMaterialVersions, [1])
      assert.deepEqual(own.MaterialVersions, [])

      // The primary: CREATING, with the reason, never IN_SYNC.
      const [view] = await replicaViews(p, A, keyId)
      assert.equal(view?.Region, B)
      assert.equal(view?.State, 'CREATING')
      assert.deepEqual(view?.MaterialVersions, [])
      assert.ok(
        view?.Pending.some((x) => /creation/.test(x)),
        JSON.stringify(view),
      )
      await assertSafe(p, keyId)
      // The primary keeps working.
      await decryptIn(p, A, fromA)
    } finally {
      p.intercept = undefined
    }
    await p.reconcileAll()
    await p.reconcileAll()
    assert.equal((await kms(B).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Enabled')
    assert.deepEqual(
      (await replicaViews(p, A, keyId)).map((v) => v.State),
      ['IN_SYNC'],
    )
    await assertSameMaterialEverywhere(p, keyId, { earlier: [fromA], expectRegions: [A, B] })
  })

  it('a rotation whose material cannot reach one replica stays pending: not current anywhere, shown as pending, and every ciphertext made meanwhile decrypts everywhere', async () => {
    const keyId = await replicatedKey(p, [B, C])
    const before = (await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId
    p.intercept = (e) => [{ to: e.to, bytes: e.type === 'MaterialTransfer' && e.to === C ? spoilTransfer(e.bytes) : e.bytes }]
    const made: Ciphertext[] = []
    try {
      await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
      await p.settle()
      for (let i = 0; i < 3; i++) {
        await p.reconcileAll()
        for (const region of REGIONS) made.push(await encryptIn(p, region, keyId, `made in ${region} during the attack #${i}`))
        await assertSafe(p, keyId)
      }
      // Version 2 exists on A and B, but is current nowhere.
      for (const region of REGIONS) {
        const md = (await kms(region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
        assert.equal(md?.CurrentKeyMaterialId, before, `${region} still encrypts with version 1`)
      }
      assert.deepEqual(
        p
          .region(B)
          .kms.materials.get(keyId)
          ?.map((m) => m.version),
        [1, 2],
      )
      assert.deepEqual(
        p
          .region(C)
          .kms.materials.get(keyId)
          ?.map((m) => m.version),
        [1],
      )
      const status = await kms(A).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))
      assert.ok(status.OnDemandRotationStartDate instanceof Date, 'the rotation is shown as in progress')
      const primary = await describeReplicationIn(p, A, keyId)
      assert.deepEqual(primary.PendingMaterialVersions, [2])
      assert.equal(primary.CurrentMaterialVersion, 1)
      const views = await replicaViews(p, A, keyId)
      const c = views.find((v) => v.Region === C)
      assert.equal(c?.State, 'PENDING')
      assert.deepEqual(c?.MaterialVersions, [1])
      assert.ok(
        c?.Pending.some((x) => /material versions 2/.test(x)),
        JSON.stringify(c),
      )
      const b = views.find((v) => v.Region === B)
      assert.deepEqual(b?.MaterialVersions, [1, 2])
      // C's own view says what it lacks.
      assert.deepEqual((await describeReplicationIn(p, C, keyId)).MissingMaterialVersions, [2])
      // Everything made meanwhile decrypts everywhere, C included.
      for (const ciphertext of made) for (const region of REGIONS) await decryptIn(p, region, ciphertext)
    } finally {
      p.intercept = undefined
    }
    await p.reconcileAll()
    await p.reconcileAll()
    assert.equal(p.region(A).kms.keys.get(keyId)?.currentMaterialVersion, 2)
    assert.equal((await kms(A).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).OnDemandRotationStartDate, undefined)
    await assertSameMaterialEverywhere(p, keyId, { earlier: made, expectRegions: REGIONS })
  })

  it('SharedState to a replica dropped: the primary shows it PENDING with the sync version it has not acknowledged', async () => {
    const keyId = await replicatedKey(p, [B, C])
    p.intercept = (e) => (e.type === 'SharedState' && e.to === B ? [] : [{ to: e.to, bytes: e.bytes }])
    try {
      await kms(A).send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 120 }))
      await p.settle()
      await p.reconcileAll()
      const syncVersion = p.region(A).kms.keys.get(keyId)?.mrk?.syncVersion ?? 0
      const views = await replicaViews(p, A, keyId)
      const b = views.find((v) => v.Region === B)
      assert.equal(b?.State, 'PENDING')
      assert.ok((b?.AcknowledgedSyncVersion ?? 0) < syncVersion)
      assert.ok(
        b?.Pending.some((x) => x.startsWith(`shared state ${syncVersion}`)),
        JSON.stringify(b),
      )
      assert.equal(views.find((v) => v.Region === C)?.State, 'IN_SYNC')
      assert.equal((await kms(B).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled, false, 'B has not heard yet')
      await assertSafe(p, keyId)
    } finally {
      p.intercept = undefined
    }
    await p.reconcileAll()
    const status = await kms(B).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))
    assert.equal(status.KeyRotationEnabled, true)
    assert.equal(status.RotationPeriodInDays, 120)
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
  })

  it('ReplicaDeleted dropped: the primary does not count the deleted replica IN_SYNC, and its own deletion proceeds', async () => {
    const keyId = await replicatedKey(p, [B])
    await kms(A).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    await kms(B).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    p.intercept = (e) => (e.type === 'ReplicaDeleted' ? [] : [{ to: e.to, bytes: e.bytes }])
    try {
      await p.advance(B, 8 * 86_400)
    } finally {
      p.intercept = undefined
    }
    await expectError(kms(B).send(new DescribeKeyCommand({ KeyId: keyId })), 'NotFoundException')
    for (let i = 0; i < 3; i++) await p.reconcileAll()
    const [view] = await replicaViews(p, A, keyId)
    assert.notEqual(view?.State, 'IN_SYNC', `the primary counts B, whose key no longer exists, as IN_SYNC: ${JSON.stringify(view)}`)
    const primary = (await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.deepEqual(
      primary?.MultiRegionConfiguration?.ReplicaKeys,
      [],
      'reconciliation never learns that B is gone (its SharedState to B is ignored unanswered)',
    )
    assert.equal(primary?.KeyState, 'PendingDeletion', 'the primary waits in PendingReplicaDeletion for ever')
  })

  it('every TransferComplete and SyncAck of a replica dropped: the primary never counts it as holding material, and a rotation waits for it', async () => {
    const keyId = await createMrk(p)
    p.intercept = (e) => (e.from === B && (e.type === 'TransferComplete' || e.type === 'SyncAck') ? [] : [{ to: e.to, bytes: e.bytes }])
    try {
      await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
      await p.settle()
      // B has its material, but the primary has no word of it.
      assert.equal(p.region(B).kms.keys.get(keyId)?.state, 'Enabled')
      let [view] = await replicaViews(p, A, keyId)
      assert.equal(view?.State, 'CREATING')
      await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
      await p.settle()
      await p.reconcileAll()
      ;[view] = await replicaViews(p, A, keyId)
      assert.notEqual(view?.State, 'IN_SYNC')
      assert.equal(p.region(A).kms.keys.get(keyId)?.currentMaterialVersion, 1, 'not made current without B’s word')
      await assertSafe(p, keyId)
    } finally {
      p.intercept = undefined
    }
    for (let i = 0; i < 3; i++) await p.reconcileAll()
    const [view] = await replicaViews(p, A, keyId)
    assert.equal(
      view?.State,
      'IN_SYNC',
      `once the attack stops, reconciliation must let the primary learn that B exists; it re-sends ReplicaCreate, which B, already Enabled, ignores without an answer: ${JSON.stringify(view)}`,
    )
    assert.equal(p.region(A).kms.keys.get(keyId)?.currentMaterialVersion, 2, 'the pending rotation completes')
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })
})
