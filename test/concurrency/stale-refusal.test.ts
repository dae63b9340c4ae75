/**
 * A node of a shared store answering just after a peer committed a change, in the two
 * ways docs/architecture.md ("Consistency") describes, each made deterministic by holding
 * node B's reads of the change log until the test lets them go:
 *
 * - The store announced the change with its position (PostgreSQL's NOTIFY, the in-memory
 *   store): node B's requests wait until it has applied it, so a read through B after A
 *   acknowledged a change shows the change; the wait is bounded.
 * - No position came (the store reconnected, or only the follower's timer runs), and node
 *   B refuses because it has not applied the change yet while its follower is already
 *   reading it. The follower then applies it before the refusing request's own catch-up
 *   runs, which finds nothing new; the request must still be asked again (the node now
 *   shows the change), not refused. CI met this on PostgreSQL with two nodes per region:
 *   CreateKey through one node, then ReplicateKey through the other answered
 *   NotFoundException.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { after, afterEach, before, describe, it } from 'node:test'
import { createSecretKey, randomBytes } from 'node:crypto'
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  UpdateAliasCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { inProcessHsmForTests } from '../../src/hsm/in-process-hsm.js'
import { MemoryStorage } from '../../src/storage/memory-storage.js'
import type { ChangePosition, Storage } from '../../src/storage/storage.js'
import { startInProcessRegion, type InProcessRegion } from '../helpers/in-process-region.js'

/** A gate the test opens once. */
function gate(): { opened: Promise<void>; open(): void } {
  let open: () => void = () => undefined
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open }
}

