/**
 * Reconciliation judges each key on the node's own state before it takes the region's
 * write lock: a pass over keys that are in order takes the lock not once (on PostgreSQL
 * every taking is a transaction, for every multi-Region key, every 30 s), and a key that
 * does need something still gets it.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CreateKeyCommand, ReplicateKeyCommand } from '@aws-sdk/client-kms'
import { reconcile } from '../../src/kms/multi-region/reconcile.js'
import { MemoryStorage } from '../../src/storage/memory-storage.js'
import type { ChainDigest, ChangePosition, CommittedChange, Decision } from '../../src/storage/storage.js'
import { startInMemoryPartition, type InMemoryPartition } from '../helpers/in-memory-partition.js'

const A = 'us-east-1'
const B = 'eu-west-1'

/** A MemoryStorage that counts the exclusive sections (write-lock takings) it is asked for. */
class CountingStorage extends MemoryStorage {
  commits = 0
  override commitChange<T>(
    since: ChangePosition,
    catchUp: (changes: readonly CommittedChange[]) => void,
    decide: () => Promise<Decision<T>> | Decision<T>,
    sinceDigest?: ChainDigest,
  ): Promise<{ position: ChangePosition; digest?: ChainDigest; result: T }> {
    this.commits++
    return super.commitChange(since, catchUp, decide, sinceDigest)
  }
}

describe('reconciliation of keys that are in order', () => {
  let p: InMemoryPartition
  const stores = new Map<string, CountingStorage>()
  const store = (region: string): CountingStorage => stores.get(region) ?? assert.fail(`no store for ${region}`)

  before(async () => {
    p = await startInMemoryPartition([A, B], undefined, undefined, (region) => {
      const storage = new CountingStorage()
      stores.set(region, storage)
      return storage
    })
    const primary = p.region(A).client()
    for (let i = 0; i < 3; i++) {
      const keyId = (await primary.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata?.KeyId ?? ''
      await primary.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    }
    await p.settle()
  })
  after(async () => {
    await p.close()
  })

  it('takes no write lock in either region when every replica is in sync', async () => {
    const before = { a: store(A).commits, b: store(B).commits }
    await reconcile(p.region(A).kms, { resendAfterMs: 60_000 })
    await reconcile(p.region(B).kms, { resendAfterMs: 60_000 })
    assert.equal(store(A).commits, before.a, 'the primary region took its write lock')
    assert.equal(store(B).commits, before.b, 'the replica region took its write lock')
    assert.equal(p.queue.length, 0)
  })

  it('still resends, under the lock, to replicas not heard from for resendAfterMs', async () => {
    const before = store(A).commits
    // resendAfterMs 0: every replica is due (the primary has not heard from it "since").
    await reconcile(p.region(A).kms, { resendAfterMs: 0 })
    // One per key that needs work, and the outbox sender's own as it sends what they queued.
    assert.ok(store(A).commits - before >= 3, `write-lock takings: ${store(A).commits - before}`)
    await p.settle()
    const resent = p.deliveries.filter((d) => d.type === 'SharedState' && d.deliveredTo === B)
    assert.ok(resent.length >= 3, `SharedState messages delivered: ${resent.length}`)
  })
})
