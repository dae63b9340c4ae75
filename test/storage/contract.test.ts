/**
 * The storage port's contract (src/storage/storage.ts, docs/spec/storage.md), run as the
 * same cases against every store: MemoryStorage, SqliteStorage and PostgresStorage (on a
 * real PostgreSQL cluster of test/helpers/postgres.ts). A store's "handles" are its
 * writers: `connectAnother()` for memory, another SqliteStorage on the same file, another
 * PostgresStorage on the same schema, as the nodes of one region would be.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { MemoryStorage } from '../../src/storage/memory-storage.js'
import { PostgresStorage } from '../../src/storage/postgres-storage.js'
import { SqliteStorage } from '../../src/storage/sqlite-storage.js'
import type {
  AliasRecord,
  AnsweredSessionRecord,
  GrantRecord,
  KeyRecord,
  MaterialRecord,
  OutboxRecord,
  SessionRecord,
  Snapshot,
  TombstoneRecord,
  Write,
} from '../../src/storage/records.js'
import { GENESIS_DIGEST, chainDigest, type ChangePosition, type CommittedChange, type Storage } from '../../src/storage/storage.js'
import { encodeWrites } from '../../src/storage/write-codec.js'
import { postgresUnavailableReason, removeAllPostgresClusters, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js'

interface StoreUnderTest {
  /** Opens one more handle (writer) of the store. */
  open(): Promise<Storage>
}

interface Subject {
  name: string
  skip?: string | undefined
  setUp(): Promise<void>
  tearDown(): Promise<void>
  /** A new, empty store. */
  create(options?: { keptChanges?: number }): StoreUnderTest
}

let unique = 0

const memory: Subject = {
  name: 'MemoryStorage',
  async setUp() {},
  async tearDown() {},
  create(options = {}) {
    const first = new MemoryStorage({ shared: true, ...options })
    let opened = 0
    return { open: () => Promise.resolve(opened++ === 0 ? first : first.connectAnother()) }
  },
}

let sqliteDir = ''
const sqlite: Subject = {
  name: 'SqliteStorage',
  async setUp() {
    sqliteDir = mkdtempSync(join(tmpdir(), 'trent-storage-contract-'))
  },
  async tearDown() {
    rmSync(sqliteDir, { recursive: true, force: true })
  },
  create(options = {}) {
    const path = join(sqliteDir, `store-${++unique}.db`)
    return { open: () => Promise.resolve(new SqliteStorage(path, { shared: true, ...options })) }
  },
}

let cluster: PostgresCluster | undefined
const postgres: Subject = {
  name: 'PostgresStorage',
  skip: postgresUnavailableReason(),
  async setUp() {
    cluster = await startPostgresCluster()
  },
  async tearDown() {
    await removeAllPostgresClusters()
  },
  create(options = {}) {
    const schema = `trent_contract_${process.pid}_${++unique}`
    return {
      open: () => {
        if (cluster === undefined) throw new Error('no cluster')
        return PostgresStorage.open({ url: cluster.url, schema, shared: true, ...options })
      },
    }
  },
}

// ---- records of every kind, with every optional field and every byte value ----

const ALL_BYTES = new Uint8Array(256).map((_, i) => i)
/** Strings a store must keep exactly: NUL, quotes, backslashes, non-BMP characters. */
const AWKWARD = 'a\u0000b "quoted" \\ \u{1F511} é \n\t'