/** `storage` with some of its methods replaced: a node's view of the store that the test steers. */
function storageWith(storage: Storage, replaced: Partial<Pick<Storage, 'watch' | 'changesSince'>>): Storage {
  return new Proxy(storage, {
    get(target, property) {
      if (property === 'watch' && replaced.watch !== undefined) return replaced.watch
      if (property === 'changesSince' && replaced.changesSince !== undefined) return replaced.changesSince
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}

/**
 * `storage`, except that reading the change log waits for `current()` (when it gives a
 * gate) to open first, and then reads the store as it is by then; and that the store's
 * announcements of a commit carry its position only if `withPositions`.
 */
function withHeldChangeLog(storage: Storage, current: () => Promise<void> | undefined, withPositions: boolean): Storage {
  return storageWith(storage, {
    changesSince: async (...args) => {
      await current()
      return storage.changesSince(...args)
    },
    watch: (listener) => storage.watch?.((position) => listener(withPositions ? position : undefined)) ?? (() => undefined),
  })
}

/**
 * Calls `onWait` each time a request finds `kms` catching up with an announced change
 * (a read of Kms.catchingUp that gives a promise), before the request waits on it.
 */
function onCatchingUp(kms: InProcessRegion['kms'], onWait: () => void): void {
  const catchingUp = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(kms), 'catchingUp')?.get
  assert.ok(catchingUp !== undefined, 'Kms has a catchingUp getter')
  Object.defineProperty(kms, 'catchingUp', {
    get(): Promise<void> | undefined {
      const pending = catchingUp.call(kms) as Promise<void> | undefined
      if (pending !== undefined) onWait()
      return pending
    },
  })
}

/** Two nodes, A and B, of one in-memory store, B's reads of the change log held by `held`. */
function twoNodes(withPositions: boolean): {
  a: () => InProcessRegion
  b: () => InProcessRegion
  hold: () => void
  release: () => void
} {
  let a: InProcessRegion | undefined
  let b: InProcessRegion | undefined
  let held: { opened: Promise<void>; open(): void } | undefined
  before(async () => {
    const domainKey = createSecretKey(randomBytes(32))
    const first = new MemoryStorage({ shared: true })
    a = await startInProcessRegion({ storage: first, hsm: inProcessHsmForTests(domainKey) })
    b = await startInProcessRegion({
      storage: withHeldChangeLog(first.connectAnother(), () => held?.opened, withPositions),
      hsm: inProcessHsmForTests(domainKey),
    })
  })
  // A test that fails while node B's follower is held must not leave it so.
  afterEach(() => held?.open())
  after(async () => {
    held?.open()
    await b?.close()
    await a?.close()
  })
  return {
    a: () => a ?? assert.fail('not started'),
    b: () => b ?? assert.fail('not started'),
    hold: () => (held = gate()),
    release: () => held?.open(),
  }
}

describe('a refusal by a node whose follower is bringing the change at that moment', () => {
  const nodes = twoNodes(false)
  let a: InProcessRegion
  let b: InProcessRegion
  let clientA: KMSClient
  let clientB: KMSClient
  /** How many times node B was asked to catch up by a refused request. */
  let syncsAsked = 0

  before(() => {
    a = nodes.a()
    b = nodes.b()
    // Let the follower go when a refused request asks node B to catch up: held at the
    // store with the change in reach, it applies it first; the request's catch-up after it.
    const sync = b.kms.sync.bind(b.kms)
    b.kms.sync = (): Promise<void> => {
      syncsAsked++
      const caughtUp = sync()
      nodes.release()
      return caughtUp
    }
    clientA = a.client()
    clientB = b.client()
  })

  /** Creates a key on node A while node B's follower is held, and returns its id. */
  async function createdWhileBFollowerIsHeld(multiRegion = false): Promise<string> {
    nodes.hold()
    const created = await clientA.send(new CreateKeyCommand({ MultiRegion: multiRegion }))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    // The commit's hint has started node B's follower; it waits at the store.
    assert.equal(b.kms.keys.has(keyId), false, 'node B has not applied the change yet')
    return keyId
  }

  it('DescribeKey through node B of a key just created through node A answers the key', async () => {
    const keyId = await createdWhileBFollowerIsHeld()
    const asked = syncsAsked
    const described = await clientB.send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(described.KeyMetadata?.KeyId, keyId)
    assert.equal(syncsAsked, asked + 1, 'node B refused once and caught up: the race this test is about was run')
  })

  it('ReplicateKey through node B of a multi-Region key just created through node A is not NotFoundException', async () => {
    const keyId = await createdWhileBFollowerIsHeld(true)
    // This region has no peers: once the key is found, ReplicateKey refuses the region as
    // not of this partition, which shows that the key was.
    const refused = await clientB.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: 'eu-west-1' })).then(
      () => assert.fail('no partition, no replica'),
      (err: unknown) => err,
    )
    assert.ok(refused instanceof Error)
    assert.equal(refused.name, 'UnsupportedOperationException', refused.message)
  })

  it('Decrypt through node B of a ciphertext made through node A under a key just created there', async () => {
    const keyId = await createdWhileBFollowerIsHeld()
    const plaintext = Buffer.from('made on node A')
    const { CiphertextBlob } = await clientA.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))
    const asked = syncsAsked
    const decrypted = await clientB.send(new DecryptCommand({ CiphertextBlob }))
    assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), plaintext)
    assert.equal(syncsAsked, asked + 1, 'node B did not know the key, and caught up')
  })

  it('Decrypt through node B of a ciphertext under key material just rotated in on node A', async () => {
    const keyId = (await clientA.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key id')
    // Node B knows the key and its first material.
    await b.kms.sync()
    assert.ok(b.kms.keys.has(keyId))
    const known = (b.kms.materials.get(keyId) ?? []).map((m) => m.materialId)
    assert.equal(known.length, 1)
    nodes.hold()
    await clientA.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    const plaintext = Buffer.from('under the new material')
    const { CiphertextBlob } = await clientA.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))
    assert.equal(b.kms.materials.get(keyId)?.length, 1, 'node B lacks the new material yet')
    const asked = syncsAsked
    const decrypted = await clientB.send(new DecryptCommand({ CiphertextBlob }))
    assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), plaintext)
    assert.ok(decrypted.KeyMaterialId !== undefined && !known.includes(decrypted.KeyMaterialId), 'decrypted under the new material')
    assert.equal(syncsAsked, asked + 1)
  })

  it('Decrypt through node B with KeyId an alias that node A has just pointed at the ciphertext’s key', async () => {
    const newKey = async (): Promise<string> =>
      (await clientA.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key id')
    const [first, second] = [await newKey(), await newKey()]
    await clientA.send(new CreateAliasCommand({ AliasName: 'alias/moved', TargetKeyId: first }))
    await b.kms.sync()
    nodes.hold()
    await clientA.send(new UpdateAliasCommand({ AliasName: 'alias/moved', TargetKeyId: second }))
    const plaintext = Buffer.from('under the alias’s new key')
    const { CiphertextBlob } = await clientA.send(new EncryptCommand({ KeyId: 'alias/moved', Plaintext: plaintext }))
    assert.equal(b.kms.aliases.get('alias/moved')?.keyId, first, 'node B still has the alias on the first key')
    const asked = syncsAsked
    const decrypted = await clientB.send(new DecryptCommand({ CiphertextBlob, KeyId: 'alias/moved' }))
    assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), plaintext)
    assert.equal(syncsAsked, asked + 1)
  })

  it('a tampered ciphertext under a key node B knows is refused without a catch-up', async () => {
    const keyId = (await clientA.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key id')
    const { CiphertextBlob } = await clientA.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))
    await b.kms.sync()
    const tampered = Buffer.from(CiphertextBlob ?? [])
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1
    const asked = syncsAsked
    const refused = await clientB.send(new DecryptCommand({ CiphertextBlob: tampered })).then(
      () => assert.fail('a tampered ciphertext decrypted'),
      (err: unknown) => err,
    )
    assert.ok(refused instanceof Error)
    assert.equal(refused.name, 'InvalidCiphertextException')
    assert.equal(syncsAsked, asked, 'a failed tag is no news a peer could bring')
  })

  it('a key that exists on no node is still NotFoundException', async () => {
    const missing = '1234abcd-12ab-34cd-56ef-1234567890ab'
    const refused = await clientB.send(new DescribeKeyCommand({ KeyId: missing })).then(
      () => assert.fail('no such key'),
      (err: unknown) => err,
    )
    assert.ok(refused instanceof Error)
    assert.equal(refused.name, 'NotFoundException')
  })
})

