/**
 * The proxy drops, duplicates, delays and reorders messages (docs/spec/replication.md
 * §7.1, §7.3, §8, §10 "drops or delays", "reorders"): a fast-check property over random
 * schedules during replicate + rotate + rotation-setting changes. While the adversary is
 * at work, nothing unsafe may happen (one primary, one material per version, nothing
 * encrypted under a version a related key lacks, no replica counted IN_SYNC that is not);
 * once it stops and reconciliation runs, every replica is Enabled with exactly the
 * primary's material. Then two schedules around UpdatePrimaryRegion found by hand.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  UpdatePrimaryRegionCommand,
} from '@aws-sdk/client-kms'
import {
  A,
  B,
  C,
  assertSafe,
  assertSameMaterialEverywhere,
  createMrk,
  decryptIn,
  deliver,
  encryptIn,
  primariesOf,
  replicaViews,
  replicatedKey,
  shuffleBy,
  usableHolders,
  type Ciphertext,
} from '../helpers/adversary.js'
import { startInMemoryPartition, type InFlight, type InMemoryPartition } from '../helpers/in-memory-partition.js'

const REGIONS = [A, B, C]

type Decision = 'deliver' | 'drop' | 'duplicate' | 'hold'
type Op = 'replicateC' | 'rotate' | 'enableRotation' | 'disableRotation' | 'release' | 'reconcile'

const decisionArb: fc.Arbitrary<Decision> = fc.oneof(
  { arbitrary: fc.constant<Decision>('deliver'), weight: 4 },
  { arbitrary: fc.constant<Decision>('drop'), weight: 2 },
  { arbitrary: fc.constant<Decision>('duplicate'), weight: 1 },
  { arbitrary: fc.constant<Decision>('hold'), weight: 2 },
)
const opArb: fc.Arbitrary<Op> = fc.constantFrom<Op>('replicateC', 'rotate', 'enableRotation', 'disableRotation', 'release', 'reconcile')
const scheduleArb = fc.record({
  ops: fc.array(opArb, { minLength: 2, maxLength: 6 }),
  decisions: fc.array(decisionArb, { minLength: 1, maxLength: 40 }),
  order: fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 12 }),
})
type Schedule = { ops: Op[]; decisions: Decision[]; order: number[] }

/**
 * Awaits an operation a fix could legitimately refuse because of the key's state
 * (KMSInvalidStateException, ConflictException): true if it was accepted. The tests
 * below assert the invariant (one primary, every replica complete), not which fix.
 */
async function acceptedUnlessStateForbids(work: Promise<unknown>): Promise<boolean> {
  try {
    await work
    return true
  } catch (err) {
    if (['KMSInvalidStateException', 'ConflictException'].includes((err as { name?: string }).name ?? '')) return false
    throw err
  }
}

/** Errors the API may rightly answer to an op the schedule makes at a bad moment. */
const EXPECTED = new Set(['ConflictException', 'AlreadyExistsException'])

/**
 * Runs one schedule in a fresh partition: ReplicateKey(B) then `ops`, every envelope
 * through the adversary; safety checked after every step. Returns the partition (open),
 * the key and the ciphertexts made, with the adversary stopped and its held messages
 * released in a shuffled order.
 */