function keyRecord(keyId: string, sequence: number, description = AWKWARD): KeyRecord {
  return {
    keyId,
    sequence,
    createdAt: 1_700_000_000_123,
    description,
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin: 'EXTERNAL',
    state: 'PendingDeletion',
    deletionAt: 1_800_000_000_000,
    pendingWindowInDays: 7,
    policy: '{"Version":"2012-10-17","Statement":[]}',
    tags: [{ TagKey: 'k', TagValue: AWKWARD }],
    rotation: {
      enabled: true,
      periodInDays: 365,
      nextRotationAt: 1_731_536_000_000,
      onDemandStartedAt: 1_700_000_000_999,
      onDemandCount: 3,
    },
    currentMaterialVersion: 2,
    multiRegion: true,
    mrk: {
      role: 'PRIMARY',
      primaryRegion: 'us-east-1',
      replicaRegions: ['eu-west-1'],
      syncVersion: 4,
      replicas: {
        'eu-west-1': {
          created: true,
          held: [1, 2],
          ackedSyncVersion: 4,
          lastSyncedAt: 1_700_000_001_000,
          lastSentAt: 1_700_000_002_000,
          replicationId: 'rep-1',
          initial: { description: 'd', policy: 'p', tags: [], createdAt: 1 },
          note: 'behind',
        },
      },
      handoffTo: 'eu-west-1',
      handoffId: 'h-1',
      refusedHandoffs: ['h-0'],
      knownVersions: [1, 2],
    },
    imported: {
      materialId: 'a'.repeat(64),
      expirationModel: 'KEY_MATERIAL_EXPIRES',
      validTo: 1_900_000_000_000,
      importedAt: 1_700_000_000_000,
      description: 'imp',
      // Several imported materials (rotation of imported material), one rotated to, one pending.
      versions: [
        {
          version: 1,
          materialId: 'a'.repeat(64),
          description: AWKWARD,
          expirationModel: 'KEY_MATERIAL_EXPIRES',
          validTo: 1_900_000_000_000,
          importedAt: 1_700_000_000_000,
        },
        {
          version: 2,
          materialId: 'b'.repeat(64),
          expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
          importedAt: 1_700_000_000_500,
          rotationType: 'ON_DEMAND',
          rotatedAt: 1_700_000_000_600,
        },
        { version: 4, materialId: 'c'.repeat(64) },
      ],
      lastVersion: 4,
    },
  }
}

function materialRecord(keyId: string, version: number): MaterialRecord {
  return {
    keyId,
    version,
    materialId: version.toString(16).padStart(64, '0'),
    createdAt: 1_700_000_000_000 + version,
    rotationType: 'ON_DEMAND',
    token: ALL_BYTES.slice(),
  }
}

function grantRecord(grantId: string, keyId: string): GrantRecord {
  return {
    grantId,
    keyId,
    name: 'g',
    granteePrincipal: 'arn:aws:iam::111122223333:user/alice',
    retiringPrincipal: 'arn:aws:iam::111122223333:user/bob',
    issuingAccount: 'arn:aws:iam::111122223333:root',
    operations: ['Encrypt', 'Decrypt'],
    constraints: { encryptionContextEquals: { a: AWKWARD }, encryptionContextSubset: { b: 'c' } },
    grantToken: 'token',
    createdAt: 1_700_000_000_000,
  }
}

const aliasRecord = (aliasName: string, keyId: string): AliasRecord => ({
  aliasName,
  keyId,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_500,
})
const sessionRecord = (sessionId: string, keyId: string): SessionRecord => ({
  sessionId,
  keyId,
  peerRegion: 'eu-west-1',
  versions: [1, 2],
  rakbPublicKey: 'AAAA',
  expiresAt: 1_700_000_100_000,
  offeredAt: 1_700_000_000_000,
})
const answeredRecord = (sessionId: string, keyId: string): AnsweredSessionRecord => ({
  sessionId,
  keyId,
  body: ALL_BYTES.slice().reverse(),
  to: 'eu-west-1',
  expiresAt: 1_700_000_100_000,
})
const tombstoneRecord = (keyId: string): TombstoneRecord => ({
  keyId,
  primaryRegion: 'us-east-1',
  replicationId: 'rep-1',
  deletedAt: 1_700_000_000_000,
})
const outboxRecord = (id: string): OutboxRecord => ({ id, to: 'eu-west-1', body: ALL_BYTES.slice(), expiresAt: 1_700_000_100_000 })

