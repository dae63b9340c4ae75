/**
 * What only the PostgreSQL store has (src/storage/postgres-storage.ts): migrations under
 * concurrent starts, refusal of a newer schema, one schema per region, and its behaviour
 * when the server is stopped, frozen or killed. The storage contract itself is in
 * contract.test.ts. Each test runs on a real cluster (test/helpers/postgres.ts).
 */
import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import pg from 'pg'
import { POSTGRES_MIGRATIONS } from '../../src/storage/postgres/migrations.js'
import {
  POSTGRES_TIMEOUTS,
  PostgresStorage,
  redactPostgresUrl,
  schemaForRegion,
  sqlLiteral,
  type PostgresStorageOptions,
} from '../../src/storage/postgres-storage.js'
import type { Write } from '../../src/storage/records.js'
import { StorageUnavailableError, type Storage } from '../../src/storage/storage.js'
import { postgresUnavailableReason, removeAllPostgresClusters, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js'

const PASSWORD = 'hunter2-not-in-any-message'
let unique = 0
const freshSchema = (): string => `trent_pgtest_${process.pid}_${++unique}`
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const outbox = (id: string): Write => ({
  kind: 'putOutbox',
  message: { id, to: 'eu-west-1', body: new Uint8Array([0, 1, 255]), expiresAt: 1 },
})

async function commit(storage: Storage, writes: Write[]): Promise<number> {
  const since = (await storage.load()).position
  return (
    await storage.commitChange(
      since,
      () => undefined,
      () => ({ writes, result: undefined }),
    )
  ).position
}

/** Rejects with StorageUnavailableError, and says how long that took. */
async function unavailable(call: () => Promise<unknown>): Promise<{ ms: number; error: StorageUnavailableError }> {
  const started = Date.now()
  try {
    await call()
  } catch (err) {
    assert.ok(err instanceof StorageUnavailableError, `expected StorageUnavailableError, got ${String(err)}`)
    assert.equal(err.name, 'StorageUnavailableError')
    return { ms: Date.now() - started, error: err }
  }
  assert.fail('the call succeeded')
}

/** Retries `call` until it succeeds (the store coming back), for at most `ms`. */
async function eventually<T>(call: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await call()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await sleep(200)
    }
  }
}

