/**
 * The proxy replays genuine messages (docs/spec/replication.md §3.2 rule 3, §6.2, §7.1,
 * §10 "replays an old message", "replays within a session"): every envelope of a
 * completed replication, rotation and pair of primary changes, replayed one by one and
 * then all together in random orders, many times; old shared state after newer; replays
 * after expiry; a malleated signature. And the replays that target the gaps between two
 * lives of a replica, or two UpdatePrimaryRegion attempts.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  UpdatePrimaryRegionCommand,
} from '@aws-sdk/client-kms'
import { expectError } from '../helpers/operations-suite.js'
import {
  A,
  B,
  C,
  assertSafe,
  assertSameMaterialEverywhere,
  capture,
  countAgreements,
  deliver,
  encryptIn,
  keyIdOf,
  negateS,
  primariesOf,
  rakasPerSession,
  rawEnvelope,
  replicaViews,
  replicatedKey,
  sameSnapshot,
  sealRaw,
  seededRandom,
  shuffled,
  snapshot,
  stableState,
  createMrk,
  type Ciphertext,
} from '../helpers/adversary.js'
import { startInMemoryPartition, type Delivery, type InMemoryPartition } from '../helpers/in-memory-partition.js'

const REGIONS = [A, B, C]

/** The genuine, accepted deliveries about `keyId` since `start`. */
function genuine(p: InMemoryPartition, keyId: string, start: number): Delivery[] {
  return p.deliveries.slice(start).filter((d) => d.result.outcome !== 'refused' && keyIdOf(d.bytes) === keyId)
}

