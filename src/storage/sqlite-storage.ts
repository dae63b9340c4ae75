/**
 * Storage on SQLite (better-sqlite3), the embedded default: one database file per
 * region, WAL journal with synchronous=FULL so that a committed batch survives kill -9
 * (and power loss) of the region process.
 *
 * The change log and the exclusive commit of the storage port (storage.ts) are a
 * `changes` table and an optimistic commit under `BEGIN IMMEDIATE`, SQLite's one writer at
 * a time: several node processes on one host can share the file.
 *
 * @module
 */
import { realpathSync } from 'node:fs'
import Database from 'better-sqlite3'
import type {
  AliasRecord,
  AnsweredSessionRecord,
  KeyRecord,
  MaterialRecord,
  OutboxRecord,
  SessionRecord,
  TombstoneRecord,
  GrantRecord,
  Write,
} from './records.js'
import {
  ChangeLogMismatchError,
  GENESIS_DIGEST,
  chainDigest,
  withDigest,
  type ChainDigest,
  type ChangePosition,
  type CommittedChange,
  type Decision,
  type LoadedState,
  type Storage,
} from './storage.js'
import { SqliteHeadFile } from './sqlite-head-file.js'
import { decodeWrites, encodeWrites } from './write-codec.js'

/** Changes kept for followers by default; a follower further behind loads again. */
const KEPT_CHANGES = 10_000
/** How long a writer waits for another process's write lock before failing. */
const BUSY_TIMEOUT_MS = 10_000

