/**
 * Storage on PostgreSQL (node-postgres), for a region of many nodes on many hosts
 * (docs/spec/storage.md). Each region has a schema of its own in the given database
 * (`trent_us_east_1`), created and migrated at start (postgres/migrations.ts).
 *
 * The change log and the exclusive commit of the storage port (storage.ts) are the
 * `changes` table, the one-row `change_head` counter updated in the committing
 * transaction (gapless, unlike a sequence), and a transaction-scoped advisory lock on a
 * key derived from the schema name: the region's write lock. A commit notifies the
 * region's channel (`NOTIFY`, delivered on commit), which `watch` listens to on a
 * connection of its own. Leases are rows whose expiry the database's clock sets and
 * checks, so nodes whose clocks disagree still agree on who holds one.
 *
 * Durability is PostgreSQL's: `synchronous_commit = on` (the default) flushes the commit
 * to the server's WAL before COMMIT returns. Every call is bounded in time
 * (POSTGRES_TIMEOUTS); a store that cannot be reached fails with StorageUnavailableError.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import pg from 'pg'
import type { PoolClient, PoolConfig } from 'pg'
import type {
  AliasRecord,
  AnsweredSessionRecord,
  GrantRecord,
  KeyRecord,
  MaterialRecord,
  OutboxRecord,
  SessionRecord,
  TombstoneRecord,
  Write,
} from './records.js'
import {
  ChangeLogMismatchError,
  GENESIS_DIGEST,
  StorageUnavailableError,
  chainDigest,
  withDigest,
  type ChainDigest,
  type ChangePosition,
  type CommittedChange,
  type Decision,
  type LoadedState,
  type Storage,
} from './storage.js'
import { decodeWrites, encodeWrites } from './write-codec.js'
import { POSTGRES_MIGRATIONS } from './postgres/migrations.js'

/** Changes kept for followers by default; a follower further behind loads again. */
const KEPT_CHANGES = 10_000
/** How long one migration (or the wait for another node's) may take, instead of statementMs. */
const MIGRATION_TIMEOUT_MS = 60_000

/** How long each kind of wait may last (docs/spec/storage.md §6), in milliseconds. */
export interface PostgresTimeouts {
  /** Opening a connection (TCP, TLS, authentication): the pool's `connectionTimeoutMillis`. */
  connectMs: number
  /**
   * One statement on the server, including the wait for the region's write lock:
   * PostgreSQL's `statement_timeout`.
   */
  statementMs: number
  /**
   * One query as the client sees it (`query_timeout`): catches a server or network that
   * stopped answering, where the server-side timeout cannot. Longer than `statementMs`,
   * so that a server that still answers cancels the statement first, cleanly.
   */
  queryMs: number
  /**
   * A transaction left idle (a node frozen or cut off while it held the write lock):
   * PostgreSQL's `idle_in_transaction_session_timeout`, after which the server ends that
   * session and so frees the lock. Longer than any `decide` should take (an RSA 4096 key
   * pair is made inside one).
   */
  idleInTransactionMs: number
  /** After a connection-level failure, calls fail at once for this long instead of queueing up behind new attempts. */
  unavailableBackoffMs: number
}

export const POSTGRES_TIMEOUTS: Readonly<PostgresTimeouts> = {
  connectMs: 3_000,
  statementMs: 5_000,
  queryMs: 6_000,
  idleInTransactionMs: 10_000,
  unavailableBackoffMs: 1_000,
}

export interface PostgresStorageOptions {
  /** `postgres://user:password@host:port/database?…` (libpq's URL form, as node-postgres reads it). */
  url: string
  /** The region's schema, e.g. schemaForRegion('us-east-1'). */
  schema: string
  /** Other processes (nodes of the region) write the same schema. */
  shared?: boolean
  /** Changes kept in the log for followers (default 10,000). */
  keptChanges?: number
  timeouts?: Partial<PostgresTimeouts>
  /** Connections of this node's pool (default 4), besides the listener's one. */
  poolSize?: number
}

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/

/** The schema of a region: `us-east-1` → `trent_us_east_1`. */
export function schemaForRegion(region: string): string {
  const schema = `trent_${region.replaceAll('-', '_')}`
  if (!SCHEMA_PATTERN.test(schema)) throw new Error(`storage: region ${JSON.stringify(region)} gives no valid PostgreSQL schema name`)
  return schema
}

/** The URL with its password replaced, for logs and error messages. */
export function redactPostgresUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return '<an unparseable PostgreSQL URL>'
  }
  if (parsed.password !== '') parsed.password = '***'
  for (const name of [...parsed.searchParams.keys()]) if (/pass|secret|key/i.test(name)) parsed.searchParams.set(name, '***')
  return parsed.toString()
}

/** SQLSTATE invalid_catalog_name: the server has no database of the name asked for. */
const UNDEFINED_DATABASE = '3D000'
/** duplicate_database, and the catalog's unique_violation when two create it at once. */
const DATABASE_EXISTS = new Set(['42P04', '23505'])
const INSUFFICIENT_PRIVILEGE = '42501'

function sqlStateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * Creates the database `url` names (docs/spec/storage.md §1), from a connection to the
 * server's maintenance database (`postgres`, else `template1`) as the same role. Several
 * nodes starting at once may all try: the one that loses finds it made, which is as good.
 * A role without CREATEDB gets a message that says what to do.
 */
async function createDatabase(url: string, config: pg.ClientConfig): Promise<void> {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  // No name in the URL: node-postgres took the role's name; leave that case to the operator.
  if (name === '') throw new Error(`storage: ${redactPostgresUrl(url)} names no database, and the default one does not exist`)
  let missing: unknown
  for (const maintenance of ['postgres', 'template1']) {
    target.pathname = `/${maintenance}`
    const client = new pg.Client({
      ...config,
      connectionString: target.toString(),
      statement_timeout: MIGRATION_TIMEOUT_MS,
      query_timeout: MIGRATION_TIMEOUT_MS,
    })
    // An idle client's error (the server going away) must not end the process.
    client.on('error', () => undefined)
    try {
      await client.connect()
    } catch (err) {
      await client.end().catch(() => undefined)
      if (sqlStateOf(err) !== UNDEFINED_DATABASE) throw err
      missing = err
      continue
    }
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`)
      return
    } catch (err) {
      const state = sqlStateOf(err)
      if (state !== undefined && DATABASE_EXISTS.has(state)) return
      if (state === INSUFFICIENT_PRIVILEGE) {
        throw new Error(
          `storage: the database ${JSON.stringify(name)} does not exist on ${redactPostgresUrl(url)}, and its role may not create it: ` +
            `create it (CREATE DATABASE), grant the role CREATEDB, or name a database that exists`,
          { cause: err },
        )
      }
      throw err
    } finally {
      await client.end().catch(() => undefined)
    }
  }
  throw missing instanceof Error
    ? missing
    : new Error(`storage: no maintenance database on ${redactPostgresUrl(url)} to create ${name} from`)
}

/** A 64-bit advisory lock key of a schema, the same in every node. */
function writeLockKey(schema: string): string {
  const digest = createHash('sha256').update(`trent region write lock\0${schema}`).digest()
  return digest.readBigInt64BE(0).toString()
}

/** SQLSTATEs of a server that is going away or cannot serve now. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53400'])
/** SQLSTATEs of a statement that ran out of time: a store too slow to answer now. */
const TIMED_OUT_SQLSTATES = new Set(['57014', '55P03'])
/** Socket errors of a server that is down or unreachable. */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
])
/** node-postgres's own messages for a lost, timed-out or unusable connection. */
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout expired|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|Connection ended)/

/**
 * How a failure of a database call counts: `connection` (the connection is lost or could
 * not be made: the server is down or unreachable), `timeout` (the server is there but did
 * not finish in time), or undefined (an error of the statement itself).
 */
function failureKind(err: unknown): 'connection' | 'timeout' | undefined {
  if (!(err instanceof Error)) return undefined
  const code = sqlStateOf(err)
  if (code !== undefined) {
    if (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code)) return 'connection'
    if (TIMED_OUT_SQLSTATES.has(code)) return 'timeout'
  }
  if (UNAVAILABLE_MESSAGES.test(err.message)) return 'connection'
  if (err instanceof AggregateError) return err.errors.some((e) => failureKind(e) === 'connection') ? 'connection' : undefined
  return undefined
}

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(errorMessage).join('; ')
  return err instanceof Error ? err.message : String(err)
}

const statementNames = new Map<string, string>()

/** A prepared statement's name, from its text: the same text gets the same name on every connection. */
function statementName(text: string): string {
  let name = statementNames.get(text)
  if (name === undefined) {
    name = `trent_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
    statementNames.set(text, name)
  }
  return name
}

/**
 * A pooled connection in use. Tells whether the connection broke, in which case it goes
 * back to the pool to be destroyed, not reused: a connection whose query timed out on
 * the client side still has that query running.
 */
class Session {
  broken = false
  readonly #client: PoolClient
  readonly #onError: (err: Error) => void
  readonly #fail: (err: unknown) => Error

  constructor(client: PoolClient, fail: (err: unknown) => Error) {
    this.#client = client
    this.#fail = fail
    // A checked-out connection may break between queries (while `decide` runs): without
    // a listener, its 'error' event would end the process.
    this.#onError = () => {
      this.broken = true
    }
    client.on('error', this.#onError)
  }

