/**
 * The proxy alters messages (docs/spec/replication.md §3.2, §10): every field of every
 * message type a replication, a rotation, a rotation-setting change, an
 * UpdatePrimaryRegion, a refused handoff and a replica deletion produce, and every field
 * of its envelope, altered with the original signature kept; then the same messages
 * re-signed with keys the attacker can get: its own (pinned nowhere), one pinned for
 * another region, a retired one. Each is refused and the receiver's state is unchanged.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  DisableKeyCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  UpdatePrimaryRegionCommand,
} from '@aws-sdk/client-kms'
import { receiveEnvelope } from '../../src/kms/multi-region/inbound.js'
import { FileTrustStore, type TrustStoreDocument } from '../../src/replication/trust-store.js'
import {
  A,
  B,
  C,
  assertSafe,
  assertSameMaterialEverywhere,
  attackerEcdhKey,
  attackerSigningKey,
  bodyOf,
  capture,
  createMrk,
  deliver,
  encodeBody,
  envelopeAlterations,
  everyAlteration,
  hsmSigner,
  openEnvelope,
  rawEnvelope,
  regionSigner,
  replicatedKey,
  resign,
  sameSnapshot,
  sealRaw,
  snapshot,
  stepThrough,
  withBodyKeepingSignature,
  type FieldContext,
  type JsonObject,
  type Signer,
} from '../helpers/adversary.js'
import { startInMemoryPartition, type InFlight, type InMemoryPartition } from '../helpers/in-memory-partition.js'

const REGIONS = [A, B, C]
const ALL_TYPES = [
  'ReplicaCreate',
  'AgreementOffer',
  'MaterialTransfer',
  'TransferComplete',
  'SyncAck',
  'SharedState',
  'PrimaryHandoff',
  'HandoffRefused',
  'ReplicaDeleted',
]

function snapshotAll(p: InMemoryPartition): Map<string, ReturnType<typeof snapshot>> {
  return new Map([...p.regions.values()].map((r) => [r.region, snapshot(r.kms, { full: true })]))
}

function assertUnchanged(p: InMemoryPartition, before: Map<string, ReturnType<typeof snapshot>>, what: string): void {
  for (const r of p.regions.values())
    assert.ok(
      sameSnapshot(before.get(r.region) as ReturnType<typeof snapshot>, snapshot(r.kms, { full: true })),
      `${what}: ${r.region}'s state changed`,
    )
}

/**
 * Drives replicate (B, then C) + rotate + EnableKeyRotation + UpdatePrimaryRegion (A→B) +
 * a refused UpdatePrimaryRegion (B→C while C is disabled) + deletion of the replica in C,
 * one genuine message at a time, `attack` seeing each before it is delivered.
 */
async function fullRun(p: InMemoryPartition, keyId: string, attack: (e: InFlight) => Promise<void>): Promise<InFlight[]> {
  const kms = (region: string) => p.region(region).client()
  const seen: InFlight[] = []
  await stepThrough(p, () => kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B })), attack, seen)
  await stepThrough(p, () => kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: C })), attack, seen)
  await stepThrough(p, () => kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), attack, seen)
  await stepThrough(p, () => kms(A).send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 })), attack, seen)
  await stepThrough(p, () => kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B })), attack, seen)
  await kms(C).send(new DisableKeyCommand({ KeyId: keyId }))
  await stepThrough(p, () => kms(B).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: C })), attack, seen)
  await kms(C).send(new EnableKeyCommand({ KeyId: keyId }))
  await kms(C).send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
  await stepThrough(p, () => p.advance(C, 8 * 86_400), attack, seen)
  return seen.filter((e) => bodyOf(e.bytes).keyId === keyId)
}