async function runUnderAttack(s: Schedule): Promise<{ p: InMemoryPartition; keyId: string; replicas: string[]; made: Ciphertext[] }> {
  const p = await startInMemoryPartition(REGIONS)
  const keyId = await createMrk(p)
  const held: InFlight[] = []
  const released = new Set<Uint8Array>()
  let next = 0
  p.intercept = (e) => {
    if (released.delete(e.bytes)) return [{ to: e.to, bytes: e.bytes }]
    const decision = s.decisions[next++ % s.decisions.length] ?? 'deliver'
    switch (decision) {
      case 'deliver':
        return [{ to: e.to, bytes: e.bytes }]
      case 'drop':
        return []
      case 'duplicate':
        return [
          { to: e.to, bytes: e.bytes },
          { to: e.to, bytes: e.bytes },
        ]
      case 'hold':
        held.push(e)
        return []
    }
  }
  const release = (): void => {
    const batch = shuffleBy(held.splice(0), s.order)
    for (const e of batch) released.add(e.bytes)
    p.queue.push(...batch)
  }
  const replicas = [B]
  const made: Ciphertext[] = []
  const client = (region: string) => p.region(region).client()
  for (const op of ['replicateB' as const, ...s.ops]) {
    try {
      switch (op) {
        case 'replicateB':
          await client(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
          break
        case 'replicateC':
          await client(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: C }))
          if (!replicas.includes(C)) replicas.push(C)
          break
        case 'rotate':
          await client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
          break
        case 'enableRotation':
          await client(A).send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 + next }))
          break
        case 'disableRotation':
          await client(A).send(new DisableKeyRotationCommand({ KeyId: keyId }))
          break
        case 'release':
          release()
          break
        case 'reconcile':
          await p.reconcileAll()
          break
      }
    } catch (err) {
      if (!EXPECTED.has((err as { name?: string }).name ?? '')) throw err
    }
    await p.settle()
    // Safety, with the adversary still at work.
    await assertSafe(p, keyId)
    const holders = usableHolders(p, keyId)
    for (const region of holders) {
      const c = await encryptIn(p, region, keyId, `after ${op} in ${region} #${made.length}`)
      made.push(c)
      for (const other of holders) await decryptIn(p, other, c)
    }
  }
  // The adversary stops; what it held arrives late, in a shuffled order.
  p.intercept = undefined
  release()
  await p.settle()
  await assertSafe(p, keyId)
  return { p, keyId, replicas, made }
}

describe('a proxy that drops, duplicates, delays and reorders messages', () => {
  it('never makes anything unsafe, whatever the schedule (property)', async () => {
    await fc.assert(
      fc.asyncProperty(scheduleArb, async (s) => {
        const { p, keyId, made } = await runUnderAttack(s)
        try {
          for (const c of made) for (const region of usableHolders(p, keyId)) await decryptIn(p, region, c)
        } finally {
          await p.close()
        }
      }),
      { numRuns: 20 },
    )
  })

  it('once it stops, reconciliation brings every replica to exactly the primary’s material (property)', async () => {
    await fc.assert(
      fc.asyncProperty(scheduleArb, async (s) => {
        const { p, keyId, replicas, made } = await runUnderAttack(s)
        try {
          for (let i = 0; i < 4; i++) await p.reconcileAll()
          const primary = p.region(A).kms.keys.get(keyId)
          const newest = Math.max(...(p.region(A).kms.materials.get(keyId) ?? []).map((m) => m.version))
          assert.equal(primary?.currentMaterialVersion, newest, 'the pending rotation was made current')
          for (const region of replicas) {
            const key = p.region(region).kms.keys.get(keyId)
            assert.equal(key?.state, 'Enabled', `${region} is Enabled`)
            assert.equal(key?.currentMaterialVersion, newest, `${region} encrypts with the primary's current version`)
          }
          await assertSameMaterialEverywhere(p, keyId, { earlier: made, expectRegions: [A, ...replicas] })
          const settings = await Promise.all(
            [A, ...replicas].map(async (r) =>
              p
                .region(r)
                .client()
                .send(new GetKeyRotationStatusCommand({ KeyId: keyId })),
            ),
          )
          for (const status of settings) {
            assert.equal(status.KeyRotationEnabled, settings[0]?.KeyRotationEnabled)
            assert.equal(status.RotationPeriodInDays, settings[0]?.RotationPeriodInDays)
          }
        } finally {
          await p.close()
        }
      }),
      {
        numRuns: 20,
        // Found by this property (shrunk): ReplicaCreate, AgreementOffer and MaterialTransfer
        // delivered, then B's TransferComplete and SyncAck both dropped. Kept so it runs every time.
        examples: [
          [{ ops: ['replicateC', 'replicateC'], decisions: ['deliver', 'deliver', 'deliver', 'drop', 'drop', 'deliver'], order: [0] }],
        ],
      },
    )
  })
})