  /**
   * One statement. With parameters it is a named prepared statement, parsed and planned
   * once per connection rather than at every commit.
   */
  async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      if (values === undefined) return await this.#client.query<R>(text)
      return await this.#client.query<R>({ name: statementName(text), text, values })
    } catch (err) {
      if (failureKind(err) === 'connection') this.broken = true
      throw this.#fail(err)
    }
  }

  /** One statement allowed `timeoutMs` on both sides (a migration's DDL), instead of the usual timeouts. */
  async slowQuery(text: string, timeoutMs: number): Promise<pg.QueryResult> {
    try {
      await this.#client.query(`SET LOCAL statement_timeout = ${Math.floor(timeoutMs)}`)
      // node-postgres reads query_timeout from a query's config too, though its types omit it.
      const config: pg.QueryConfig & { query_timeout: number } = { text, query_timeout: timeoutMs + 1_000 }
      const result = await this.#client.query(config)
      await this.#client.query('SET LOCAL statement_timeout = DEFAULT')
      return result
    } catch (err) {
      if (failureKind(err) === 'connection') this.broken = true
      throw this.#fail(err)
    }
  }

  /** Several statements without parameters in one round trip (the simple query protocol): one result each. */
  async queries(text: string): Promise<pg.QueryResult[]> {
    const results: unknown = await this.query(text)
    return Array.isArray(results) ? (results as pg.QueryResult[]) : [results as pg.QueryResult]
  }

  /** Ends a failed transaction; a connection that cannot roll back is destroyed (the server then rolls back). */
  async rollback(): Promise<void> {
    if (this.broken) return
    try {
      await this.#client.query('ROLLBACK')
    } catch {
      this.broken = true
    }
  }

  release(): void {
    this.#client.removeListener('error', this.#onError)
    this.#client.release(this.broken)
  }
}

export class PostgresStorage implements Storage {
  readonly shared: boolean
  /** The schema, as a quoted identifier for SQL. */
  readonly #s: string
  readonly #schema: string
  readonly #lockKey: string
  readonly #keptChanges: number
  readonly #pruneEvery: number
  readonly #timeouts: PostgresTimeouts
  readonly #clientConfig: pg.ClientConfig
  readonly #pool: pg.Pool
  /** The URL without its password, for messages. */
  readonly #where: string
  #exclusive: Promise<unknown> = Promise.resolve()
  /** Until when calls fail at once, after a connection-level failure. */
  #unavailableUntil = 0
  #lastFailure: Error | undefined
  readonly #watchers = new Set<(position?: ChangePosition) => void>()
  #listener: ChangeListener | undefined
  #closed = false