describe('a request to a node after a peer acknowledged a change the store announced', () => {
  const nodes = twoNodes(true)
  let a: InProcessRegion
  let b: InProcessRegion
  let clientA: KMSClient
  let clientB: KMSClient
  /** Whether to let node B's follower go when a request finds node B catching up. */
  let releaseWhenWaited = true
  /** How many requests found node B catching up with an announced change. */
  let waited = 0

  before(() => {
    a = nodes.a()
    b = nodes.b()
    onCatchingUp(b.kms, () => {
      waited++
      if (releaseWhenWaited) nodes.release()
    })
    clientA = a.client()
    clientB = b.client()
  })

  it('waits until the node has applied it: node B shows the key disabled through node A', async () => {
    const keyId = (await clientA.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key id')
    await b.kms.sync()
    nodes.hold()
    await clientA.send(new DisableKeyCommand({ KeyId: keyId }))
    assert.equal(b.kms.keys.get(keyId)?.state, 'Enabled', 'node B has not applied the change yet')
    const before = waited
    const described = await clientB.send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(described.KeyMetadata?.KeyState, 'Disabled')
    assert.equal(waited, before + 1, 'the request found node B catching up, and waited')
  })

  it('waits a bounded time: with the store’s log unreadable, node B answers from what it has', async () => {
    const keyId = (await clientA.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key id')
    await b.kms.sync()
    releaseWhenWaited = false
    try {
      nodes.hold()
      await clientA.send(new DisableKeyCommand({ KeyId: keyId }))
      const described = await clientB.send(new DescribeKeyCommand({ KeyId: keyId }))
      assert.equal(described.KeyMetadata?.KeyState, 'Enabled', 'answered, from what node B had')
      nodes.release()
      await b.kms.sync()
      assert.equal((await clientB.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Disabled')
    } finally {
      releaseWhenWaited = true
    }
  })

  it('does not wait for a change the node made itself', async () => {
    const before = waited
    const keyId = (await clientB.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key id')
    await clientB.send(new DisableKeyCommand({ KeyId: keyId }))
    assert.equal((await clientB.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Disabled')
    assert.equal(waited, before, 'its own commits were applied before they were answered')
  })
})

describe('an announcement that arrives in the same turn as a request, after it', () => {
  it('is heard before the request decides: node B shows the change node A acknowledged', async () => {
    const domainKey = createSecretKey(randomBytes(32))
    const first = new MemoryStorage({ shared: true })
    // Node B hears the store's announcements only when the test passes them on, and reads
    // the change log only once a request waits for an announced change.
    let announceToB: (position?: ChangePosition) => void = () => undefined
    let held: { opened: Promise<void>; open(): void } | undefined
    const second = first.connectAnother()
    const storage = storageWith(second, {
      watch: (listener) => {
        announceToB = listener
        return () => undefined
      },
      changesSince: async (...args) => {
        await held?.opened
        return second.changesSince(...args)
      },
    })
    const a = await startInProcessRegion({ storage: first, hsm: inProcessHsmForTests(domainKey) })
    const b = await startInProcessRegion({ storage, hsm: inProcessHsmForTests(domainKey) })
    try {
      let waited = 0
      onCatchingUp(b.kms, () => {
        waited++
        held?.open()
      })
      const keyId = (await a.client().send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key id')
      await b.kms.sync()
      held = gate()
      await a.client().send(new DisableKeyCommand({ KeyId: keyId }))
      const position = a.kms.position
      assert.equal(b.kms.keys.get(keyId)?.state, 'Enabled', 'node B has not heard of the change yet')
      // The announcement is handled later in the turn in which node B has read the whole
      // request: after the request's own callbacks, as a notification whose socket's
      // callback comes after the request's would be.
      b.server.once('request', (req: IncomingMessage) => req.once('end', () => setImmediate(() => announceToB(position))))
      const described = await b.client().send(new DescribeKeyCommand({ KeyId: keyId }))
      assert.equal(described.KeyMetadata?.KeyState, 'Disabled')
      assert.equal(waited, 1, 'the request heard the announcement, then waited for the change')
    } finally {
      held?.open()
      await b.close()
      await a.close()
    }
  })
})

describe('an announced position the store never reaches (a failover that lost commits)', () => {
  it('stops holding requests once the node loads the store as it is', async () => {
    const domainKey = createSecretKey(randomBytes(32))
    const first = new MemoryStorage({ shared: true })
    let announce: (position?: ChangePosition) => void = () => undefined
    let wentBack = false
    const second = first.connectAnother()
    const storage = storageWith(second, {
      watch: (listener) => {
        announce = listener
        return () => undefined
      },
      // The store "went back": the node's position is beyond its log once, and it loads.
      changesSince: (...args) => {
        if (!wentBack) return second.changesSince(...args)
        wentBack = false
        return Promise.resolve(undefined)
      },
    })
    const node = await startInProcessRegion({ storage, hsm: inProcessHsmForTests(domainKey) })
    try {
      const position = node.kms.position
      announce(position + 1_000)
      const waiting = node.kms.catchingUp
      assert.ok(waiting !== undefined, 'the node waits for the announced position')
      wentBack = true
      await node.kms.sync()
      assert.equal(node.kms.catchingUp, undefined, 'after the load, no request waits any more')
      await waiting
      // The next announcement of a position the node already has asks for no wait.
      announce(node.kms.position)
      assert.equal(node.kms.catchingUp, undefined)
    } finally {
      await node.close()
    }
  })
})