describe('a proxy that alters any field of any message, keeping the signature', () => {
  let p: InMemoryPartition
  before(async () => {
    p = await startInMemoryPartition(REGIONS)
  })
  after(async () => {
    await p.close()
  })

  it('every altered body field and every altered envelope field of every message type is refused, and nothing changes', async (t) => {
    const keyId = await createMrk(p)
    const otherKeyId = await createMrk(p)
    const ctx: FieldContext = { regions: REGIONS, otherKeyId, attackerPoint: attackerEcdhKey().point }
    const perType = new Map<string, { messages: number; bodyAlterations: number; envelopeAlterations: number; fields: Set<string> }>()
    const attack = async (e: InFlight): Promise<void> => {
      const before = snapshotAll(p)
      const { envelope, body, bodyBytes } = openEnvelope(e.bytes)
      const stats = perType.get(e.type) ?? { messages: 0, bodyAlterations: 0, envelopeAlterations: 0, fields: new Set<string>() }
      perType.set(e.type, stats)
      stats.messages++
      const receiver = p.region(e.to).kms
      for (const alteration of everyAlteration(body, ctx)) {
        const altered = structuredClone(body)
        alteration.apply(altered)
        const alteredBytes = encodeBody(altered)
        assert.ok(!alteredBytes.equals(bodyBytes), `${e.type} ${alteration.label} must change the body`)
        const result = await receiveEnvelope(receiver, withBodyKeepingSignature(e.bytes, alteredBytes))
        assert.equal(result.outcome, 'refused', `${e.type} with ${alteration.label}: ${JSON.stringify(result)}`)
        assert.match(result.reason ?? '', /signature/, `${e.type} with ${alteration.label} is refused by its signature`)
        stats.bodyAlterations++
        stats.fields.add(alteration.label.split(' ')[0] as string)
      }
      const otherSignatureKeyId = p.trust.pinned.find((k) => k.region !== envelope.from)?.id ?? ''
      for (const alteration of envelopeAlterations(envelope, { ...ctx, otherSignatureKeyId })) {
        const raw = rawEnvelope(e.bytes)
        alteration.raw(raw)
        const result = await receiveEnvelope(receiver, sealRaw(raw))
        assert.equal(result.outcome, 'refused', `${e.type} with envelope ${alteration.label}: ${JSON.stringify(result)}`)
        stats.envelopeAlterations++
      }
      assertUnchanged(p, before, `altered ${e.type}`)
    }
    const seen = await fullRun(p, keyId, attack)

    // Every message type occurred, and was attacked in every field.
    assert.deepEqual(new Set(seen.map((e) => e.type)), new Set(ALL_TYPES))
    for (const type of ALL_TYPES) {
      const stats = perType.get(type)
      assert.ok(stats !== undefined && stats.bodyAlterations > 0 && stats.envelopeAlterations >= 30, `${type} was attacked`)
    }
    const fields = (type: string): Set<string> => perType.get(type)?.fields ?? new Set()
    // Spot checks that the walk reached nested leaves.
    for (const field of [
      'shared.materials.0.materialId',
      'shared.rotation.periodInDays',
      'shared.replicaRegions.0',
      'replica.tags',
      'replica.policy',
      'replicationId',
    ]) {
      assert.ok(fields('ReplicaCreate').has(field), `ReplicaCreate.${field}`)
    }
    for (const field of [
      'rakaPublicKey',
      'rakbPublicKey',
      'materials.0.wrapped',
      'materials.0.materialId',
      'materials.0.version',
      'sessionId',
      'shared.currentVersion',
    ]) {
      assert.ok(fields('MaterialTransfer').has(field), `MaterialTransfer.${field}`)
    }
    for (const field of ['protocol', 'type', 'messageId', 'partition', 'from', 'to', 'keyId', 'issuedAt', 'expiresAt']) {
      for (const type of ALL_TYPES) assert.ok(fields(type).has(field), `${type}.${field}`)
    }
    assert.ok(fields('SharedState').has('shared.rotation.enabled'))
    assert.ok(fields('SyncAck').has('held.0.materialId'))
    assert.ok(fields('HandoffRefused').has('reason'))
    const total = [...perType.values()].reduce((n, s) => n + s.bodyAlterations + s.envelopeAlterations, 0)
    assert.ok(total > 2000, `${total} altered messages`)
    for (const [type, s] of perType)
      t.diagnostic(
        `${type}: ${s.messages} messages, ${s.fields.size} body fields, ${s.bodyAlterations} body + ${s.envelopeAlterations} envelope alterations`,
      )
    t.diagnostic(`${total} altered messages refused`)

    // The genuine run completed: A and B hold the key, C deleted its replica.
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })
})