  /**
   * Opens the region's schema, creating and migrating it if needed; and the database the
   * URL names, if the server has none of that name and the role may create one.
   */
  static async open(options: PostgresStorageOptions): Promise<PostgresStorage> {
    const storage = new PostgresStorage(options)
    try {
      try {
        await storage.#migrate()
      } catch (err) {
        if (sqlStateOf(err) !== UNDEFINED_DATABASE) throw err
        await createDatabase(options.url, storage.#clientConfig)
        await storage.#migrate()
      }
    } catch (err) {
      await storage.close()
      throw err
    }
    return storage
  }

  private constructor(options: PostgresStorageOptions) {
    if (!SCHEMA_PATTERN.test(options.schema)) throw new Error(`storage: ${JSON.stringify(options.schema)} is not a schema name Trent uses`)
    const url = options.url
    this.#where = `${redactPostgresUrl(url)}, schema ${options.schema}`
    try {
      // Checked here so that a malformed URL is reported without its text (and password).
      const protocol = new URL(url).protocol
      if (protocol !== 'postgres:' && protocol !== 'postgresql:') throw new Error('not postgres')
    } catch {
      throw new Error(`storage: ${redactPostgresUrl(url)} is not a postgres:// URL`)
    }
    this.shared = options.shared ?? false
    this.#schema = options.schema
    this.#s = `"${options.schema}"`
    this.#lockKey = writeLockKey(options.schema)
    this.#keptChanges = options.keptChanges ?? KEPT_CHANGES
    this.#pruneEvery = Math.max(1, Math.min(1_000, this.#keptChanges))
    this.#timeouts = { ...POSTGRES_TIMEOUTS, ...options.timeouts }
    this.#clientConfig = {
      connectionString: url,
      connectionTimeoutMillis: this.#timeouts.connectMs,
      statement_timeout: this.#timeouts.statementMs,
      query_timeout: this.#timeouts.queryMs,
      idle_in_transaction_session_timeout: this.#timeouts.idleInTransactionMs,
      // TCP keep-alives: a listener connection that only waits still learns that its peer is gone.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: `trent ${options.schema}`,
      // JIT compilation costs ~100 ms of CPU the first time a plan looks expensive to the
      // planner, and every statement here is short: never worth it (the bench found a
      // mis-estimated change-log read JIT-compiled on every call).
      options: '-c jit=off',
    }
    const poolConfig: PoolConfig = { ...this.#clientConfig, max: options.poolSize ?? 4, idleTimeoutMillis: 30_000 }
    this.#pool = new pg.Pool(poolConfig)
    // An idle pooled connection that breaks (the server restarted) is dropped by the pool;
    // the next call opens a new one. Without a listener the error would end the process.
    this.#pool.on('error', (err) => {
      this.#lastFailure = err
    })
  }

  /** Where this store is, without the password: for logs. */
  describe(): string {
    return `PostgreSQL ${this.#where}`
  }

  /** The error a failed database call is reported as. */
  #fail(err: unknown, what: string): Error {
    const kind = failureKind(err)
    if (kind === undefined) return err instanceof Error ? err : new Error(`storage: ${what} failed`)
    if (kind === 'connection') {
      this.#unavailableUntil = Date.now() + this.#timeouts.unavailableBackoffMs
      this.#lastFailure = err instanceof Error ? err : undefined
    }
    const reason = kind === 'connection' ? 'is unavailable' : 'did not answer in time'
    return new StorageUnavailableError(`storage: PostgreSQL (${this.#where}) ${reason} (${what}): ${errorMessage(err)}`, { cause: err })
  }

  #refuseIfClosed(): void {
    if (this.#closed) throw new Error('storage: the PostgreSQL store is closed')
  }

  async #session(what: string): Promise<Session> {
    if (Date.now() < this.#unavailableUntil) {
      throw new StorageUnavailableError(
        `storage: PostgreSQL (${this.#where}) is unavailable (${what}): ${this.#lastFailure === undefined ? 'it failed a moment ago' : errorMessage(this.#lastFailure)}`,
      )
    }
    let client: PoolClient
    try {
      client = await this.#pool.connect()
    } catch (err) {
      throw this.#fail(err, what)
    }
    return new Session(client, (err) => this.#fail(err, what))
  }

  /** Runs `work` in a transaction it begins; commits after it, rolls back if anything throws. */
  async #transaction<T>(what: string, work: (session: Session) => Promise<T>, sentItsCommit?: (result: T) => boolean): Promise<T> {
    const session = await this.#session(what)
    try {
      const result = await work(session)
      // Work may send COMMIT itself, with its last statements (commitChange does).
      if (sentItsCommit?.(result) !== true) await session.query('COMMIT')
      return result
    } catch (err) {
      await session.rollback()
      throw err
    } finally {
      session.release()
    }
  }

  /**
   * Creates the schema if missing and applies the migrations it lacks, in one transaction
   * under the region's write lock: concurrent starters wait for each other, and the
   * second finds the work done. A schema newer than this code is refused, untouched.
   */
  async #migrate(): Promise<void> {
    await this.#transaction('migrate', async (session) => {
      await session.query('BEGIN')
      // Another node may be migrating: wait as long as a migration may take.
      await session.slowQuery(`SELECT pg_advisory_xact_lock(${this.#lockKey})`, MIGRATION_TIMEOUT_MS)
      await session.query(`CREATE SCHEMA IF NOT EXISTS ${this.#s}`)
      await session.query(`CREATE TABLE IF NOT EXISTS ${this.#s}.schema_version (
        version    integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`)
      const found = await session.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${this.#s}.schema_version`)
      const current = found.rows[0]?.version ?? 0
      const known = POSTGRES_MIGRATIONS.length
      if (current > known) {
        throw new Error(
          `storage: the PostgreSQL schema ${this.#schema} is of version ${current}, newer than this Trent knows (${known}); run a newer Trent`,
        )
      }
      for (let version = current; version < known; version++) {
        const migration = POSTGRES_MIGRATIONS[version]
        if (migration === undefined) break
        await session.slowQuery(migration(this.#s), MIGRATION_TIMEOUT_MS)
        await session.query(`INSERT INTO ${this.#s}.schema_version (version) VALUES ($1)`, [version + 1])
      }
    })
  }

  async load(): Promise<LoadedState> {
    this.#refuseIfClosed()
    // One snapshot: the tables and the head position agree.
    return this.#transaction('load', async (session) => {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      const s = this.#s
      const records = async <T>(sql: string): Promise<T[]> =>
        (await session.query<{ record: string }>(sql)).rows.map((row) => JSON.parse(row.record) as T)
      const keys = await records<KeyRecord>(`SELECT record FROM ${s}.keys ORDER BY sequence`)
      const materials = (
        await session.query<{
          key_id: string
          version: number
          material_id: string
          created_at: string
          rotation: string | null
          token: Buffer
        }>(`SELECT key_id, version, material_id, created_at, rotation, token FROM ${s}.key_materials ORDER BY key_id, version`)
      ).rows.map((row): MaterialRecord => ({
        keyId: row.key_id,
        version: row.version,
        materialId: row.material_id,
        createdAt: Number(row.created_at),
        ...(row.rotation === 'AUTOMATIC' || row.rotation === 'ON_DEMAND' ? { rotationType: row.rotation } : {}),
        token: new Uint8Array(row.token),
      }))
      const aliases = (
        await session.query<{ alias_name: string; key_id: string; created_at: string; updated_at: string }>(
          `SELECT alias_name, key_id, created_at, updated_at FROM ${s}.aliases ORDER BY alias_name`,
        )
      ).rows.map((row): AliasRecord => ({
        aliasName: row.alias_name,
        keyId: row.key_id,
        createdAt: Number(row.created_at),
        updatedAt: Number(row.updated_at),
      }))
      const sessions = await records<SessionRecord>(`SELECT record FROM ${s}.replication_sessions ORDER BY session_id`)
      const answered = (
        await session.query<{ session_id: string; key_id: string; to_region: string; expires_at: string; body: Buffer }>(
          `SELECT session_id, key_id, to_region, expires_at, body FROM ${s}.answered_sessions ORDER BY session_id`,
        )
      ).rows.map((row): AnsweredSessionRecord => ({
        sessionId: row.session_id,
        keyId: row.key_id,
        to: row.to_region,
        expiresAt: Number(row.expires_at),
        body: new Uint8Array(row.body),
      }))
      const outbox = (
        await session.query<{ id: string; to_region: string; expires_at: string; body: Buffer }>(
          `SELECT id, to_region, expires_at, body FROM ${s}.outbox ORDER BY seq`,
        )
      ).rows.map((row): OutboxRecord => ({
        id: row.id,
        to: row.to_region,
        expiresAt: Number(row.expires_at),
        body: new Uint8Array(row.body),
      }))
      const tombstones = await records<TombstoneRecord>(`SELECT record FROM ${s}.tombstones ORDER BY key_id`)
      const grants = await records<GrantRecord>(`SELECT record FROM ${s}.grants ORDER BY seq`)
      const head = await session.query<{ position: string; digest: string | null }>(
        `SELECT position, digest FROM ${s}.change_head WHERE id = 1`,
      )
      const position = Number(head.rows[0]?.position ?? 0)
      const digest = position === 0 ? GENESIS_DIGEST : (head.rows[0]?.digest ?? undefined)
      return {
        keys,
        materials,
        aliases,
        sessions,
        answered,
        outbox,
        tombstones,
        grants,
        position,
        ...withDigest(digest),
      }
    })
  }

  commitChange<T>(
    since: ChangePosition,
    catchUp: (changes: readonly CommittedChange[]) => void,
    decide: () => Promise<Decision<T>> | Decision<T>,
    sinceDigest?: ChainDigest,
  ): Promise<{ position: ChangePosition; digest?: ChainDigest; result: T }> {
    if (this.#closed) return Promise.reject(new Error('storage: the PostgreSQL store is closed'))
    // One exclusive section at a time in this process (a second would only wait for the
    // write lock while holding a pooled connection), and the advisory lock against the
    // other nodes.
    const run = this.#exclusive.then(() =>
      this.#transaction(
        'commit',
        async (session) => {
          if (!Number.isSafeInteger(since) || since < 0) throw new Error(`storage: ${since} is not a change log position`)
          // BEGIN, the region's write lock, and the changes to catch up with, in one round
          // trip (the lock key and position are integers, written out).
          const [, , changes] = await session.queries(
            `BEGIN; SELECT pg_advisory_xact_lock(${this.#lockKey}); ${this.#changesAfterSql(since)}`,
          )
          const read = this.#changesFrom(since, (changes?.rows ?? []) as LogRow[], sinceDigest)
          if (read === undefined) throw new ChangeLogMismatchError(`storage: cannot continue the change log from ${since}; load again`)
          if (read.changes.length > 0) catchUp(read.changes)
          // Under the write lock and caught up: the head is where this writer now is.
          const caughtUp = read.head
          const { writes, result } = await decide()
          if (writes.length === 0) return { position: caughtUp, digest: read.headDigest, result, committed: false }
          // The writes, the change log entry and COMMIT in one round trip: the region's write
          // lock is held for two round trips and the WAL flush, not one round trip per write.
          const digest = chainDigest(read.headDigest ?? GENESIS_DIGEST, caughtUp + 1, encodeWrites(writes))
          return { position: await this.#commitWrites(session, caughtUp, writes, digest), digest, result, committed: true }
        },
        (outcome) => outcome.committed,
      ),
    )
    this.#exclusive = run.catch(() => undefined)
    return run.then(({ position, digest, result }) => ({ position, ...withDigest(digest), result }))
  }

  /**
   * Sends `writes`, the change log entry at `caughtUp + 1` and COMMIT as one simple query
   * (docs/spec/storage.md §3). Statements run in order and the first error stops the rest,
   * COMMIT included; the caller then rolls back. The values are written into the text as
   * literals (sqlLiteral), since the simple query protocol takes no parameters.
   */
  async #commitWrites(session: Session, caughtUp: ChangePosition, writes: readonly Write[], digest: ChainDigest): Promise<ChangePosition> {
    const s = this.#s
    const position = caughtUp + 1
    const statements = writes.flatMap((write) => this.#writeStatement(write) ?? [])
    // Under the write lock and caught up, the head is at `caughtUp`; if it were not, the
    // change would take another position than the one decided on: refuse before COMMIT.
    statements.push({
      text: `DO $check$ BEGIN IF (SELECT position FROM ${s}.change_head WHERE id = 1) <> ${caughtUp} THEN RAISE EXCEPTION 'trent: the change log head moved under the write lock'; END IF; END $check$`,
      values: [],
    })
    statements.push({
      text: `WITH head AS (UPDATE ${s}.change_head SET position = position + 1, digest = $3 WHERE id = 1 RETURNING position),
            entry AS (INSERT INTO ${s}.changes (position, writes, digest) SELECT position, $1, $3 FROM head)
       SELECT position, pg_notify($2, position::text) FROM head`,
      values: [encodeWrites(writes), this.#schema, digest],
    })
    if (position % this.#pruneEvery === 0) {
      statements.push({ text: `DELETE FROM ${s}.changes WHERE position <= $1`, values: [position - this.#keptChanges] })
    }
    const results = await session.queries(`${statements.map(inlineValues).join(';\n')};\nCOMMIT`)
    const appended = results[statements.length - (position % this.#pruneEvery === 0 ? 2 : 1)]
    const written = Number((appended?.rows[0] as { position?: string } | undefined)?.position)
    if (written !== position) throw new Error(`storage: the change was logged at ${written}, not ${position}`)
    return position
  }

  /**
   * The statement that reads the head (`h`), the digest of the change at `since` (`s`,
   * when it is still kept) and the changes after `since` (`c`), in one snapshot: always at
   * least one row, the head's, so a log that ends before `since` is seen.
   */
  #changesAfterSql(since: ChangePosition): string {
    const s = this.#s
    // The head as a row of its own, first, then the changes by the primary key's index:
    // no join, whose estimate the planner cannot make from a one-row table's statistics.
    return (
      `(SELECT 'h' AS kind, position, NULL::text AS writes, digest FROM ${s}.change_head WHERE id = 1) ` +
      `UNION ALL (SELECT 's', position, NULL, digest FROM ${s}.changes WHERE position = ${since}) ` +
      `UNION ALL (SELECT 'c', position, writes, digest FROM ${s}.changes WHERE position > ${since} ORDER BY position)`
    )
  }

  /**
   * The changes after `since` from the rows one statement (one snapshot) read, with the
   * head's position and digest; undefined when the first of them was pruned, when the
   * log's head is before `since` (it went back: a failover to a database that lost
   * commits), or when `sinceDigest` is given and the log's digest at `since` is known and
   * another (the log holds another history). Positions are gapless, so a log that starts
   * at `since + 1` holds every change after it.
   */
  #changesFrom(
    since: ChangePosition,
    rows: readonly LogRow[],
    sinceDigest?: ChainDigest,
  ): { changes: CommittedChange[]; head: ChangePosition; headDigest: ChainDigest | undefined } | undefined {
    const headRow = rows.find((row) => row.kind === 'h')
    const head = Number(headRow?.position ?? 0)
    if (head < since) return undefined
    const headDigest = head === 0 ? GENESIS_DIGEST : (headRow?.digest ?? undefined)
    if (sinceDigest !== undefined) {
      const known = since === 0 ? GENESIS_DIGEST : since === head ? headDigest : (rows.find((row) => row.kind === 's')?.digest ?? undefined)
      if (known !== undefined && known !== sinceDigest) return undefined
    }
    // In position order whatever order the UNION's branches came back in.
    const changes = rows
      .filter(
        (row): row is LogRow & { position: string; writes: string } => row.kind === 'c' && row.position !== null && row.writes !== null,
      )
      .sort((x, y) => Number(x.position) - Number(y.position))
    const first = changes[0]
    if (first === undefined) return head === since ? { changes: [], head, headDigest } : undefined
    if (Number(first.position) !== since + 1) return undefined
    return {
      changes: changes.map((row) => ({
        position: Number(row.position),
        writes: decodeWrites(row.writes),
        ...withDigest(row.digest ?? undefined),
      })),
      head,
      headDigest,
    }
  }

  async changesSince(since: ChangePosition, sinceDigest?: ChainDigest): Promise<CommittedChange[] | undefined> {
    this.#refuseIfClosed()
    if (!Number.isSafeInteger(since) || since < 0) throw new Error(`storage: ${since} is not a change log position`)
    const session = await this.#session('changesSince')
    try {
      const rows = await session.query<LogRow>(this.#changesAfterSql(since))
      return this.#changesFrom(since, rows.rows, sinceDigest)?.changes
    } finally {
      session.release()
    }
  }

  /** The statement that makes one write; none for a write only the change log holds. */
  #writeStatement(write: Write): Statement | undefined {
    const s = this.#s
    switch (write.kind) {
      case 'putKey':
        return {
          text: `INSERT INTO ${s}.keys (key_id, sequence, record) VALUES ($1, $2, $3)
           ON CONFLICT (key_id) DO UPDATE SET sequence = excluded.sequence, record = excluded.record`,
          values: [write.key.keyId, write.key.sequence, JSON.stringify(write.key)],
        }
      case 'deleteKey':
        // A key goes with its materials and grants, as in the other stores.
        return {
          text: `WITH materials AS (DELETE FROM ${s}.key_materials WHERE key_id = $1),
                grants AS (DELETE FROM ${s}.grants WHERE key_id = $1)
           DELETE FROM ${s}.keys WHERE key_id = $1`,
          values: [write.keyId],
        }
      case 'putMaterial': {
        const m = write.material
        return {
          text: `INSERT INTO ${s}.key_materials (key_id, version, material_id, created_at, rotation, token) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (key_id, version) DO UPDATE SET material_id = excluded.material_id, created_at = excluded.created_at,
             rotation = excluded.rotation, token = excluded.token`,
          values: [m.keyId, m.version, m.materialId, m.createdAt, m.rotationType ?? null, bytes(m.token)],
        }
      }
      case 'deleteMaterial':
        return { text: `DELETE FROM ${s}.key_materials WHERE key_id = $1 AND version = $2`, values: [write.keyId, write.version] }
      case 'putGrant':
        return {
          text: `INSERT INTO ${s}.grants (grant_id, key_id, record) VALUES ($1, $2, $3)
           ON CONFLICT (grant_id) DO UPDATE SET key_id = excluded.key_id, record = excluded.record`,
          values: [write.grant.grantId, write.grant.keyId, JSON.stringify(write.grant)],
        }
      case 'deleteGrant':
        return { text: `DELETE FROM ${s}.grants WHERE grant_id = $1`, values: [write.grantId] }
      case 'putAlias': {
        const a = write.alias
        return {
          text: `INSERT INTO ${s}.aliases (alias_name, key_id, created_at, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (alias_name) DO UPDATE SET key_id = excluded.key_id, created_at = excluded.created_at, updated_at = excluded.updated_at`,
          values: [a.aliasName, a.keyId, a.createdAt, a.updatedAt],
        }
      }
      case 'deleteAlias':
        return { text: `DELETE FROM ${s}.aliases WHERE alias_name = $1`, values: [write.aliasName] }
      case 'putSession':
        return {
          text: `INSERT INTO ${s}.replication_sessions (session_id, record) VALUES ($1, $2)
           ON CONFLICT (session_id) DO UPDATE SET record = excluded.record`,
          values: [write.session.sessionId, JSON.stringify(write.session)],
        }
      case 'deleteSession':
        return { text: `DELETE FROM ${s}.replication_sessions WHERE session_id = $1`, values: [write.sessionId] }
      case 'putAnswered': {
        const a = write.answered
        return {
          text: `INSERT INTO ${s}.answered_sessions (session_id, key_id, to_region, expires_at, body) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (session_id) DO UPDATE SET key_id = excluded.key_id, to_region = excluded.to_region,
             expires_at = excluded.expires_at, body = excluded.body`,
          values: [a.sessionId, a.keyId, a.to, a.expiresAt, bytes(a.body)],
        }
      }
      case 'deleteAnswered':
        return { text: `DELETE FROM ${s}.answered_sessions WHERE session_id = $1`, values: [write.sessionId] }
      case 'putOutbox': {
        const m = write.message
        return {
          text: `INSERT INTO ${s}.outbox (id, to_region, expires_at, body) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET to_region = excluded.to_region, expires_at = excluded.expires_at, body = excluded.body`,
          values: [m.id, m.to, m.expiresAt, bytes(m.body)],
        }
      }
      case 'deleteOutbox':
        return { text: `DELETE FROM ${s}.outbox WHERE id = $1`, values: [write.id] }
      case 'auditIntent':
        // The change log alone holds it.
        return undefined
      case 'putTombstone':
        return {
          text: `INSERT INTO ${s}.tombstones (key_id, record) VALUES ($1, $2) ON CONFLICT (key_id) DO UPDATE SET record = excluded.record`,
          values: [write.tombstone.keyId, JSON.stringify(write.tombstone)],
        }
      case 'deleteTombstone':
        return { text: `DELETE FROM ${s}.tombstones WHERE key_id = $1`, values: [write.keyId] }
    }
  }

  async holdLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    this.#refuseIfClosed()
    // The database's clock, both to set the expiry and to judge it.
    const session = await this.#session('holdLease')
    try {
      const taken = await session.query(
        `INSERT INTO ${this.#s}.leases AS lease (name, holder, expires_at) VALUES ($1, $2, now() + $3::float8 * interval '1 millisecond')
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE lease.holder = excluded.holder OR lease.expires_at <= now()`,
        [name, holder, ttlMs],
      )
      return taken.rowCount === 1
    } finally {
      session.release()
    }
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.#refuseIfClosed()
    const session = await this.#session('releaseLease')
    try {
      await session.query(`DELETE FROM ${this.#s}.leases WHERE name = $1 AND holder = $2`, [name, holder])
    } finally {
      session.release()
    }
  }

  watch(listener: (position?: ChangePosition) => void): () => void {
    this.#watchers.add(listener)
    if (this.#listener === undefined && !this.#closed) {
      this.#listener = new ChangeListener(this.#clientConfig, this.#schema, (position) => {
        for (const watcher of this.#watchers) watcher(position)
      })
    }
    return () => this.#watchers.delete(listener)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    // New calls are refused from now on; commits already queued still run.
    this.#closed = true
    await this.#exclusive
    await this.#listener?.close()
    await this.#pool.end()
  }
}

/** A byte array as node-postgres sends `bytea`: a Buffer over the same bytes. */
/** A row of #changesAfterSql: the head (`h`), the change at `since` (`s`) or a change after it (`c`). */
interface LogRow {
  kind: 'h' | 's' | 'c'
  position: string | null
  writes: string | null
  digest: string | null
}

/** One SQL statement and its parameters ($1, $2, …). */
interface Statement {
  text: string
  values: unknown[]
}

/**
 * The statement with each `$n` replaced by its value as an SQL literal, for the simple
 * query protocol (several statements, no parameters). The texts are Trent's own and hold
 * no `$n` but placeholders (a dollar-quoted DO block uses `$check$`, never `$<digits>`).
 */
function inlineValues(statement: Statement): string {
  return statement.text.replace(/\$(\d+)/g, (_, index: string) => {
    const position = Number(index) - 1
    if (position < 0 || position >= statement.values.length) throw new Error(`storage: no value for $${index}`)
    return sqlLiteral(statement.values[position])
  })
}

/**
 * A value as an SQL literal: text through node-postgres's escapeLiteral (which doubles
 * quotes and, with any backslash, uses the E'' form with backslashes doubled, so it is
 * right whatever standard_conforming_strings says); integers as digits; bytes as bytea's
 * hex input form. Anything else is a bug, refused rather than written.
 */
export function sqlLiteral(value: unknown): string {
  if (value === null) return 'NULL'
  if (typeof value === 'string') return pg.escapeLiteral(value)
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`storage: ${value} is not a safe integer`)
    return String(value)
  }
  // E'' keeps the backslash a backslash whatever standard_conforming_strings says.
  if (value instanceof Uint8Array) return `E'\\\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}'::bytea`
  throw new Error(`storage: cannot write a ${typeof value} as an SQL literal`)
}