/** One put of every kind, for `keyId` (and `suffix` for the other ids). */
function putsOfEveryKind(keyId: string, suffix: string, sequence: number): Write[] {
  return [
    { kind: 'putKey', key: keyRecord(keyId, sequence) },
    { kind: 'putMaterial', material: materialRecord(keyId, 1) },
    { kind: 'putMaterial', material: materialRecord(keyId, 2) },
    { kind: 'putGrant', grant: grantRecord(`grant-${suffix}`, keyId) },
    { kind: 'putAlias', alias: aliasRecord(`alias/${suffix}`, keyId) },
    { kind: 'putSession', session: sessionRecord(`session-${suffix}`, keyId) },
    { kind: 'putAnswered', answered: answeredRecord(`answered-${suffix}`, keyId) },
    { kind: 'putTombstone', tombstone: tombstoneRecord(`tomb-${suffix}`) },
    { kind: 'putOutbox', message: outboxRecord(`out-${suffix}`) },
  ]
}

/** A snapshot with every collection in one order, so that stores compare regardless of theirs. */
function sorted(state: Snapshot): Snapshot {
  const by = <T>(list: T[], id: (item: T) => string): T[] => [...list].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0))
  return {
    keys: by(state.keys, (k) => k.keyId),
    materials: by(state.materials, (m) => `${m.keyId}/${m.version}`),
    aliases: by(state.aliases, (a) => a.aliasName),
    sessions: by(state.sessions, (s) => s.sessionId),
    answered: by(state.answered, (a) => a.sessionId),
    outbox: by(state.outbox, (m) => m.id),
    tombstones: by(state.tombstones, (t) => t.keyId),
    grants: by(state.grants, (g) => g.grantId),
  }
}

function snapshotOf(state: Snapshot): Snapshot {
  const { keys, materials, aliases, sessions, answered, outbox, tombstones, grants } = state
  return sorted({ keys, materials, aliases, sessions, answered, outbox, tombstones, grants })
}

const EMPTY: Snapshot = { keys: [], materials: [], aliases: [], sessions: [], answered: [], outbox: [], tombstones: [], grants: [] }

/** Commits `writes` as one change, from a writer that believes it is at `since`. */
async function commit(storage: Storage, writes: Write[], since?: ChangePosition): Promise<ChangePosition> {
  const from = since ?? (await storage.load()).position
  const { position } = await storage.commitChange(
    from,
    () => undefined,
    () => ({ writes, result: undefined }),
  )
  return position
}

/**
 * A node's view of a counter kept in a key's description: what a KMS node keeps in
 * memory. It applies changes by position, each once, and checks there is no gap.
 */
class CounterView {
  position: ChangePosition = 0
  count = 0

  constructor(readonly keyId: string) {}

  apply(change: CommittedChange): void {
    if (change.position <= this.position) return
    assert.equal(change.position, this.position + 1, 'changes arrive without gaps')
    for (const write of change.writes)
      if (write.kind === 'putKey' && write.key.keyId === this.keyId) this.count = Number(write.key.description)
    this.position = change.position
  }