describe('a proxy that re-signs altered messages with keys it can get', () => {
  let p: InMemoryPartition
  before(async () => {
    p = await startInMemoryPartition(REGIONS)
  })
  after(async () => {
    await p.close()
  })

  it('signed by its own key, by a key pinned for another region, or by the receiver: refused for every message type', async (t) => {
    const keyId = await createMrk(p)
    const otherKeyId = await createMrk(p)
    const attacker = attackerSigningKey()
    const ctx: FieldContext = { regions: REGIONS, otherKeyId, attackerPoint: attackerEcdhKey().point }
    const signers = new Map<string, Signer>()
    for (const region of REGIONS) signers.set(region, await regionSigner(p.region(region).kms))
    let attempts = 0
    const attack = async (e: InFlight): Promise<void> => {
      const before = snapshotAll(p)
      const { body, envelope } = openEnvelope(e.bytes)
      const victimKeyId = envelope.signature.keyId
      const alterations: Array<{ label: string; apply: (b: JsonObject) => void }> = [
        { label: 'unaltered', apply: () => undefined },
        { label: 'keyId moved to another key', apply: (b) => (b.keyId = otherKeyId) },
        ...everyAlteration(body, ctx).filter((_, i) => i % 17 === 0),
      ]
      const others = REGIONS.filter((r) => r !== envelope.from)
      for (const alteration of alterations) {
        const cases: Array<{ label: string; bytes: Uint8Array }> = [
          { label: "the attacker's own key", bytes: await resign(e.bytes, attacker, { body: alteration.apply }) },
          {
            label: "the attacker's key naming the sender's pinned RSK id",
            bytes: await resign(e.bytes, attacker.claiming(victimKeyId), { body: alteration.apply }),
          },
        ]
        for (const other of others) {
          const signer = signers.get(other) as Signer
          const role = other === e.to ? 'the receiver' : 'a third region'
          cases.push({
            label: `${role} (${other})'s pinned RSK, claiming the sender`,
            bytes: await resign(e.bytes, signer, { body: alteration.apply }),
          })
          cases.push({
            label: `${role} (${other})'s pinned RSK, envelope naming ${other} as sender`,
            bytes: await resign(e.bytes, signer, { body: alteration.apply, envelope: (env) => (env.from = other) }),
          })
        }
        for (const c of cases) {
          const result = await receiveEnvelope(p.region(e.to).kms, c.bytes)
          assert.equal(result.outcome, 'refused', `${e.type} (${alteration.label}) re-signed with ${c.label}: ${JSON.stringify(result)}`)
          attempts++
        }
      }
      assertUnchanged(p, before, `re-signed ${e.type}`)
    }
    const seen = await fullRun(p, keyId, attack)
    assert.deepEqual(new Set(seen.map((e) => e.type)), new Set(ALL_TYPES))
    assert.ok(attempts > 500, `${attempts} re-signed messages`)
    t.diagnostic(`${attempts} re-signed messages refused`)
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })
})

