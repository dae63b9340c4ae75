/**
 * ReplicateKey's wait for the replica region (src/kms/multi-region/replica-visibility.ts)
 * ends on the write that brings the replica region's first signed word about the key, not
 * on a timer: it stays pending while nothing arrives, resolves true as soon as the replica
 * region's AgreementOffer is answered, and false when its time runs out first.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CreateKeyCommand, ReplicateKeyCommand } from '@aws-sdk/client-kms'
import { answeredSessionsOf, awaitReplicaVisible } from '../../src/kms/multi-region/replica-visibility.js'
import { startInMemoryPartition, type InMemoryPartition } from '../helpers/in-memory-partition.js'

const A = 'us-east-1'
const B = 'eu-west-1'

describe('waiting for a replica to be visible in its region', () => {
  let p: InMemoryPartition
  before(async () => {
    p = await startInMemoryPartition([A, B])
  })
  after(async () => {
    await p.close()
  })

  /** A multi-Region key replicated to B, its ReplicaCreate queued and not delivered yet. */
  async function replicatedUndelivered(): Promise<{ keyId: string; replicationId: string; before: ReadonlySet<string> }> {
    const kms = p.region(A).kms
    const primary = p.region(A).client()
    const keyId = (await primary.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata?.KeyId ?? ''
    const before = answeredSessionsOf(kms, keyId, B)
    await primary.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    const replicationId = kms.keys.get(keyId)?.mrk?.replicas?.[B]?.replicationId ?? assert.fail('no replica status')
    return { keyId, replicationId, before }
  }

  it('stays pending while nothing arrives, and resolves true once the replica region has answered', async () => {
    const { keyId, replicationId, before } = await replicatedUndelivered()
    let outcome: boolean | undefined
    const waiting = awaitReplicaVisible(p.region(A).kms, keyId, B, replicationId, before, 60_000).then((visible) => (outcome = visible))
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(outcome, undefined, 'nothing from the replica region yet')
    await p.settle()
    await waiting
    assert.equal(outcome, true)
    assert.equal(p.region(B).kms.keys.get(keyId)?.mrk?.role, 'REPLICA')
  })

  it('resolves false when its time runs out first, and at once when the replica is already there', async () => {
    p.intercept = () => []
    const { keyId, replicationId, before } = await replicatedUndelivered()
    assert.equal(await awaitReplicaVisible(p.region(A).kms, keyId, B, replicationId, before, 100), false)
    p.intercept = undefined
    await p.reconcileAll()
    assert.equal(await awaitReplicaVisible(p.region(A).kms, keyId, B, replicationId, before, 1), true)
    // Another incarnation of the replica: the old one is gone, nothing to wait for.
    assert.equal(await awaitReplicaVisible(p.region(A).kms, keyId, B, 'another-replication', before, 60_000), false)
  })
})