function bytes(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

/** How long the listener waits before reconnecting, doubling from the first up to the last. */
const LISTEN_RETRY_MS = { first: 250, last: 5_000 }
/** How often the listener checks that its connection still answers. */
const LISTEN_PING_MS = 10_000

/**
 * The `LISTEN` side of `watch`: one connection of its own that waits for the region's
 * notifications, and reconnects when it drops. On every (re)connection it calls `notify`
 * once, since commits may have happened while it was away.
 */
class ChangeListener {
  readonly #config: pg.ClientConfig
  readonly #channel: string
  readonly #notify: (position?: ChangePosition) => void
  #client: pg.Client | undefined
  #retryMs = LISTEN_RETRY_MS.first
  #retry: NodeJS.Timeout | undefined
  #ping: NodeJS.Timeout | undefined
  #closed = false

  constructor(config: pg.ClientConfig, channel: string, notify: (position?: ChangePosition) => void) {
    this.#config = config
    this.#channel = channel
    this.#notify = notify
    void this.#connect()
  }

  async #connect(): Promise<void> {
    this.#retry = undefined
    if (this.#closed) return
    const client = new pg.Client(this.#config)
    this.#client = client
    let dropped = false
    const drop = (): void => {
      if (dropped) return
      dropped = true
      clearInterval(this.#ping)
      void client.end().catch(() => undefined)
      if (this.#client === client) this.#client = undefined
      if (!this.#closed) {
        this.#retry = setTimeout(() => void this.#connect(), this.#retryMs)
        this.#retry.unref()
        this.#retryMs = Math.min(this.#retryMs * 2, LISTEN_RETRY_MS.last)
      }
    }
    client.on('error', drop)
    client.on('end', drop)
    client.on('notification', (message) => {
      if (message.channel !== this.#channel) return
      // The commit's position (pg_notify in #commitWrites), when it reads as one.
      const position = Number(message.payload)
      this.#notify(Number.isSafeInteger(position) && position > 0 ? position : undefined)
    })
    try {
      await client.connect()
      await client.query(`LISTEN "${this.#channel}"`)
    } catch {
      drop()
      return
    }
    if (this.#closed) {
      drop()
      return
    }
    this.#retryMs = LISTEN_RETRY_MS.first
    this.#ping = setInterval(() => {
      client.query('SELECT 1').catch(drop)
    }, LISTEN_PING_MS)
    this.#ping.unref()
    this.#notify()
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#retry)
    clearInterval(this.#ping)
    const client = this.#client
    this.#client = undefined
    await client?.end().catch(() => undefined)
  }
}