describe('a proxy that replays messages', () => {
  let p: InMemoryPartition
  const kms = (region: string) => p.region(region).client()
  before(async () => {
    p = await startInMemoryPartition(REGIONS)
  })
  after(async () => {
    await p.close()
  })

  it('replaying every envelope of a finished replication, rotation and two primary changes, one by one and in random orders many times, changes nothing', async () => {
    const keyId = await createMrk(p)
    const start = p.deliveries.length
    const ciphertexts: Ciphertext[] = []
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: C }))
    await p.settle()
    for (const r of REGIONS) ciphertexts.push(await encryptIn(p, r, keyId, `v1 in ${r}`))
    await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    await p.settle()
    await kms(A).send(new EnableKeyRotationCommand({ KeyId: keyId }))
    await p.settle()
    await kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
    await p.settle()
    await kms(B).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: A }))
    await p.settle()
    await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    await p.settle()
    for (const r of REGIONS) ciphertexts.push(await encryptIn(p, r, keyId, `v3 in ${r}`))
    assert.deepEqual(primariesOf(p, keyId), [A])

    const recorded = genuine(p, keyId, start)
    const types = new Set(recorded.map((d) => d.type))
    for (const type of [
      'ReplicaCreate',
      'AgreementOffer',
      'MaterialTransfer',
      'TransferComplete',
      'SyncAck',
      'SharedState',
      'PrimaryHandoff',
    ]) {
      assert.ok(types.has(type), `the run produced ${type}`)
    }
    const agreements = countAgreements(p)
    const settled = stableState(p, keyId, { ignoreReportedHeld: true })
    const check = (what: string): void => assert.deepEqual(stableState(p, keyId, { ignoreReportedHeld: true }), settled, what)
    try {
      // One by one, each followed by whatever the receivers answer.
      for (const d of recorded) {
        const result = await deliver(p, d.deliveredTo, d.bytes, d.from)
        // Within its lifetime, so not refused as expired; but never applied again. (Reports are
        // "applied" to the primary's bookkeeping: see the regression test below.)
        assert.doesNotMatch(result.reason ?? '', /expired/)
        if (!['TransferComplete', 'SyncAck'].includes(d.type))
          assert.notEqual(result.outcome, 'applied', `replayed ${d.type} ${d.from}→${d.deliveredTo}: ${JSON.stringify(result)}`)
        await p.settle()
        check(`after replaying ${d.type} ${d.from}→${d.deliveredTo}`)
      }
      // All of them, in random orders, several times over, without settling in between;
      // then the same bytes with a malleated signature (r, n − s).
      const random = seededRandom(0x5eed)
      for (let round = 0; round < 6; round++) {
        for (const d of shuffled([...recorded, ...recorded], random)) await deliver(p, d.deliveredTo, d.bytes, d.from)
        await p.settle()
        check(`after replay round ${round}`)
      }
      for (const d of shuffled(recorded, random)) {
        const raw = rawEnvelope(d.bytes)
        const signature = raw.signature as { value: string }
        signature.value = negateS(signature.value)
        await deliver(p, d.deliveredTo, sealRaw(raw), d.from)
      }
      await p.settle()
      check('after replays with malleated signatures')
    } finally {
      agreements.restore()
    }
    // No second RAKA for any session, no new RAKB, no new session.
    assert.deepEqual([...agreements.wraps.values()], [], 'no region wrapped material again')
    assert.deepEqual([...agreements.opens.values()], [], 'no region opened a session again')
    for (const [sessionId, rakas] of rakasPerSession(p)) assert.equal(rakas.size, 1, `session ${sessionId} saw ${rakas.size} RAKAs`)
    await assertSafe(p, keyId)
    await p.reconcileAll()
    await assertSameMaterialEverywhere(p, keyId, { earlier: ciphertexts, expectRegions: REGIONS })
  })

  it('an old SharedState replayed or reordered after a newer one (rotation setting flipped) changes nothing', async () => {
    const keyId = await replicatedKey(p, [B, C])
    const proxy = capture(p)
    await kms(A).send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 200 }))
    const enabling = (await proxy.next()).filter((e) => e.type === 'SharedState')
    await kms(A).send(new DisableKeyRotationCommand({ KeyId: keyId }))
    const disabling = (await proxy.next()).filter((e) => e.type === 'SharedState')
    proxy.stop()
    assert.equal(enabling.length, 2)
    assert.equal(disabling.length, 2)
    // To B: in order, then the old one again. To C: the newer first, then the older.
    for (const e of [...enabling.filter((x) => x.to === B), ...disabling.filter((x) => x.to === B), ...enabling.filter((x) => x.to === B)])
      await deliver(p, e.to, e.bytes, e.from)
    for (const e of [...disabling.filter((x) => x.to === C), ...enabling.filter((x) => x.to === C)]) await deliver(p, e.to, e.bytes, e.from)
    await p.settle()
    for (const region of [B, C]) {
      const status = await kms(region).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))
      assert.equal(status.KeyRotationEnabled, false, `${region} keeps the newest setting`)
      assert.equal(p.region(region).kms.keys.get(keyId)?.mrk?.syncVersion, p.region(A).kms.keys.get(keyId)?.mrk?.syncVersion)
    }
    const states = stableState(p, keyId, { ignoreReportedHeld: true })
    for (let i = 0; i < 5; i++) for (const e of [...enabling, ...disabling]) await deliver(p, e.to, e.bytes, e.from)
    await p.settle()
    assert.deepEqual(stableState(p, keyId, { ignoreReportedHeld: true }), states)
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
  })

  it('replays after the messages expired are refused and change nothing', async () => {
    const keyId = await createMrk(p)
    const start = p.deliveries.length
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await p.settle()
    await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    await p.settle()
    const recorded = genuine(p, keyId, start)
    const before = [...p.regions.values()].map((r) => snapshot(r.kms, { full: true }))
    const realNow = Date.now
    Date.now = () => realNow() + 16 * 60_000
    try {
      for (const d of recorded) {
        const result = await deliver(p, d.deliveredTo, d.bytes, d.from)
        assert.equal(result.outcome, 'refused', `${d.type} replayed after it expired`)
        assert.match(result.reason ?? '', /expired/)
      }
    } finally {
      Date.now = realNow
    }
    const afterwards = [...p.regions.values()].map((r) => snapshot(r.kms, { full: true }))
    before.forEach((s, i) => assert.ok(sameSnapshot(s, afterwards[i] as typeof s)))
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })

  it("replaying an old TransferComplete or SyncAck does not regress the primary's view of an in-sync replica", async () => {
    const keyId = await createMrk(p)
    const start = p.deliveries.length
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await p.settle()
    const reports = genuine(p, keyId, start).filter((d) => d.from === B && (d.type === 'TransferComplete' || d.type === 'SyncAck'))
    assert.ok(reports.length >= 2)
    await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    await p.settle()
    const inSync = await replicaViews(p, A, keyId)
    assert.deepEqual(
      inSync.map((v) => [v.Region, v.State, v.MaterialVersions]),
      [[B, 'IN_SYNC', [1, 2]]],
    )
    for (const d of reports) await deliver(p, d.deliveredTo, d.bytes, d.from)
    await p.settle()
    // B still holds versions 1 and 2 and is at the primary's sync version: nothing it said before changes that.
    assert.deepEqual(
      (await replicaViews(p, A, keyId)).map((v) => [v.Region, v.State, v.MaterialVersions]),
      [[B, 'IN_SYNC', [1, 2]]],
      'a replayed report from before the rotation makes the primary believe B lacks version 2',
    )
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })

  it('replaying ReplicaDeleted after the replica was created again does not drop the live replica', async () => {
    const keyId = await replicatedKey(p, [B])
    await kms(B).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    const start = p.deliveries.length
    await p.advance(B, 8 * 86_400)
    const deleted = genuine(p, keyId, start).find((d) => d.type === 'ReplicaDeleted')
    assert.ok(deleted !== undefined)
    // The user replicates the key to B again; it completes.
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await p.settle()
    assert.equal(p.region(B).kms.keys.get(keyId)?.state, 'Enabled')
    // The proxy replays the old ReplicaDeleted (well within its lifetime).
    await deliver(p, deleted.deliveredTo, deleted.bytes, deleted.from)
    await p.settle()
    await p.reconcileAll()
    const primary = (await kms(A).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.deepEqual(
      primary?.MultiRegionConfiguration?.ReplicaKeys?.map((k) => k.Region),
      [B],
      'the replayed ReplicaDeleted of the previous replica removed the live replica from the primary',
    )
    // And so a rotation must still reach B.
    await kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    await p.settle()
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })

  it("replaying a deleted replica's TransferComplete and SyncAck does not make the primary count its successor, still Creating, as created", async () => {
    const keyId = await createMrk(p)
    const start = p.deliveries.length
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await p.settle()
    const reports = genuine(p, keyId, start).filter((d) => d.from === B && (d.type === 'TransferComplete' || d.type === 'SyncAck'))
    await kms(B).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    await p.advance(B, 8 * 86_400)
    // Replicated again, but the proxy withholds every MaterialTransfer: B stays Creating.
    p.intercept = (e) => (e.type === 'MaterialTransfer' ? [] : [{ to: e.to, bytes: e.bytes }])
    try {
      await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
      await p.settle()
      for (const d of reports) await deliver(p, d.deliveredTo, d.bytes, d.from)
      await p.settle()
      assert.equal(p.region(B).kms.keys.get(keyId)?.state, 'Creating')
      const [view] = await replicaViews(p, A, keyId)
      assert.equal(view?.State, 'CREATING', `the primary counts B as created from its predecessor's reports: ${JSON.stringify(view)}`)
      assert.deepEqual(view?.MaterialVersions, [], 'the primary believes B holds material it does not hold')
      // UpdatePrimaryRegion to a replica that is still being created is refused.
      await expectError(kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B })), 'KMSInvalidStateException')
    } finally {
      p.intercept = undefined
    }
    await p.reconcileAll()
    await p.reconcileAll()
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })

  it('replaying ReplicaCreate after the replica was deleted does not resurrect it as a Creating ghost', async () => {
    const keyId = await createMrk(p)
    const start = p.deliveries.length
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await p.settle()
    const create = genuine(p, keyId, start).find((d) => d.type === 'ReplicaCreate')
    assert.ok(create !== undefined)
    await kms(B).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    await p.advance(B, 8 * 86_400)
    await expectError(kms(B).send(new DescribeKeyCommand({ KeyId: keyId })), 'NotFoundException')
    await deliver(p, create.deliveredTo, create.bytes, create.from)
    await p.settle()
    await p.reconcileAll()
    assert.equal(
      p.region(B).kms.keys.get(keyId)?.state,
      undefined,
      'a replayed ReplicaCreate re-created in B a replica the primary does not list, Creating for ever',
    )
    // The user can still replicate the key to B.
    await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await p.settle()
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })

  it('replaying the HandoffRefused of an earlier UpdatePrimaryRegion during a later one does not leave two primaries', async () => {
    const keyId = await replicatedKey(p, [B, C])
    // A first attempt, refused: B is disabled.
    await kms(B).send(new DisableKeyCommand({ KeyId: keyId }))
    const start = p.deliveries.length
    await kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
    await p.settle()
    const refusal = genuine(p, keyId, start).find((d) => d.type === 'HandoffRefused')
    assert.ok(refusal !== undefined)
    assert.equal(p.region(A).kms.keys.get(keyId)?.state, 'Enabled')
    // A second attempt, which B accepts; the proxy replays the old refusal to A first.
    await kms(B).send(new EnableKeyCommand({ KeyId: keyId }))
    await kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
    await deliver(p, refusal.deliveredTo, refusal.bytes, refusal.from)
    await p.settle()
    await p.reconcileAll()
    await p.reconcileAll()
    assert.deepEqual(primariesOf(p, keyId), [B], 'an old HandoffRefused made A primary again while B became primary')
    for (const region of REGIONS) {
      const md = (await kms(region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
      assert.equal(md?.MultiRegionConfiguration?.PrimaryKey?.Region, B, `${region} names B as the primary`)
    }
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
  })

  it('a replayed PrimaryHandoff after the primary moved on changes nothing', async () => {
    const keyId = await replicatedKey(p, [B, C])
    const start = p.deliveries.length
    await kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
    await p.settle()
    await kms(B).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: C }))
    await p.settle()
    const handoffs = genuine(p, keyId, start).filter((d) => d.type === 'PrimaryHandoff')
    assert.equal(handoffs.length, 2)
    const states = stableState(p, keyId, { ignoreReportedHeld: true })
    for (const d of [...handoffs, ...handoffs.reverse()]) {
      const result = await deliver(p, d.deliveredTo, d.bytes, d.from)
      assert.ok(result.outcome === 'duplicate' || result.outcome === 'ignored', JSON.stringify(result))
    }
    await p.settle()
    assert.deepEqual(stableState(p, keyId, { ignoreReportedHeld: true }), states)
    assert.deepEqual(primariesOf(p, keyId), [C])
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
  })
})