describe('schedules around UpdatePrimaryRegion', () => {
  it('a HandoffRefused delayed until a retried handoff has succeeded does not leave two primaries', async () => {
    const p = await startInMemoryPartition(REGIONS)
    try {
      const client = (region: string) => p.region(region).client()
      const keyId = await replicatedKey(p, [B, C])
      await client(B).send(new DisableKeyCommand({ KeyId: keyId }))
      // B refuses the handoff; the proxy holds the refusal back.
      const heldRefusals: InFlight[] = []
      p.intercept = (e) => (e.type === 'HandoffRefused' ? (heldRefusals.push(e), []) : [{ to: e.to, bytes: e.bytes }])
      await client(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
      await p.settle()
      assert.equal(heldRefusals.length, 1)
      assert.equal(p.region(A).kms.keys.get(keyId)?.state, 'Updating')
      // The user enables B; A's reconciliation offers the handoff again, and B takes it.
      // The proxy holds B's SharedState to A back too, and delivers the old refusal first.
      await client(B).send(new EnableKeyCommand({ KeyId: keyId }))
      const heldToA: InFlight[] = []
      p.intercept = (e) => (e.from === B && e.to === A ? (heldToA.push(e), []) : [{ to: e.to, bytes: e.bytes }])
      await p.reconcileAll()
      // B refused this handoff once, so it refuses the re-offer too (spec §9.1): a handoff
      // refused stays refused, whatever arrives later. UpdatePrimaryRegion needs both keys
      // Enabled when it starts; this one did not succeed, as it would not on AWS.
      p.intercept = undefined
      for (const e of [...heldRefusals, ...heldToA]) await deliver(p, e.to, e.bytes, e.from)
      await p.settle()
      for (let i = 0; i < 3; i++) await p.reconcileAll()
      assert.deepEqual(primariesOf(p, keyId), [A], 'exactly one primary: the refused handoff left A primary')
      assert.equal(p.region(A).kms.keys.get(keyId)?.state, 'Enabled')
      await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
    } finally {
      p.intercept = undefined
      await p.close()
    }
  })

  it('a rotation pending at UpdatePrimaryRegion, with the PrimaryHandoff delayed until the rotation completed: the handoff still completes', async () => {
    const p = await startInMemoryPartition(REGIONS)
    try {
      const client = (region: string) => p.region(region).client()
      const keyId = await replicatedKey(p, [B])
      const held: InFlight[] = []
      p.intercept = (e) => (e.type === 'SharedState' || e.type === 'PrimaryHandoff' ? (held.push(e), []) : [{ to: e.to, bytes: e.bytes }])
      await client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
      await p.settle()
      const handedOff = await acceptedUnlessStateForbids(client(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B })))
      await p.settle()
      // The rotation's SharedState first: B fetches version 2 and reports it to A.
      p.intercept = undefined
      for (const e of held.filter((x) => x.type === 'SharedState')) await deliver(p, e.to, e.bytes, e.from)
      await p.settle()
      // Then the handoff, late; then reconciliation offers it again as often as it likes.
      for (const e of held.filter((x) => x.type === 'PrimaryHandoff')) await deliver(p, e.to, e.bytes, e.from)
      await p.settle()
      for (let i = 0; i < 3; i++) await p.reconcileAll()
      const [primary, replica] = handedOff ? [B, A] : [A, B]
      assert.deepEqual(
        [primary, replica].map((r) => [r, p.region(r).kms.keys.get(keyId)?.state, p.region(r).kms.keys.get(keyId)?.mrk?.role]),
        [
          [primary, 'Enabled', 'PRIMARY'],
          [replica, 'Enabled', 'REPLICA'],
        ],
        'A stays Updating for ever: it promoted the pending rotation during the handoff (sync version + 1, broadcast as primary), so every PrimaryHandoff it offers again carries a sync version B already has, and B ignores it',
      )
      assert.equal(p.region(primary).kms.keys.get(keyId)?.currentMaterialVersion, 2)
      await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
    } finally {
      p.intercept = undefined
      await p.close()
    }
  })

  it('a ReplicaCreate lost while the primary hands off: the new primary still creates the replica', async () => {
    const p = await startInMemoryPartition(REGIONS)
    try {
      const client = (region: string) => p.region(region).client()
      const keyId = await replicatedKey(p, [C])
      // Everything to B is dropped while A replicates to B and hands the primary role to C.
      p.intercept = (e) => (e.to === B ? [] : [{ to: e.to, bytes: e.bytes }])
      await client(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
      await p.settle()
      const primary = (await acceptedUnlessStateForbids(client(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: C }))))
        ? C
        : A
      await p.settle()
      assert.deepEqual(primariesOf(p, keyId), [primary])
      const [view] = (await replicaViews(p, primary, keyId)).filter((v) => v.Region === B)
      assert.equal(
        view?.State,
        'CREATING',
        `the new primary counts B, which holds no key at all, as created (and has lost what it needs to create it): ${JSON.stringify(view)}`,
      )
      p.intercept = undefined
      await client(primary).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
      for (let i = 0; i < 3; i++) await p.reconcileAll()
      assert.equal(p.region(B).kms.keys.get(keyId)?.state, 'Enabled', 'B, listed as a replica everywhere, is never created')
      assert.equal(p.region(primary).kms.keys.get(keyId)?.currentMaterialVersion, 2, 'the rotation completes')
      await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
    } finally {
      p.intercept = undefined
      await p.close()
    }
  })

  it('a ReplicaCreate delayed past UpdatePrimaryRegion and a rotation: the late replica fetches every version', async () => {
    const p = await startInMemoryPartition(REGIONS)
    try {
      const client = (region: string) => p.region(region).client()
      const keyId = await replicatedKey(p, [C])
      const toB: InFlight[] = []
      const transfersToA: InFlight[] = []
      p.intercept = (e) => (e.to === B ? (toB.push(e), []) : [{ to: e.to, bytes: e.bytes }])
      await client(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
      await p.settle()
      const primary = (await acceptedUnlessStateForbids(client(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: C }))))
        ? C
        : A
      await p.settle()
      // The primary rotates; A (if now a replica) cannot fetch version 2 yet.
      p.intercept = (e) =>
        e.to === B
          ? (toB.push(e), [])
          : e.to === A && e.type === 'MaterialTransfer'
            ? (transfersToA.push(e), [])
            : [{ to: e.to, bytes: e.bytes }]
      await client(primary).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
      await p.settle()
      // The old ReplicaCreate reaches B at last: B opens its session with A, the region that
      // sent it, which answers with its own view of the shared state.
      p.intercept = (e) => (e.to === A && e.type === 'MaterialTransfer' ? (transfersToA.push(e), []) : [{ to: e.to, bytes: e.bytes }])
      const create = toB.find((e) => e.type === 'ReplicaCreate') as InFlight
      await deliver(p, B, create.bytes, A)
      await p.settle()
      // The attack stops; everything held arrives; reconciliation runs.
      p.intercept = undefined
      for (const e of [...toB.filter((x) => x !== create), ...transfersToA]) await deliver(p, e.to, e.bytes, e.from)
      await p.settle()
      for (let i = 0; i < 4; i++) await p.reconcileAll()
      assert.deepEqual(
        p
          .region(B)
          .kms.materials.get(keyId)
          ?.map((m) => m.version),
        [1, 2],
        `B adopted A's stale shared state (sync ${p.region(B).kms.keys.get(keyId)?.mrk?.syncVersion ?? '?'}, versions [1]) at the primary's sync version, and ignores the primary's SharedState as a duplicate`,
      )
      assert.equal(p.region(primary).kms.keys.get(keyId)?.currentMaterialVersion, 2, 'the rotation completes')
      await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
    } finally {
      p.intercept = undefined
      await p.close()
    }
  })

  for (const change of ['RotateKeyOnDemand', 'EnableKeyRotation'] as const) {
    it(`${change} on the primary while it hands off (no attack, in-order delivery) does not leave two primaries`, async () => {
      const p = await startInMemoryPartition(REGIONS)
      try {
        const client = (region: string) => p.region(region).client()
        const keyId = await replicatedKey(p, [B, C])
        await client(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
        // Today both are accepted on a key in Updating; refusing them would be a fix too.
        await acceptedUnlessStateForbids(
          change === 'RotateKeyOnDemand'
            ? client(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
            : client(A).send(new EnableKeyRotationCommand({ KeyId: keyId })),
        )
        await p.settle()
        for (let i = 0; i < 3; i++) await p.reconcileAll()
        assert.deepEqual(primariesOf(p, keyId), [B], `after ${change} during the handoff`)
        for (const region of REGIONS)
          assert.equal(p.region(region).kms.keys.get(keyId)?.mrk?.primaryRegion, B, `${region} names B as primary`)
        await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
      } finally {
        await p.close()
      }
    })
  }
})