/** Schema versions, each applied once, in order (the version reached is in trent_meta). */
const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE IF NOT EXISTS keys (
  key_id   TEXT PRIMARY KEY,
  sequence INTEGER NOT NULL,
  record   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS key_materials (
  key_id      TEXT NOT NULL,
  version     INTEGER NOT NULL,
  material_id TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  rotation    TEXT,
  token       BLOB NOT NULL,
  PRIMARY KEY (key_id, version)
);
CREATE TABLE IF NOT EXISTS replication_sessions (
  session_id TEXT PRIMARY KEY,
  record     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answered_sessions (
  session_id TEXT PRIMARY KEY,
  key_id     TEXT NOT NULL,
  to_region  TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  body       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  id         TEXT PRIMARY KEY,
  seq        INTEGER NOT NULL,
  to_region  TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  body       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones (
  key_id TEXT PRIMARY KEY,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
  grant_id TEXT PRIMARY KEY,
  key_id   TEXT NOT NULL,
  record   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
  alias_name TEXT PRIMARY KEY,
  key_id     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`,
  // 2: the change log, its head, and leases (storage.ts; docs/spec/storage.md).
  `
CREATE TABLE changes (
  position INTEGER PRIMARY KEY,
  writes   TEXT NOT NULL
);
CREATE TABLE change_head (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  position INTEGER NOT NULL
);
INSERT INTO change_head (id, position) VALUES (1, 0);
CREATE TABLE leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
`,
  // 3: the change log's chain digests (storage.ts chainDigest); NULL for changes logged before.
  `
ALTER TABLE changes ADD COLUMN digest TEXT;
ALTER TABLE change_head ADD COLUMN digest TEXT;
`,
]

interface MaterialRow {
  key_id: string
  version: number
  material_id: string
  created_at: number
  rotation: string | null
  token: Buffer
}

interface AliasRow {
  alias_name: string
  key_id: string
  created_at: number
  updated_at: number
}

/**
 * The exclusive sections of this process, one queue per database file. Two SqliteStorage
 * of one file in one process (two nodes of a region in a test) must never wait for
 * SQLite's write lock at the same time as each other: better-sqlite3 waits synchronously,
 * so the waiting one would block the event loop that the holder needs to finish its
 * section (a deadlock until the busy timeout). Other processes are excluded by SQLite.
 */
const exclusiveSections = new Map<string, { tail: Promise<unknown>; users: number }>()

function joinExclusiveSection(file: string): { tail: Promise<unknown>; users: number } {
  const section = exclusiveSections.get(file) ?? { tail: Promise.resolve(), users: 0 }
  section.users += 1
  exclusiveSections.set(file, section)
  return section
}

function leaveExclusiveSection(file: string): void {
  const section = exclusiveSections.get(file)
  if (section !== undefined && --section.users === 0) exclusiveSections.delete(file)
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS trent_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)')
  // Exclusive, so that two processes opening a new file at once migrate it once.
  db.exec('BEGIN IMMEDIATE')
  try {
    const row = db.prepare("SELECT value FROM trent_meta WHERE name = 'schema_version'").get() as { value: string } | undefined
    // A file of the first version may predate its row: its tables exist if `keys` does.
    let version =
      row !== undefined ? Number(row.value) : db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'keys'").get() !== undefined ? 1 : 0
    if (version > MIGRATIONS.length)
      throw new Error(`storage: the database is of schema ${version}, newer than this Trent (${MIGRATIONS.length})`)
    for (; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version] ?? '')
    db.prepare(
      "INSERT INTO trent_meta (name, value) VALUES ('schema_version', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    ).run(String(version))
    db.exec('COMMIT')
  } catch (err) {
    db.exec('ROLLBACK')
    throw err
  }
}

export class SqliteStorage implements Storage {
  readonly shared: boolean
  readonly #db: Database.Database
  readonly #apply: (writes: readonly Write[]) => void
  readonly #head: () => ChangePosition
  /** The chain digest at a position, when known: always at 0; NULL for changes logged before the chain. */
  readonly #digestAt: (position: ChangePosition) => ChainDigest | undefined
  readonly #appendChange: (position: ChangePosition, writes: string, digest: ChainDigest) => void
  readonly #changesAfter: (since: ChangePosition) => Array<{ position: number; writes: string; digest: string | null }>
  readonly #oldestChange: () => ChangePosition | undefined
  /** The file's queue of exclusive sections in this process, shared by every SqliteStorage of it. */
  readonly #section: { tail: Promise<unknown>; users: number }
  readonly #sectionKey: string
  /** Where a shared file's commits are announced to the other nodes (sqlite-head-file.ts). */
  readonly #headFile: SqliteHeadFile | undefined

  /**
   * `shared`: other processes (nodes of the region) write the same file. `keptChanges`:
   * how many changes the log keeps (default 10,000).
   */
  constructor(path: string, options: { shared?: boolean; keptChanges?: number } = {}) {
    this.shared = options.shared ?? false
    const keptChanges = options.keptChanges ?? KEPT_CHANGES
    const pruneEvery = Math.max(1, Math.min(1_000, keptChanges))
    this.#db = new Database(path, { timeout: BUSY_TIMEOUT_MS })
    this.#db.pragma('journal_mode = WAL')
    // FULL: the WAL is fsynced at every commit, so an acknowledged write is on disk.
    this.#db.pragma('synchronous = FULL')
    this.#db.pragma('foreign_keys = ON')
    migrate(this.#db)
    // The file's real path: one queue for every name of the same file. A private
    // in-memory database has none, and no one to share with.
    this.#sectionKey = this.#db.memory ? `:memory:${Math.random()}` : realpathSync(this.#db.name)
    this.#section = joinExclusiveSection(this.#sectionKey)
    this.#headFile = this.shared && !this.#db.memory ? new SqliteHeadFile(this.#sectionKey) : undefined

    const head = this.#db.prepare('SELECT position FROM change_head WHERE id = 1').pluck()
    this.#head = () => head.get() as number
    const headDigest = this.#db.prepare('SELECT digest FROM change_head WHERE id = 1').pluck()
    const changeDigest = this.#db.prepare('SELECT digest FROM changes WHERE position = ?').pluck()
    this.#digestAt = (position) => {
      if (position === 0) return GENESIS_DIGEST
      const digest = (position === this.#head() ? headDigest.get() : changeDigest.get(position)) as string | null | undefined
      return digest ?? undefined
    }
    const setHead = this.#db.prepare('UPDATE change_head SET position = ?, digest = ? WHERE id = 1')
    const insertChange = this.#db.prepare('INSERT INTO changes (position, writes, digest) VALUES (?, ?, ?)')
    const pruneChanges = this.#db.prepare('DELETE FROM changes WHERE position <= ?')
    this.#appendChange = (position, writes, digest) => {
      insertChange.run(position, writes, digest)
      setHead.run(position, digest)
      if (position % pruneEvery === 0) pruneChanges.run(position - keptChanges)
    }
    const changesAfter = this.#db.prepare('SELECT position, writes, digest FROM changes WHERE position > ? ORDER BY position')
    this.#changesAfter = (since) => changesAfter.all(since) as Array<{ position: number; writes: string; digest: string | null }>
    const oldest = this.#db.prepare('SELECT MIN(position) FROM changes').pluck()
    this.#oldestChange = () => (oldest.get() as number | null) ?? undefined

    const putKey = this.#db.prepare(
      'INSERT INTO keys (key_id, sequence, record) VALUES (?, ?, ?) ON CONFLICT(key_id) DO UPDATE SET record = excluded.record',
    )
    const deleteKey = this.#db.prepare('DELETE FROM keys WHERE key_id = ?')
    const deleteMaterials = this.#db.prepare('DELETE FROM key_materials WHERE key_id = ?')
    const putMaterial = this.#db.prepare(
      `INSERT INTO key_materials (key_id, version, material_id, created_at, rotation, token) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(key_id, version) DO UPDATE SET material_id = excluded.material_id, created_at = excluded.created_at,
         rotation = excluded.rotation, token = excluded.token`,
    )
    const putAlias = this.#db.prepare(
      `INSERT INTO aliases (alias_name, key_id, created_at, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(alias_name) DO UPDATE SET key_id = excluded.key_id, created_at = excluded.created_at, updated_at = excluded.updated_at`,
    )
    const deleteAlias = this.#db.prepare('DELETE FROM aliases WHERE alias_name = ?')
    const putSession = this.#db.prepare(
      'INSERT INTO replication_sessions (session_id, record) VALUES (?, ?) ON CONFLICT(session_id) DO UPDATE SET record = excluded.record',
    )
    const deleteSession = this.#db.prepare('DELETE FROM replication_sessions WHERE session_id = ?')
    const putAnswered = this.#db.prepare(
      'INSERT OR REPLACE INTO answered_sessions (session_id, key_id, to_region, expires_at, body) VALUES (?, ?, ?, ?, ?)',
    )
    const deleteAnswered = this.#db.prepare('DELETE FROM answered_sessions WHERE session_id = ?')
    const putOutbox = this.#db.prepare(
      'INSERT OR REPLACE INTO outbox (id, seq, to_region, expires_at, body) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox), ?, ?, ?)',
    )
    const deleteOutbox = this.#db.prepare('DELETE FROM outbox WHERE id = ?')
    const putTombstone = this.#db.prepare('INSERT OR REPLACE INTO tombstones (key_id, record) VALUES (?, ?)')
    const deleteTombstone = this.#db.prepare('DELETE FROM tombstones WHERE key_id = ?')
    const deleteMaterial = this.#db.prepare('DELETE FROM key_materials WHERE key_id = ? AND version = ?')
    const putGrant = this.#db.prepare('INSERT OR REPLACE INTO grants (grant_id, key_id, record) VALUES (?, ?, ?)')
    const deleteGrant = this.#db.prepare('DELETE FROM grants WHERE grant_id = ?')
    const deleteKeyGrants = this.#db.prepare('DELETE FROM grants WHERE key_id = ?')

    this.#apply = (writes: readonly Write[]) => {
      for (const write of writes) {
        switch (write.kind) {
          case 'putKey':
            putKey.run(write.key.keyId, write.key.sequence, JSON.stringify(write.key))
            break
          case 'deleteKey':
            deleteMaterials.run(write.keyId)
            deleteKeyGrants.run(write.keyId)
            deleteKey.run(write.keyId)
            break
          case 'deleteMaterial':
            deleteMaterial.run(write.keyId, write.version)
            break
          case 'putGrant':
            putGrant.run(write.grant.grantId, write.grant.keyId, JSON.stringify(write.grant))
            break
          case 'deleteGrant':
            deleteGrant.run(write.grantId)
            break
          case 'putMaterial': {
            const m = write.material
            putMaterial.run(m.keyId, m.version, m.materialId, m.createdAt, m.rotationType ?? null, Buffer.from(m.token))
            break
          }
          case 'putAlias':
            putAlias.run(write.alias.aliasName, write.alias.keyId, write.alias.createdAt, write.alias.updatedAt)
            break
          case 'deleteAlias':
            deleteAlias.run(write.aliasName)
            break
          case 'putSession':
            putSession.run(write.session.sessionId, JSON.stringify(write.session))
            break
          case 'deleteSession':
            deleteSession.run(write.sessionId)
            break
          case 'putAnswered': {
            const a = write.answered
            putAnswered.run(a.sessionId, a.keyId, a.to, a.expiresAt, Buffer.from(a.body))
            break
          }
          case 'deleteAnswered':
            deleteAnswered.run(write.sessionId)
            break
          case 'putOutbox': {
            const m = write.message
            putOutbox.run(m.id, m.to, m.expiresAt, Buffer.from(m.body))
            break
          }
          case 'deleteOutbox':
            deleteOutbox.run(write.id)
            break
          case 'auditIntent':
            // The change log alone holds it.
            break
          case 'putTombstone':
            putTombstone.run(write.tombstone.keyId, JSON.stringify(write.tombstone))
            break
          case 'deleteTombstone':
            deleteTombstone.run(write.keyId)
            break
        }
      }
    }
  }

  load(): Promise<LoadedState> {
    // One read transaction: the tables and the head position agree.
    this.#db.exec('BEGIN')
    try {
      return Promise.resolve(this.#snapshot())
    } finally {
      this.#db.exec('COMMIT')
    }
  }

  #snapshot(): LoadedState {
    const keys = this.#records<KeyRecord>('SELECT record FROM keys ORDER BY sequence')
    const materials = (this.#db.prepare('SELECT * FROM key_materials ORDER BY key_id, version').all() as MaterialRow[]).map(
      (row): MaterialRecord => ({
        keyId: row.key_id,
        version: row.version,
        materialId: row.material_id,
        createdAt: row.created_at,
        ...(row.rotation === 'AUTOMATIC' || row.rotation === 'ON_DEMAND' ? { rotationType: row.rotation } : {}),
        token: new Uint8Array(row.token),
      }),
    )
    const aliases = (this.#db.prepare('SELECT * FROM aliases ORDER BY alias_name').all() as AliasRow[]).map((row): AliasRecord => ({
      aliasName: row.alias_name,
      keyId: row.key_id,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }))
    const sessions = this.#records<SessionRecord>('SELECT record FROM replication_sessions')
    const answered = (
      this.#db.prepare('SELECT * FROM answered_sessions').all() as Array<{
        session_id: string
        key_id: string
        to_region: string
        expires_at: number
        body: Buffer
      }>
    ).map((row): AnsweredSessionRecord => ({
      sessionId: row.session_id,
      keyId: row.key_id,
      to: row.to_region,
      expiresAt: row.expires_at,
      body: new Uint8Array(row.body),
    }))
    const outbox = (
      this.#db.prepare('SELECT * FROM outbox ORDER BY seq').all() as Array<{
        id: string
        to_region: string
        expires_at: number
        body: Buffer
      }>
    ).map((row): OutboxRecord => ({ id: row.id, to: row.to_region, expiresAt: row.expires_at, body: new Uint8Array(row.body) }))
    const tombstones = this.#records<TombstoneRecord>('SELECT record FROM tombstones')
    const grants = this.#records<GrantRecord>('SELECT record FROM grants ORDER BY rowid')
    const position = this.#head()
    const digest = this.#digestAt(position)
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
  }

  /** The rows of a table that keeps each record as JSON in its `record` column. */
  #records<T>(sql: string): T[] {
    return this.#db
      .prepare(sql)
      .all()
      .map((row) => JSON.parse((row as { record: string }).record) as T)
  }

  commitChange<T>(
    since: ChangePosition,
    catchUp: (changes: readonly CommittedChange[]) => void,
    decide: () => Promise<Decision<T>> | Decision<T>,
    sinceDigest?: ChainDigest,
  ): Promise<{ position: ChangePosition; digest?: ChainDigest; result: T }> {
    // Optimistic: `decide` runs without SQLite's write lock (it may await the HSM, and
    // better-sqlite3 waits for a lock by blocking the whole thread, which would stall
    // another node's process for as long); the commit then takes the lock and goes through
    // only if no one committed since, else catches up and decides again. One exclusive
    // section at a time per file in this process, as the port requires.
    return this.#exclusively(async () => {
      let position = since
      let positionDigest = sinceDigest
      for (;;) {
        const missed = this.#changesSinceNow(position, positionDigest)
        if (missed === undefined) throw new ChangeLogMismatchError(`storage: cannot continue the change log from ${position}; load again`)
        if (missed.length > 0) catchUp(missed)
        const last = missed.at(-1)
        if (last !== undefined) {
          position = last.position
          positionDigest = last.digest
        }
        const { writes, result } = await decide()
        if (writes.length === 0) return { position, ...withDigest(this.#digestAt(position)), result }
        const encoded = encodeWrites(writes)
        this.#db.exec('BEGIN IMMEDIATE')
        try {
          if (this.#head() !== position) {
            // Another node committed while this one decided: decide again on its change.
            this.#db.exec('ROLLBACK')
            continue
          }
          const digest = chainDigest(this.#digestAt(position) ?? GENESIS_DIGEST, position + 1, encoded)
          this.#apply(writes)
          this.#appendChange(position + 1, encoded, digest)
          this.#db.exec('COMMIT')
          this.#headFile?.announce(position + 1)
          return { position: position + 1, digest, result }
        } catch (err) {
          if (this.#db.inTransaction) this.#db.exec('ROLLBACK')
          throw err instanceof Error ? err : new Error('storage: commit failed')
        }
      }
    })
  }

  /** Runs `work` once every exclusive section of this file queued before it in this process has ended. */
  #exclusively<T>(work: () => Promise<T> | T): Promise<T> {
    const run = this.#section.tail.then(work)
    this.#section.tail = run.catch(() => undefined)
    return run
  }

  changesSince(since: ChangePosition, sinceDigest?: ChainDigest): Promise<CommittedChange[] | undefined> {
    try {
      return Promise.resolve(this.#changesSinceNow(since, sinceDigest))
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error('storage: cannot read the change log'))
    }
  }

  #changesSinceNow(since: ChangePosition, sinceDigest: ChainDigest | undefined): CommittedChange[] | undefined {
    const head = this.#head()
    // A log that ends before `since` went back (the file was restored from a copy).
    if (since > head) return undefined
    // One that holds another change at `since` is another history (storage.ts chainDigest).
    if (sinceDigest !== undefined) {
      const known = this.#digestAt(since)
      if (known !== undefined && known !== sinceDigest) return undefined
    }
    if (since === head) return []
    const oldest = this.#oldestChange()
    if (oldest === undefined || oldest > since + 1) return undefined
    return this.#changesAfter(since).map((row) => ({
      position: row.position,
      writes: decodeWrites(row.writes),
      ...withDigest(row.digest ?? undefined),
    }))
  }

  holdLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    // A write: queued with the commits, for the same reason.
    return this.#exclusively(() => this.#holdLeaseNow(name, holder, ttlMs))
  }

  #holdLeaseNow(name: string, holder: string, ttlMs: number): boolean {
    const now = Date.now()
    const taken = this.#db
      .prepare(
        `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
      )
      .run(name, holder, now + ttlMs, now)
    return taken.changes > 0
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.#exclusively(() => {
      this.#db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?').run(name, holder)
    })
  }

  /** Calls `listener` when a node of a shared file committed (sqlite-head-file.ts). */
  watch(listener: (position?: ChangePosition) => void): () => void {
    return this.#headFile?.watch(listener) ?? (() => undefined)
  }

  async close(): Promise<void> {
    // After this process's queued sections of the file, some of which may be this one's.
    await this.#section.tail
    this.#headFile?.close()
    this.#db.close()
    leaveExclusiveSection(this.#sectionKey)
  }
}