describe('PostgresStorage', { skip: postgresUnavailableReason() ?? false }, () => {
  let cluster: PostgresCluster
  const opened: Storage[] = []
  const clients: pg.Client[] = []
  const open = async (options: Partial<PostgresStorageOptions> & { schema: string }): Promise<PostgresStorage> => {
    const storage = await PostgresStorage.open({ url: cluster.url, shared: true, ...options })
    opened.push(storage)
    return storage
  }
  /** A plain connection, to look at what the store did. */
  const sql = async (): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: cluster.url })
    await client.connect()
    clients.push(client)
    return client
  }

  before(async () => {
    cluster = await startPostgresCluster()
  })
  after(() => removeAllPostgresClusters())
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.end().catch(() => undefined)))
    await Promise.all(opened.splice(0).map((storage) => storage.close()))
  })

  it('names a region’s schema after it, and keeps passwords out of printed URLs', () => {
    assert.equal(schemaForRegion('us-east-1'), 'trent_us_east_1')
    assert.equal(schemaForRegion('us-gov-west-1'), 'trent_us_gov_west_1')
    assert.throws(() => schemaForRegion('US East'))
    assert.equal(redactPostgresUrl('postgres://trent:s3cret@db.example:5432/kms'), 'postgres://trent:***@db.example:5432/kms')
    assert.equal(
      redactPostgresUrl('postgresql://db/kms?password=s3cret&sslmode=require'),
      'postgresql://db/kms?password=***&sslmode=require',
    )
    assert.equal(redactPostgresUrl('postgres://db/kms'), 'postgres://db/kms')
    assert.doesNotMatch(redactPostgresUrl('postgres://u:s3cret@[bad'), /s3cret/)
  })

  it('writes values as literals that the server reads back exactly, whatever standard_conforming_strings says', async () => {
    const client = await sql()
    const texts = ["it's", "back\\slash \\x00 \\'", '$1 $$ $check$', "'; DROP TABLE keys; --", '\u{1F511} é \n\t "q"', '']
    const blobs = [new Uint8Array(0), new Uint8Array(256).map((_, i) => i), Buffer.from("'\\")]
    for (const conforming of ['on', 'off']) {
      await client.query(`SET standard_conforming_strings = ${conforming}`)
      for (const text of texts) {
        const read = await client.query<{ value: string }>(`SELECT ${sqlLiteral(text)}::text AS value`)
        assert.equal(read.rows[0]?.value, text, `standard_conforming_strings ${conforming}`)
      }
      for (const blob of blobs) {
        const read = await client.query<{ value: Buffer }>(`SELECT ${sqlLiteral(blob)} AS value`)
        assert.deepEqual([...(read.rows[0]?.value ?? [])], [...blob], `standard_conforming_strings ${conforming}`)
      }
      const numbers = await client.query<{ n: string; z: null }>(
        `SELECT ${sqlLiteral(9007199254740991)}::bigint AS n, ${sqlLiteral(null)} AS z`,
      )
      assert.equal(numbers.rows[0]?.n, '9007199254740991')
      assert.equal(numbers.rows[0]?.z, null)
    }
    assert.throws(() => sqlLiteral(1.5))
    assert.throws(() => sqlLiteral(true))
    assert.throws(() => sqlLiteral({ a: 1 }))
  })

  it('refuses a URL that is not postgres://, without printing it', async () => {
    await assert.rejects(PostgresStorage.open({ url: `mysql://u:${PASSWORD}@h/db`, schema: freshSchema() }), (err: Error) => {
      assert.doesNotMatch(err.message, new RegExp(PASSWORD))
      return /not a postgres:\/\/ URL/.test(err.message)
    })
  })

  it('migrates a new schema once, even when several nodes start at once', async () => {
    const schema = freshSchema()
    const starters = await Promise.all(Array.from({ length: 6 }, () => open({ schema })))
    assert.equal(starters.length, 6)
    const client = await sql()
    const versions = await client.query<{ version: number }>(`SELECT version FROM "${schema}".schema_version ORDER BY version`)
    assert.deepEqual(
      versions.rows.map((row) => row.version),
      POSTGRES_MIGRATIONS.map((_, index) => index + 1),
    )
    const tables = await client.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [schema],
    )
    assert.deepEqual(
      tables.rows.map((row) => row.table_name),
      [
        'aliases',
        'answered_sessions',
        'change_head',
        'changes',
        'grants',
        'key_materials',
        'keys',
        'leases',
        'outbox',
        'replication_sessions',
        'schema_version',
        'tombstones',
      ],
    )
    // Every starter works on the same store.
    assert.equal(await commit(starters[0] as Storage, [outbox('a')]), 1)
    assert.equal((await (starters[5] as Storage).load()).position, 1)
    // Opening again migrates nothing.
    await open({ schema })
    assert.equal((await client.query(`SELECT version FROM "${schema}".schema_version`)).rowCount, POSTGRES_MIGRATIONS.length)
  })

  it('creates the database the URL names when the server has none, even when several nodes start at once', async () => {
    const database = `trent_created_${process.pid}_${++unique}`
    const url = new URL(cluster.url)
    url.pathname = `/${database}`
    const client = await sql()
    const exists = async (): Promise<boolean> =>
      ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount ?? 0) === 1
    assert.equal(await exists(), false)
    // Two regions of two nodes each, all starting at once on a server without the database.
    const starters = await Promise.all(
      ['trent_us_east_1', 'trent_us_east_1', 'trent_eu_west_1', 'trent_eu_west_1'].map((schema) => open({ url: url.toString(), schema })),
    )
    assert.equal(await exists(), true)
    assert.equal(await commit(starters[0] as Storage, [outbox('a')]), 1)
    assert.equal((await (starters[1] as Storage).load()).position, 1)
    assert.equal((await (starters[2] as Storage).load()).position, 0, 'the other region has a schema of its own')
  })

  it('tells a role that may not create the missing database what to do, without printing its password', async () => {
    const client = await sql()
    const role = `trent_nocreate_${process.pid}_${++unique}`
    await client.query(`CREATE ROLE ${role} LOGIN NOCREATEDB`)
    const url = new URL(cluster.url)
    url.username = role
    url.password = PASSWORD
    url.pathname = `/trent_missing_${process.pid}_${unique}`
    await assert.rejects(PostgresStorage.open({ url: url.toString(), schema: freshSchema() }), (err: Error) => {
      assert.doesNotMatch(err.message, new RegExp(PASSWORD))
      assert.match(err.message, /does not exist/)
      return /may not create it/.test(err.message)
    })
    const left = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [url.pathname.slice(1)])
    assert.equal(left.rowCount, 0)
  })

  it('refuses a schema newer than the code, and leaves it untouched', async () => {
    const schema = freshSchema()
    await commit(await open({ schema }), [outbox('a')])
    const client = await sql()
    const newer = POSTGRES_MIGRATIONS.length + 1
    await client.query(`INSERT INTO "${schema}".schema_version (version) VALUES ($1)`, [newer])
    await assert.rejects(
      open({ schema }),
      new RegExp(`schema ${schema} is of version ${newer}, newer than this Trent knows \\(${POSTGRES_MIGRATIONS.length}\\)`),
    )
    const count = await client.query(`SELECT count(*)::int AS n FROM "${schema}".outbox`)
    assert.equal(count.rows[0].n, 1)
  })

  it('keeps each region in its own schema: data, positions, leases and write locks apart', async () => {
    const east = await open({ schema: `${freshSchema()}_east` })
    const west = await open({ schema: `${freshSchema()}_west` })
    assert.equal(await commit(east, [outbox('east-1')]), 1)
    assert.equal(await commit(east, [outbox('east-2')]), 2)
    const westState = await west.load()
    assert.equal(westState.position, 0)
    assert.deepEqual(westState.outbox, [])
    assert.equal(await commit(west, [outbox('west-1')]), 1)
    assert.deepEqual(
      (await east.load()).outbox.map((m) => m.id),
      ['east-1', 'east-2'],
    )
    assert.equal(await east.holdLease('sweeper', 'east-node', 10_000), true)
    assert.equal(await west.holdLease('sweeper', 'west-node', 10_000), true)
    // East holds its write lock (its decide waits); west still commits meanwhile.
    let finishEast: () => void = () => undefined
    const eastDeciding = new Promise<void>((resolve) => (finishEast = resolve))
    const eastCommit = east.commitChange(
      2,
      () => undefined,
      async () => {
        await eastDeciding
        return { writes: [outbox('east-3')], result: undefined }
      },
    )
    await sleep(100)
    assert.equal(await commit(west, [outbox('west-2')]), 2)
    finishEast()
    assert.equal((await eastCommit).position, 3)
  })

  it('makes a writer wait for another node’s commit, and bounds that wait with statement_timeout', async () => {
    const schema = freshSchema()
    const holder = await open({ schema })
    const waiter = await open({ schema, timeouts: { statementMs: 500, queryMs: 2_000 } })
    let finish: () => void = () => undefined
    const deciding = new Promise<void>((resolve) => (finish = resolve))
    const held = holder.commitChange(
      0,
      () => undefined,
      async () => {
        await deciding
        return { writes: [outbox('held')], result: undefined }
      },
    )
    await sleep(100)
    const { ms } = await unavailable(() =>
      waiter.commitChange(
        0,
        () => undefined,
        () => ({ writes: [outbox('waiter')], result: undefined }),
      ),
    )
    assert.ok(ms >= 400 && ms < 2_500, `gave up after ${ms} ms`)
    finish()
    assert.equal((await held).position, 1)
    // Waiting no longer, it catches up with the holder's change and commits after it.
    const caughtUp: number[] = []
    const next = await waiter.commitChange(
      0,
      (changes) => caughtUp.push(...changes.map((c) => c.position)),
      () => ({ writes: [outbox('waiter')], result: undefined }),
    )
    assert.deepEqual(caughtUp, [1])
    assert.equal(next.position, 2)
  })

  it('frees the write lock of a node that stalls inside a commit (idle_in_transaction_session_timeout)', async () => {
    const schema = freshSchema()
    const stalled = await open({ schema, timeouts: { idleInTransactionMs: 1_000 } })
    const other = await open({ schema })
    const stalledCommit = stalled.commitChange(
      0,
      () => undefined,
      async () => {
        await sleep(6_000)
        return { writes: [outbox('stalled')], result: undefined }
      },
    )
    await sleep(100)
    const started = Date.now()
    assert.equal(
      (
        await other.commitChange(
          0,
          () => undefined,
          () => ({ writes: [outbox('other')], result: undefined }),
        )
      ).position,
      1,
    )
    // Freed by the server after about a second, well before the stalled commit would end.
    assert.ok(Date.now() - started < 4_500, `the lock was freed after ${Date.now() - started} ms`)
    // The stalled node's session was ended by the server: its change is not committed.
    await unavailable(() => stalledCommit)
    const state = await eventually(() => other.load())
    assert.deepEqual(
      state.outbox.map((m) => m.id),
      ['other'],
    )
    assert.equal(state.position, 1)
  })

  it('fails within seconds with StorageUnavailableError while the server is stopped, and works again once it is back', async () => {
    const url = cluster.urlWithPassword(PASSWORD)
    const schema = freshSchema()
    const storage = await open({ url, schema })
    const watcher = await open({ url, schema })
    let hints = 0
    watcher.watch(() => hints++)
    assert.equal(await commit(storage, [outbox('before')]), 1)
    await cluster.stop()
    try {
      for (const call of [
        () =>
          storage.commitChange(
            1,
            () => undefined,
            () => ({ writes: [outbox('during')], result: undefined }),
          ),
        () => storage.load(),
        () => storage.changesSince(0),
        () => storage.holdLease('sweeper', 'node', 1_000),
        () => storage.releaseLease('sweeper', 'node'),
      ]) {
        const { ms, error } = await unavailable(call)
        assert.ok(ms < 5_000, `failed after ${ms} ms`)
        assert.doesNotMatch(error.message, new RegExp(PASSWORD))
        assert.match(error.message, /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/)
      }
      // A new node cannot start either, and says so as quickly.
      const { ms } = await unavailable(() => PostgresStorage.open({ url, schema }))
      assert.ok(ms < 5_000)
    } finally {
      await cluster.start()
    }
    const position = await eventually(() => commit(storage, [outbox('after')]))
    assert.equal(position, 2)
    assert.deepEqual(
      (await storage.load()).outbox.map((m) => m.id),
      ['before', 'after'],
    )
    // The watcher's listener connection came back too, and hears of the next commit.
    await eventually(async () => {
      const seen = hints
      await commit(storage, [outbox(`ping-${seen}`)])
      await sleep(300)
      assert.ok(hints > seen, 'the listener hears commits again')
    })
  })

  it('fails with StorageUnavailableError within the query timeout while the server is frozen (unreachable), then recovers', async () => {
    const storage = await open({ schema: freshSchema() })
    assert.equal(await commit(storage, [outbox('before')]), 1)
    cluster.freeze()
    try {
      // A pooled connection that no longer answers: the client-side query timeout.
      const { ms } = await unavailable(() =>
        storage.commitChange(
          1,
          () => undefined,
          () => ({ writes: [outbox('during')], result: undefined }),
        ),
      )
      assert.ok(ms < POSTGRES_TIMEOUTS.queryMs + 2_000, `failed after ${ms} ms`)
      // Then at once, while the last failure is recent.
      assert.ok((await unavailable(() => storage.load())).ms < 500)
      // A new connection that gets no answer: the connect timeout.
      await sleep(POSTGRES_TIMEOUTS.unavailableBackoffMs)
      const fresh = await unavailable(() => PostgresStorage.open({ url: cluster.url, schema: freshSchema() }))
      assert.ok(fresh.ms < POSTGRES_TIMEOUTS.connectMs + 2_000, `failed after ${fresh.ms} ms`)
    } finally {
      cluster.thaw()
    }
    const state = await eventually(() => storage.load())
    // The frozen server never got the change.
    assert.deepEqual(
      state.outbox.map((m) => m.id),
      ['before'],
    )
    assert.equal(await eventually(() => commit(storage, [outbox('after')])), 2)
  })

  it('keeps every acknowledged change through kill -9 of the server', async () => {
    const schema = freshSchema()
    const storage = await open({ schema })
    for (let i = 0; i < 20; i++) await commit(storage, [outbox(`m${i}`)])
    await cluster.kill9()
    await unavailable(() => storage.load())
    await cluster.start()
    const state = await eventually(() => storage.load())
    assert.equal(state.position, 20)
    assert.equal(state.outbox.length, 20)
    assert.equal(await commit(storage, [outbox('after')]), 21)
  })
})
