/**
 * The proxy redirects messages (docs/spec/replication.md §3.2 rule 2, §4, §6.2, §10):
 * to another region than the one named, into another session or key, splices one key's
 * wrapped material into another's transfer, and swaps the ephemeral public keys for its
 * own (the classic man in the middle). Where the attack is already stopped by the
 * signature, the test also re-signs with the genuine sender's own RSK, as if signatures
 * could be bypassed, to show the second layer: the session checks and the RWK/AAD binding.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { ReplicateKeyCommand, RotateKeyOnDemandCommand, UpdatePrimaryRegionCommand } from '@aws-sdk/client-kms'
import { receiveEnvelope } from '../../src/kms/multi-region/inbound.js'
import {
  A,
  B,
  C,
  assertSafe,
  assertSameMaterialEverywhere,
  attackerEcdhKey,
  attackerSigningKey,
  attackerUnwrap,
  bodyOf,
  capture,
  countAgreements,
  createMrk,
  deliver,
  openEnvelope,
  regionSigner,
  resign,
  sameSnapshot,
  snapshot,
  stepThrough,
  tamperBody,
  tamperEnvelope,
  type Json,
  type JsonObject,
  type Signer,
} from '../helpers/adversary.js'
import { startInMemoryPartition, type InFlight, type InMemoryPartition } from '../helpers/in-memory-partition.js'

const REGIONS = [A, B, C]

function snapshotAll(p: InMemoryPartition): Array<ReturnType<typeof snapshot>> {
  return [...p.regions.values()].map((r) => snapshot(r.kms, { full: true }))
}

function assertUnchanged(p: InMemoryPartition, before: Array<ReturnType<typeof snapshot>>, what: string): void {
  const now = snapshotAll(p)
  before.forEach((s, i) => assert.ok(sameSnapshot(s, now[i] as typeof s), `${what}: ${[...p.regions.keys()][i] ?? ''}'s state changed`))
}

describe('a proxy that redirects messages', () => {
  let p: InMemoryPartition
  const kms = (region: string) => p.region(region).client()
  before(async () => {
    p = await startInMemoryPartition(REGIONS)
  })
  after(async () => {
    await p.close()
  })

  it('every message delivered to another region than its to, as is or with envelope.to rewritten, is refused there', async () => {
    const keyId = await createMrk(p)
    let redirected = 0
    const attack = async (e: InFlight): Promise<void> => {
      const before = snapshotAll(p)
      for (const elsewhere of REGIONS.filter((r) => r !== e.to)) {
        const asIs = await receiveEnvelope(p.region(elsewhere).kms, e.bytes)
        assert.equal(asIs.outcome, 'refused', `${e.type} ${e.from}→${e.to} delivered to ${elsewhere}: ${JSON.stringify(asIs)}`)
        assert.match(asIs.reason ?? '', /another region/)
        const readdressed = tamperEnvelope(e.bytes, (env) => (env.to = elsewhere))
        const rewritten = await receiveEnvelope(p.region(elsewhere).kms, readdressed)
        assert.equal(rewritten.outcome, 'refused', `${e.type} readdressed to ${elsewhere}: ${JSON.stringify(rewritten)}`)
        // The body's to rewritten too, keeping the signature.
        const both = tamperBody(readdressed, (b) => (b.to = elsewhere))
        assert.equal((await receiveEnvelope(p.region(elsewhere).kms, both)).outcome, 'refused')
        redirected += 3
      }
      assertUnchanged(p, before, `redirected ${e.type}`)
    }
    const seen: InFlight[] = []
    await stepThrough(p, () => kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B })), attack, seen)
    await stepThrough(p, () => kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: C })), attack, seen)
    await stepThrough(p, () => kms(A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })), attack, seen)
    await stepThrough(p, () => kms(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: C })), attack, seen)
    assert.ok(new Set(seen.map((e) => e.type)).size >= 7)
    assert.ok(redirected > 100)
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: REGIONS })
  })

  it('a MaterialTransfer moved into another session or key, or carrying another key’s wrapped material, is refused and no wrong material is stored', async () => {
    // Three keys replicated to B at once; the proxy holds their MaterialTransfers.
    const keys = [await createMrk(p), await createMrk(p), await createMrk(p)]
    const transfers = new Map<string, InFlight>()
    const proxy = capture(p)
    try {
      for (const keyId of keys) await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
      for (let batch = await proxy.next(); batch.length > 0; batch = await proxy.next()) {
        for (const e of batch) {
          if (e.type === 'MaterialTransfer') transfers.set(String(bodyOf(e.bytes).keyId), e)
          else await deliver(p, e.to, e.bytes, e.from)
        }
      }
    } finally {
      proxy.stop()
    }
    const [k1, k2, k3] = keys as [string, string, string]
    const t1 = transfers.get(k1) as InFlight
    const t2 = transfers.get(k2) as InFlight
    const t3 = transfers.get(k3) as InFlight
    const b1 = bodyOf(t1.bytes)
    const b2 = bodyOf(t2.bytes)
    const sessions = p.region(B).kms.sessions
    assert.equal([...sessions.values()].filter((s) => keys.includes(s.keyId)).length, 3, 'B has a session open per key')
    const sourceRsk: Signer = await regionSigner(p.region(A).kms)
    const attacker = attackerSigningKey()
    const refused = async (bytes: Uint8Array, what: string, reason?: RegExp): Promise<void> => {
      const result = await receiveEnvelope(p.region(B).kms, bytes)
      assert.equal(result.outcome, 'refused', `${what}: ${JSON.stringify(result)}`)
      if (reason !== undefined) assert.match(result.reason ?? '', reason, what)
    }
    const noMaterial = (what: string): void => {
      for (const keyId of keys) {
        assert.equal(p.region(B).kms.materials.get(keyId), undefined, `${what}: B stored material for ${keyId}`)
        assert.equal(p.region(B).kms.keys.get(keyId)?.state, 'Creating')
      }
    }
    const intoSession2 = (b: JsonObject): void => {
      b.sessionId = b2.sessionId as string
    }
    const intoKey2 = (b: JsonObject): void => {
      b.sessionId = b2.sessionId as string
      b.keyId = k2
    }
    const intoKey2WithItsRakb = (b: JsonObject): void => {
      intoKey2(b)
      b.rakbPublicKey = b2.rakbPublicKey as string
    }

    // 1. Key 1's transfer moved into key 2's session: the signature stops it; signed by
    //    the attacker, too; signed by A itself, the session check stops it.
    await refused(tamperBody(t1.bytes, intoSession2), 'T1 moved into S2, signature kept', /signature/)
    await refused(await resign(t1.bytes, attacker, { body: intoSession2 }), 'T1 moved into S2, signed by the attacker', /signature/)
    await refused(
      await resign(t1.bytes, sourceRsk, { body: intoSession2 }),
      "T1 moved into S2, signed by A's own RSK",
      /does not match the session/,
    )
    await refused(
      await resign(t1.bytes, sourceRsk, { body: intoKey2 }),
      "T1 moved into key 2 and S2, signed by A's own RSK",
      /does not match the session/,
    )
    noMaterial('after moving T1')
    // 2. ... and with S2's RAKB echoed, every check passes but the RWK was derived for key 1,
    //    session 1 and B's first RAKB: the unwrap fails, nothing is stored (and S2 is spent).
    await refused(tamperBody(t1.bytes, intoKey2WithItsRakb), 'T1 fully moved into key 2, signature kept', /signature/)
    await refused(
      await resign(t1.bytes, sourceRsk, { body: intoKey2WithItsRakb }),
      "T1 fully moved into key 2, signed by A's own RSK",
      /did not unwrap/,
    )
    noMaterial('after moving T1 into key 2')
    assert.equal(sessions.get(String(b2.sessionId)), undefined, 'the failed unwrap closed S2 (its RAKB is gone)')

    // 3. Key 1's wrapped material spliced into key 3's transfer (ids and all, or the blobs only).
    const splice = (b: JsonObject): void => {
      b.materials = structuredClone(b1.materials as Json)
    }
    const spliceBlobs = (b: JsonObject): void => {
      const theirs = b1.materials as JsonObject[]
      ;(b.materials as JsonObject[]).forEach((m, i) => (m.wrapped = (theirs[i]?.wrapped ?? m.wrapped) as Json))
    }
    await refused(tamperBody(t3.bytes, splice), 'key 1 material spliced into T3, signature kept', /signature/)
    await refused(tamperBody(t3.bytes, spliceBlobs), 'key 1 blobs spliced into T3, signature kept', /signature/)
    await refused(
      await resign(t3.bytes, attacker.claiming(openEnvelope(t3.bytes).envelope.signature.keyId), { body: splice }),
      'spliced, signed by the attacker naming A’s key',
      /signature/,
    )
    await refused(
      await resign(t3.bytes, sourceRsk, { body: spliceBlobs }),
      "key 1 blobs spliced into T3, signed by A's own RSK",
      /did not unwrap/,
    )
    noMaterial('after splicing')

    // 4. The genuine T1 still completes its own session; T2 and T3 found theirs spent.
    assert.equal((await deliver(p, B, t1.bytes, A)).outcome, 'applied')
    assert.notEqual((await deliver(p, B, t2.bytes, A)).outcome, 'applied')
    assert.notEqual((await deliver(p, B, t3.bytes, A)).outcome, 'applied')
    await p.settle()
    await assertSafe(p, k2)
    // Reconciliation opens new sessions for keys 2 and 3.
    await p.reconcileAll()
    await p.reconcileAll()
    for (const keyId of keys) await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })

  it("an AgreementOffer whose RAKB is swapped for the attacker's is refused before anything is wrapped, and nothing the attacker sees unwraps under its key", async () => {
    const keyId = await createMrk(p)
    const mitm = attackerEcdhKey()
    const attacker = attackerSigningKey()
    const agreements = countAgreements(p)
    let offer: InFlight | undefined
    let transfer: InFlight | undefined
    const proxy = capture(p)
    try {
      await kms(A).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
      for (let batch = await proxy.next(); batch.length > 0 && offer === undefined; batch = await proxy.next()) {
        for (const e of batch) {
          if (e.type === 'AgreementOffer') offer = e
          else await deliver(p, e.to, e.bytes, e.from)
        }
      }
      assert.ok(offer !== undefined)
      const victimRsk = openEnvelope(offer.bytes).envelope.signature.keyId
      const third: Signer = await regionSigner(p.region(C).kms)
      const swap = (b: JsonObject): void => {
        b.rakbPublicKey = mitm.point
      }
      const before = snapshotAll(p)
      const attempts: Array<[string, Uint8Array]> = [
        ['signature kept', tamperBody(offer.bytes, swap)],
        ["signed by the attacker's key", await resign(offer.bytes, attacker, { body: swap })],
        ["signed by the attacker's key naming B's RSK", await resign(offer.bytes, attacker.claiming(victimRsk), { body: swap })],
        ["signed by C's pinned RSK, claiming B", await resign(offer.bytes, third, { body: swap })],
        ["signed by C's pinned RSK, envelope from C", await resign(offer.bytes, third, { body: swap, envelope: (env) => (env.from = C) })],
      ]
      for (const [what, bytes] of attempts) {
        for (let i = 0; i < 3; i++) {
          const result = await deliver(p, A, bytes, B)
          assert.equal(result.outcome, 'refused', `RAKB swapped, ${what}: ${JSON.stringify(result)}`)
        }
      }
      assertUnchanged(p, before, 'after the RAKB swaps')
      assert.equal(agreements.wraps.get(A), undefined, 'A wrapped nothing for the attacker')
      assert.equal(p.region(A).kms.answered.get(String(bodyOf(offer.bytes).sessionId)), undefined)

      // The genuine offer goes through; the proxy now tries the same on the answer.
      await deliver(p, A, offer.bytes, B)
      for (let batch = await proxy.next(); transfer === undefined && batch.length > 0; batch = await proxy.next()) {
        transfer = batch.find((e) => e.type === 'MaterialTransfer')
      }
      assert.ok(transfer !== undefined)
      const beforeAnswer = snapshotAll(p)
      const sourceRsk = openEnvelope(transfer.bytes).envelope.signature.keyId
      for (const field of ['rakaPublicKey', 'rakbPublicKey']) {
        const sub = (b: JsonObject): void => {
          b[field] = mitm.point
        }
        assert.equal(
          (await receiveEnvelope(p.region(B).kms, tamperBody(transfer.bytes, sub))).outcome,
          'refused',
          `${field} swapped, signature kept`,
        )
        assert.equal(
          (await receiveEnvelope(p.region(B).kms, await resign(transfer.bytes, attacker, { body: sub }))).outcome,
          'refused',
          `${field} swapped, attacker-signed`,
        )
        assert.equal(
          (await receiveEnvelope(p.region(B).kms, await resign(transfer.bytes, attacker.claiming(sourceRsk), { body: sub }))).outcome,
          'refused',
        )
        assert.equal(
          (await receiveEnvelope(p.region(B).kms, await resign(transfer.bytes, third, { body: sub }))).outcome,
          'refused',
          `${field} swapped, C-signed`,
        )
      }
      assertUnchanged(p, beforeAnswer, 'after the RAKA/RAKB swaps')
      assert.equal(agreements.wraps.get(A), 1, 'one RAKA, for the genuine offer')
    } finally {
      proxy.stop()
      agreements.restore()
    }
    // The attacker holds the genuine transfer (and every other it ever carried) and its own
    // ECDH key: with the spec's KDF, nothing unwraps.
    assert.equal(attackerUnwrap(bodyOf(transfer.bytes), mitm), undefined)
    for (const d of p.deliveries.filter((x) => x.type === 'MaterialTransfer')) {
      try {
        assert.equal(attackerUnwrap(bodyOf(d.bytes), mitm), undefined, 'a MaterialTransfer unwrapped under the attacker’s key')
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err
      }
    }
    // Control: had A wrapped for the attacker's RAKB, the same attempt would have worked.
    const a = p.region(A).kms
    const material = a.materialOf(keyId, 1)
    assert.ok(material !== undefined)
    const binding = {
      sessionId: randomBytes(16).toString('hex'),
      partition: p.trust.partition,
      sourceRegion: A,
      destinationRegion: B,
      keyId,
    }
    const wrappedForAttacker = await a.hsm.wrapForTransfer(binding, Buffer.from(mitm.point, 'base64'), [
      { ...a.refOf(material), materialId: material.materialId },
    ])
    const control = attackerUnwrap(
      {
        sessionId: binding.sessionId,
        partition: binding.partition,
        from: A,
        to: B,
        keyId,
        rakaPublicKey: Buffer.from(wrappedForAttacker.rakaPublicKey).toString('base64'),
        rakbPublicKey: mitm.point,
        materials: wrappedForAttacker.wrapped.map((w) => ({
          version: w.materialVersion,
          materialId: w.materialId,
          wrapped: Buffer.from(w.wrapped).toString('base64'),
        })),
      },
      mitm,
    )
    assert.equal(control?.[0]?.length, 32, 'the attacker’s unwrap works when the wrap is for its key')

    assert.equal((await deliver(p, B, transfer.bytes, A)).outcome, 'applied')
    await p.settle()
    await assertSameMaterialEverywhere(p, keyId, { expectRegions: [A, B] })
  })
})