  /** One increment through `storage`, with `since` as of the call (possibly stale: the store must catch this view up). */
  async increment(storage: Storage): Promise<number> {
    const { position, result } = await storage.commitChange(
      this.position,
      (changes) => changes.forEach((change) => this.apply(change)),
      () => {
        const next = this.count + 1
        return { writes: [{ kind: 'putKey', key: { ...keyRecord(this.keyId, 1), description: String(next) } }], result: next }
      },
    )
    this.apply({ position, writes: [{ kind: 'putKey', key: { ...keyRecord(this.keyId, 1), description: String(result) } }] })
    return result
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

for (const subject of [memory, sqlite, postgres]) {
  describe(`storage contract: ${subject.name}`, { skip: subject.skip ?? false }, () => {
    const opened: Storage[] = []
    const open = async (store: StoreUnderTest): Promise<Storage> => {
      const storage = await store.open()
      opened.push(storage)
      return storage
    }

    before(() => subject.setUp())
    after(() => subject.tearDown())
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((storage) => storage.close()))
    })

    it('a new store is empty, at position 0, with no changes', async () => {
      const storage = await open(subject.create())
      const state = await storage.load()
      assert.equal(state.position, 0)
      assert.deepEqual(snapshotOf(state), EMPTY)
      assert.deepEqual(await storage.changesSince(0), [])
      assert.equal(storage.shared, true)
    })

    it('every kind of write round-trips through load(), byte arrays and awkward strings intact', async () => {
      const store = subject.create()
      const storage = await open(store)
      const writes = [...putsOfEveryKind('key-1', '1', 1), ...putsOfEveryKind('key-2', '2', 2)]
      await commit(storage, writes)
      const expected = snapshotOf({
        ...EMPTY,
        keys: [keyRecord('key-1', 1), keyRecord('key-2', 2)],
        materials: [materialRecord('key-1', 1), materialRecord('key-1', 2), materialRecord('key-2', 1), materialRecord('key-2', 2)],
        grants: [grantRecord('grant-1', 'key-1'), grantRecord('grant-2', 'key-2')],
        aliases: [aliasRecord('alias/1', 'key-1'), aliasRecord('alias/2', 'key-2')],
        sessions: [sessionRecord('session-1', 'key-1'), sessionRecord('session-2', 'key-2')],
        answered: [answeredRecord('answered-1', 'key-1'), answeredRecord('answered-2', 'key-2')],
        tombstones: [tombstoneRecord('tomb-1'), tombstoneRecord('tomb-2')],
        outbox: [outboxRecord('out-1'), outboxRecord('out-2')],
      })
      const loaded = await storage.load()
      assert.deepEqual(snapshotOf(loaded), expected)
      // Byte arrays come back as plain Uint8Arrays (not Buffers), every byte value intact.
      assert.equal(Object.getPrototypeOf(loaded.materials[0]?.token), Uint8Array.prototype)
      // Another handle (a new process would do the same) sees the same.
      const other = await open(store)
      assert.deepEqual(snapshotOf(await other.load()), expected)
      // And the change log carries the writes as they were written.
      assert.deepEqual(await other.changesSince(0), [{ position: 1, writes, digest: chainDigest(GENESIS_DIGEST, 1, encodeWrites(writes)) }])
    })

    it('puts replace, deletes remove, and deleteKey takes the key’s materials and grants with it', async () => {
      const storage = await open(subject.create())
      await commit(storage, [...putsOfEveryKind('key-1', '1', 1), ...putsOfEveryKind('key-2', '2', 2)])
      const replaced: KeyRecord = { ...keyRecord('key-2', 2), description: 'replaced', state: 'Enabled' }
      const replacedAlias: AliasRecord = { aliasName: 'alias/2', keyId: 'key-1', createdAt: 5, updatedAt: 6 }
      await commit(storage, [
        { kind: 'deleteKey', keyId: 'key-1' },
        { kind: 'deleteMaterial', keyId: 'key-2', version: 1 },
        { kind: 'deleteGrant', grantId: 'grant-2' },
        { kind: 'deleteAlias', aliasName: 'alias/1' },
        { kind: 'deleteSession', sessionId: 'session-1' },
        { kind: 'deleteAnswered', sessionId: 'answered-1' },
        { kind: 'deleteTombstone', keyId: 'tomb-1' },
        { kind: 'deleteOutbox', id: 'out-1' },
        { kind: 'putKey', key: replaced },
        { kind: 'putAlias', alias: replacedAlias },
      ])
      const loaded = await storage.load()
      assert.equal(loaded.position, 2)
      assert.deepEqual(snapshotOf(loaded), {
        keys: [replaced],
        materials: [materialRecord('key-2', 2)],
        aliases: [replacedAlias],
        sessions: [sessionRecord('session-2', 'key-2')],
        answered: [answeredRecord('answered-2', 'key-2')],
        outbox: [outboxRecord('out-2')],
        tombstones: [tombstoneRecord('tomb-2')],
        grants: [],
      })
    })

    it('positions are gapless: +1 per change with writes, unchanged by a change without', async () => {
      const storage = await open(subject.create())
      assert.equal(await commit(storage, [{ kind: 'putOutbox', message: outboxRecord('a') }], 0), 1)
      assert.equal(await commit(storage, [{ kind: 'putOutbox', message: outboxRecord('b') }], 1), 2)
      assert.equal(await commit(storage, [], 2), 2)
      assert.equal(await commit(storage, [{ kind: 'deleteOutbox', id: 'a' }], 2), 3)
      assert.equal((await storage.load()).position, 3)
      const changes = await storage.changesSince(0)
      assert.deepEqual(
        changes?.map((c) => c.position),
        [1, 2, 3],
      )
      assert.deepEqual(await storage.changesSince(3), [])
      assert.deepEqual(
        (await storage.changesSince(1))?.map((c) => c.position),
        [2, 3],
      )
    })

    it('commitChange is atomic: when decide throws, nothing is committed and its error comes back', async () => {
      const store = subject.create()
      const storage = await open(store)
      await commit(storage, [{ kind: 'putKey', key: keyRecord('key-1', 1) }])
      const before = await storage.load()
      const failure = new Error('decided against it')
      await assert.rejects(
        storage.commitChange(
          1,
          () => undefined,
          () => {
            throw failure
          },
        ),
        (err) => err === failure,
      )
      await assert.rejects(
        storage.commitChange(
          1,
          () => undefined,
          async () => {
            await sleep(5)
            throw failure
          },
        ),
        (err) => err === failure,
      )
      assert.deepEqual(await storage.load(), before)
      const other = await open(store)
      assert.deepEqual(await other.load(), before)
      assert.deepEqual(
        (await other.changesSince(0))?.map((c) => c.position),
        [1],
      )
      // And the store still takes the next change, at the next position.
      assert.equal(await commit(storage, [{ kind: 'deleteKey', keyId: 'key-1' }], 1), 2)
    })

    it('commitChange is durable: once it resolves, a new instance sees the change', async () => {
      const store = subject.create()
      const first = await open(store)
      await commit(first, putsOfEveryKind('key-1', '1', 1))
      await first.close()
      const second = await open(store)
      const loaded = await second.load()
      assert.equal(loaded.position, 1)
      assert.deepEqual(loaded.keys, [keyRecord('key-1', 1)])
    })

    it('a second writer catches up with exactly the first one’s changes, in order, before it decides', async () => {
      const store = subject.create()
      const a = await open(store)
      const b = await open(store)
      const written: Write[][] = [
        [{ kind: 'putKey', key: keyRecord('key-1', 1) }],
        [
          { kind: 'putAlias', alias: aliasRecord('alias/x', 'key-1') },
          { kind: 'putMaterial', material: materialRecord('key-1', 1) },
        ],
        [{ kind: 'deleteAlias', aliasName: 'alias/x' }],
      ]
      for (const [index, writes] of written.entries()) assert.equal(await commit(a, writes, index), index + 1)
      const caughtUp: CommittedChange[] = []
      let decidedAfter = -1
      const { position, result } = await b.commitChange(
        0,
        (changes) => caughtUp.push(...changes),
        () => {
          decidedAfter = caughtUp.length
          return { writes: [{ kind: 'putTombstone', tombstone: tombstoneRecord('key-9') }], result: 'ok' }
        },
      )
      let digest = GENESIS_DIGEST
      assert.deepEqual(
        caughtUp,
        written.map((writes, index) => {
          digest = chainDigest(digest, index + 1, encodeWrites(writes))
          return { position: index + 1, writes, digest }
        }),
      )
      assert.equal(decidedAfter, 3)
      assert.equal(position, 4)
      assert.equal(result, 'ok')
      // A writer that catches up but writes nothing is told the position it caught up to.
      const c = await open(store)
      const empty = await c.commitChange(
        2,
        () => undefined,
        () => ({ writes: [], result: 0 }),
      )
      assert.equal(empty.position, 4)
    })

    it('concurrent commits of two writers are totally ordered, with no lost update (50 increments → 50)', async () => {
      const store = subject.create()
      const a = await open(store)
      const b = await open(store)
      await commit(a, [{ kind: 'putKey', key: { ...keyRecord('counter', 1), description: '0' } }], 0)
      const viewA = new CounterView('counter')
      const viewB = new CounterView('counter')
      const results = await Promise.all([
        ...Array.from({ length: 25 }, () => viewA.increment(a)),
        ...Array.from({ length: 25 }, () => viewB.increment(b)),
      ])
      // Every increment saw a different value: none was lost, none counted twice.
      assert.deepEqual(
        [...results].sort((x, y) => x - y),
        Array.from({ length: 50 }, (_, i) => i + 1),
      )
      const loaded = await a.load()
      assert.equal(loaded.keys[0]?.description, '50')
      assert.equal(loaded.position, 51)
      // The log holds them in one order: position p set the counter to p - 1.
      const log = (await b.changesSince(0)) ?? []
      assert.deepEqual(
        log.map((c) => c.position),
        Array.from({ length: 51 }, (_, i) => i + 1),
      )
      for (const change of log.slice(1)) {
        const write = change.writes[0]
        assert.equal(write?.kind === 'putKey' ? write.key.description : undefined, String(change.position - 1))
      }
    })

    it('chains its log: the same changes give the same digests in every store, and a store holding another history is refused', async () => {
      const writesAt = (label: string): Write[] => [{ kind: 'putOutbox', message: outboxRecord(label) }]
      // What the node a store served sees: the digest of every change, from the committer and its followers.
      const original = subject.create()
      const writer = await open(original)
      const follower = await open(original)
      assert.equal((await writer.load()).digest, GENESIS_DIGEST)
      let expected = GENESIS_DIGEST
      const digests: string[] = []
      for (let position = 0; position < 3; position++) {
        const committed = await writer.commitChange(
          position,
          () => undefined,
          () => ({ writes: writesAt(`m${position}`), result: undefined }),
          expected,
        )
        expected = chainDigest(expected, position + 1, encodeWrites(writesAt(`m${position}`)))
        assert.equal(committed.digest, expected, 'every store computes the chain the same way')
        digests.push(expected)
      }
      assert.deepEqual(
        (await follower.changesSince(0, GENESIS_DIGEST))?.map((c) => c.digest),
        digests,
      )
      assert.equal((await follower.load()).digest, digests[2])
      assert.deepEqual(await follower.changesSince(3, digests[2]), [])
      assert.deepEqual(
        (await follower.changesSince(1, digests[0]))?.map((c) => c.position),
        [2, 3],
      )

      // Another store whose log went as far with other changes (a restored or failed-over copy).
      const other = subject.create()
      const elsewhere = await open(other)
      for (let position = 0; position < 3; position++) await commit(elsewhere, writesAt(`other ${position}`), position)
      assert.equal(await elsewhere.changesSince(3, digests[2]), undefined, 'at the head')
      assert.equal(await elsewhere.changesSince(1, digests[0]), undefined, 'behind the head')
      await assert.rejects(
        elsewhere.commitChange(
          3,
          () => undefined,
          () => ({ writes: writesAt('x'), result: undefined }),
          digests[2],
        ),
        /load again/,
      )
      assert.equal((await elsewhere.load()).position, 3, 'nothing was committed')
      // Without a digest, or with the store's own, the caller goes on as before.
      assert.deepEqual(await elsewhere.changesSince(3), [])
      const own = (await elsewhere.load()).digest
      assert.ok(own !== undefined && own !== digests[2])
      assert.deepEqual(await elsewhere.changesSince(3, own), [])
    })

    it('changesSince returns what a follower missed, and undefined once the log was pruned past it', async () => {
      const store = subject.create({ keptChanges: 5 })
      const storage = await open(store)
      const follower = await open(store)
      for (let position = 0; position < 3; position++)
        await commit(storage, [{ kind: 'putOutbox', message: outboxRecord(`m${position}`) }], position)
      assert.deepEqual(
        (await follower.changesSince(1))?.map((c) => c.position),
        [2, 3],
      )
      for (let position = 3; position < 12; position++)
        await commit(storage, [{ kind: 'putOutbox', message: outboxRecord(`m${position}`) }], position)
      // At least the last 5 are kept; the first ones are gone.
      assert.equal(await follower.changesSince(0), undefined)
      assert.deepEqual(
        (await follower.changesSince(7))?.map((c) => c.position),
        [8, 9, 10, 11, 12],
      )
      assert.deepEqual(await follower.changesSince(12), [])
      // A writer that far behind cannot commit: it must load again.
      await assert.rejects(
        follower.commitChange(
          0,
          () => undefined,
          () => ({ writes: [], result: undefined }),
        ),
        /load again/,
      )
      const reloaded = await follower.load()
      assert.equal(reloaded.position, 12)
      assert.equal(reloaded.outbox.length, 12)
    })

    it('leases are exclusive, renewable by their holder, expire after their TTL, and pass on', async () => {
      // Long enough that the steps before the expiry fit in it on a busy machine.
      const LEASE_TTL_MS = 1_500
      const store = subject.create()
      const a = await open(store)
      const b = await open(store)
      assert.equal(await a.holdLease('sweeper', 'node-a', LEASE_TTL_MS), true)
      assert.equal(await b.holdLease('sweeper', 'node-b', LEASE_TTL_MS), false)
      assert.equal(await a.holdLease('sweeper', 'node-a', LEASE_TTL_MS), true, 'the holder renews it')
      assert.equal(await b.holdLease('other', 'node-b', LEASE_TTL_MS), true, 'leases are independent by name')
      assert.equal(
        await a.releaseLease('sweeper', 'node-b').then(() => b.holdLease('sweeper', 'node-b', LEASE_TTL_MS)),
        false,
        'only the holder releases it',
      )
      await sleep(LEASE_TTL_MS + 300)
      assert.equal(await b.holdLease('sweeper', 'node-b', 10_000), true, 'expired: another takes it over')
      assert.equal(await a.holdLease('sweeper', 'node-a', LEASE_TTL_MS), false)
      await b.releaseLease('sweeper', 'node-b')
      assert.equal(await a.holdLease('sweeper', 'node-a', 10_000), true, 'released: another takes it at once')
      // Concurrent takers: exactly one wins.
      await a.releaseLease('sweeper', 'node-a')
      const takers = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).holdLease('sweeper', `node-${i}`, 10_000)))
      assert.equal(takers.filter(Boolean).length, 1)
    })

    it('watch hints at another writer’s commit, with the commit’s position', async (t) => {
      const store = subject.create()
      const a = await open(store)
      const b = await open(store)
      if (b.watch === undefined) return t.skip('this store offers no watch')
      const heard: Array<ChangePosition | undefined> = []
      let armed = false
      const unwatch = b.watch((position) => {
        if (armed) heard.push(position)
      })
      // Let a listener connection settle (and give its hint on connecting) before the commit it should hear of.
      await sleep(500)
      armed = true
      const position = await commit(a, [{ kind: 'putOutbox', message: outboxRecord('x') }], 0)
      assert.equal(position, 1)
      const deadline = Date.now() + 5_000
      while (!heard.includes(position)) {
        if (Date.now() > deadline) assert.fail(`no hint of position ${position} within 5 s (heard ${JSON.stringify(heard)})`)
        await sleep(10)
      }
      assert.ok(
        heard.every((p) => p === undefined || p === position),
        `only the position committed: ${JSON.stringify(heard)}`,
      )
      unwatch()
    })
  })
}
