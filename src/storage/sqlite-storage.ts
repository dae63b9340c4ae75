/**
 * Storage on SQLite (better-sqlite3), the embedded default: one database file per
 * region, WAL journal with synchronous=FULL so that a committed batch survives kill -9
 * (and power loss) of the region process.
 *
 * @module
 */
import Database from 'better-sqlite3'
import type { AliasRecord, AnsweredSessionRecord, KeyRecord, MaterialRecord, OutboxRecord, SessionRecord, Snapshot, TombstoneRecord,
  GrantRecord, Write } from './records.js'
import type { Storage } from './storage.js'

const SCHEMA_VERSION = 1

const MIGRATIONS = `
CREATE TABLE IF NOT EXISTS trent_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
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
`

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

export class SqliteStorage implements Storage {
  readonly #db: Database.Database
  readonly #apply: (writes: readonly Write[]) => void

  constructor(path: string) {
    this.#db = new Database(path)
    this.#db.pragma('journal_mode = WAL')
    // FULL: the WAL is fsynced at every commit, so an acknowledged write is on disk.
    this.#db.pragma('synchronous = FULL')
    this.#db.pragma('foreign_keys = ON')
    this.#db.exec(MIGRATIONS)
    this.#db
      .prepare('INSERT INTO trent_meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING')
      .run('schema_version', String(SCHEMA_VERSION))

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
       ON CONFLICT(alias_name) DO UPDATE SET key_id = excluded.key_id, updated_at = excluded.updated_at`,
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

    this.#apply = this.#db.transaction((writes: readonly Write[]) => {
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
          case 'putTombstone':
            putTombstone.run(write.tombstone.keyId, JSON.stringify(write.tombstone))
            break
          case 'deleteTombstone':
            deleteTombstone.run(write.keyId)
            break
        }
      }
    })
  }

  load(): Promise<Snapshot> {
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
    const aliases = (this.#db.prepare('SELECT * FROM aliases ORDER BY alias_name').all() as AliasRow[]).map(
      (row): AliasRecord => ({
        aliasName: row.alias_name,
        keyId: row.key_id,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      }),
    )
    const sessions = this.#records<SessionRecord>('SELECT record FROM replication_sessions')
    const answered = (
      this.#db.prepare('SELECT * FROM answered_sessions').all() as Array<{ session_id: string; key_id: string; to_region: string; expires_at: number; body: Buffer }>
    ).map((row): AnsweredSessionRecord => ({
      sessionId: row.session_id,
      keyId: row.key_id,
      to: row.to_region,
      expiresAt: row.expires_at,
      body: new Uint8Array(row.body),
    }))
    const outbox = (
      this.#db.prepare('SELECT * FROM outbox ORDER BY seq').all() as Array<{ id: string; to_region: string; expires_at: number; body: Buffer }>
    ).map((row): OutboxRecord => ({ id: row.id, to: row.to_region, expiresAt: row.expires_at, body: new Uint8Array(row.body) }))
    const tombstones = this.#records<TombstoneRecord>('SELECT record FROM tombstones')
    const grants = this.#records<GrantRecord>('SELECT record FROM grants ORDER BY rowid')
    return Promise.resolve({ keys, materials, aliases, sessions, answered, outbox, tombstones, grants })
  }

  /** The rows of a table that keeps each record as JSON in its `record` column. */
  #records<T>(sql: string): T[] {
    return this.#db
      .prepare(sql)
      .all()
      .map((row) => JSON.parse((row as { record: string }).record) as T)
  }

  commit(writes: readonly Write[]): Promise<void> {
    try {
      this.#apply(writes)
      return Promise.resolve()
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error('storage: commit failed'))
    }
  }

  close(): Promise<void> {
    this.#db.close()
    return Promise.resolve()
  }
}