describe('a proxy that holds messages signed with a key that is then retired', () => {
  let p: InMemoryPartition
  let dir: string
  before(async () => {
    p = await startInMemoryPartition(REGIONS)
    dir = mkdtempSync(join(tmpdir(), 'trent-adversarial-'))
  })
  after(async () => {
    await p.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("after the sender's RSK rotation retires it, messages signed with it are refused (real FileTrustStore)", async () => {
    // The production trust store, with status, re-read on change.
    const path = join(dir, 'trust-store.json')
    const document = (): TrustStoreDocument => ({ partition: p.trust.partition, regions: {} })
    const write = (doc: TrustStoreDocument, mtime: number): void => {
      writeFileSync(path, JSON.stringify(doc))
      utimesSync(path, mtime, mtime)
    }
    const pins = document()
    for (const pin of p.trust.pinned)
      (pins.regions[pin.region] ??= []).push({ id: pin.id, publicKey: Buffer.from(pin.spki).toString('base64'), status: 'active' })
    write(pins, 1_000_000)
    for (const r of p.regions.values()) r.kms.peers = new FileTrustStore(path)

    const keyId = await replicatedKey(p, [B, C])
    // Messages A signs with its current RSK, held back by the proxy: a rotation (v2) and a rotation-setting change.
    const proxy = capture(p)
    await p
      .region(A)
      .client()
      .send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    const held = await proxy.next()
    proxy.stop()
    assert.ok(held.some((e) => e.type === 'SharedState'))
    const oldRsk = openEnvelope((held[0] as InFlight).bytes).envelope.signature.keyId

    // A rotates its RSK: the new key is pinned active everywhere, the old one retired.
    const fresh = await p.region(A).kms.hsm.rotateReplicationSigningKey()
    const rotated = document()
    for (const [region, keys] of Object.entries(pins.regions))
      rotated.regions[region] = keys.map((k) => ({ ...k, status: region === A && k.id === oldRsk ? 'retired' : k.status }))
    rotated.regions[A]?.push({ id: fresh.id, publicKey: Buffer.from(fresh.publicKey).toString('base64'), status: 'active' })
    write(rotated, 2_000_000)

    const before = snapshotAll(p)
    for (const e of held) {
      const result = await deliver(p, e.to, e.bytes, e.from)
      assert.equal(result.outcome, 'refused', `${e.type} signed with the retired RSK: ${JSON.stringify(result)}`)
      // And altered, then "re-signed" by an attacker naming the retired key id.
      const forged = await resign(e.bytes, attackerSigningKey().claiming(oldRsk), { body: (b) => (b.issuedAt = Number(b.issuedAt) + 1) })
      assert.equal((await receiveEnvelope(p.region(e.to).kms, forged)).outcome, 'refused')
    }
    // Signed by the retired key, claiming to come from another region: still refused.
    const sharedState = held.find((e) => e.type === 'SharedState') as InFlight
    const claimingB = await resign(sharedState.bytes, hsmSigner(p.region(A).kms.hsm, oldRsk), { body: (b) => (b.from = B) })
    assert.equal((await receiveEnvelope(p.region(C).kms, claimingB)).outcome, 'refused')
    assertUnchanged(p, before, 'messages signed with a retired RSK')

    // The replicas do not hold version 2 yet, and the primary has not made it current.
    for (const region of [B, C])
      assert.deepEqual(
        p
          .region(region)
          .kms.materials.get(keyId)
          ?.map((m) => m.version),
        [1],
      )
    assert.equal(p.region(A).kms.keys.get(keyId)?.currentMaterialVersion, 1)
    await assertSafe(p, keyId)

    // Signed with the new RSK, reconciliation completes the rotation.
    await p.reconcileAll()
    await p.reconcileAll()
    assert.equal(p.region(A).kms.keys.get(keyId)?.currentMaterialVersion, 2)
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B, C] })
    // Back to the in-memory store, with A's new RSK pinned and the old one gone.
    p.trust.pinned = [...p.trust.pinned.filter((k) => k.id !== oldRsk), { region: A, id: fresh.id, spki: fresh.publicKey }]
    for (const r of p.regions.values()) r.kms.peers = p.trust
  })

  it('a key removed from the in-memory trust store (unpinned) signs nothing that is accepted', async () => {
    const keyId = await replicatedKey(p, [B])
    const proxy = capture(p)
    await p
      .region(A)
      .client()
      .send(new EnableKeyRotationCommand({ KeyId: keyId }))
    const held = await proxy.next()
    proxy.stop()
    const pinned = [...p.trust.pinned]
    const rskOfA = openEnvelope((held[0] as InFlight).bytes).envelope.signature.keyId
    p.trust.pinned = pinned.filter((k) => k.id !== rskOfA)
    try {
      const before = snapshotAll(p)
      for (const e of held) assert.equal((await deliver(p, e.to, e.bytes, e.from)).outcome, 'refused')
      assertUnchanged(p, before, 'messages signed with an unpinned RSK')
      assert.equal(p.region(B).kms.keys.get(keyId)?.rotation.enabled, false)
    } finally {
      p.trust.pinned = pinned
    }
    await p.reconcileAll()
    assert.equal(p.region(B).kms.keys.get(keyId)?.rotation.enabled, true)
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })
})
