/**
 * The relay's durable store: `<data-dir>/proxy.db`, SQLite with a WAL journal and
 * synchronous=FULL, as region storage does (src/storage/sqlite-storage.ts). `put` commits
 * (and fsyncs) before it returns, so an envelope answered 202 survives kill -9 of the
 * proxy and is delivered after its restart.
 *
 * @module
 */
import Database from 'better-sqlite3'
import type { DestinationStats, NewEnvelope, PendingEnvelope, Refusal, RefusedEnvelope, RelayStore } from './store.js'

const SCHEMA_VERSION = 1

const MIGRATIONS = `
CREATE TABLE IF NOT EXISTS proxy_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS envelopes (
  sequence       INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id     TEXT NOT NULL UNIQUE,
  from_region    TEXT NOT NULL,
  to_region      TEXT NOT NULL,
  accepted_at    INTEGER NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'refused')),
  -- The envelope as received while pending; NULL once delivered or refused.
  envelope       BLOB,
  finished_at    INTEGER,
  refused_status INTEGER,
  refused_reason TEXT
);
CREATE INDEX IF NOT EXISTS envelopes_by_destination ON envelopes (to_region, state, sequence);
CREATE INDEX IF NOT EXISTS envelopes_finished ON envelopes (finished_at) WHERE state != 'pending';
-- Counters survive the pruning of tombstones.
CREATE TABLE IF NOT EXISTS destination_totals (
  to_region TEXT PRIMARY KEY,
  delivered INTEGER NOT NULL DEFAULT 0,
  refused   INTEGER NOT NULL DEFAULT 0
);
`

interface PendingRow {
  sequence: number
  message_id: string
  from_region: string
  to_region: string
  accepted_at: number
  envelope: Buffer
}

interface RefusedRow {
  message_id: string
  from_region: string
  to_region: string
  finished_at: number
  refused_status: number
  refused_reason: string
}

interface StatsRow {
  to_region: string
  pending: number
  oldest: number | null
}

interface TotalsRow {
  to_region: string
  delivered: number
  refused: number
}

export class SqliteRelayStore implements RelayStore {
  readonly #db: Database.Database
  readonly #insert: Database.Statement
  readonly #pending: Database.Statement
  readonly #finish: (messageId: string, state: 'delivered' | 'refused', at: number, refusal: Refusal | undefined) => void

  constructor(path: string) {
    this.#db = new Database(path)
    this.#db.pragma('journal_mode = WAL')
    // FULL: the WAL is fsynced at every commit, so an envelope answered 202 is on disk.
    this.#db.pragma('synchronous = FULL')
    this.#db.exec(MIGRATIONS)
    this.#db
      .prepare('INSERT INTO proxy_meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING')
      .run('schema_version', String(SCHEMA_VERSION))

    this.#insert = this.#db.prepare(
      `INSERT INTO envelopes (message_id, from_region, to_region, accepted_at, state, envelope)
       VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT(message_id) DO NOTHING`,
    )
    this.#pending = this.#db.prepare(
      `SELECT sequence, message_id, from_region, to_region, accepted_at, envelope FROM envelopes
       WHERE to_region = ? AND state = 'pending' ORDER BY sequence LIMIT ?`,
    )
    const finish = this.#db.prepare(
      `UPDATE envelopes SET state = ?, envelope = NULL, finished_at = ?, refused_status = ?, refused_reason = ?
       WHERE message_id = ? AND state = 'pending' RETURNING to_region`,
    )
    const countDelivered = this.#db.prepare(
      `INSERT INTO destination_totals (to_region, delivered) VALUES (?, 1)
       ON CONFLICT(to_region) DO UPDATE SET delivered = delivered + 1`,
    )
    const countRefused = this.#db.prepare(
      `INSERT INTO destination_totals (to_region, refused) VALUES (?, 1)
       ON CONFLICT(to_region) DO UPDATE SET refused = refused + 1`,
    )
    this.#finish = this.#db.transaction((messageId: string, state: 'delivered' | 'refused', at: number, refusal: Refusal | undefined) => {
      const row = finish.get(state, at, refusal?.status ?? null, refusal?.reason ?? null, messageId) as { to_region: string } | undefined
      // Already finished (a late duplicate answer): count it once.
      if (row === undefined) return
      ;(state === 'delivered' ? countDelivered : countRefused).run(row.to_region)
    })
  }

  put(envelope: NewEnvelope): boolean {
    const result = this.#insert.run(
      envelope.messageId,
      envelope.from,
      envelope.to,
      envelope.acceptedAt,
      Buffer.from(envelope.envelope.buffer, envelope.envelope.byteOffset, envelope.envelope.byteLength),
    )
    return result.changes === 1
  }

  pending(to: string, limit: number): PendingEnvelope[] {
    return (this.#pending.all(to, limit) as PendingRow[]).map((row) => ({
      sequence: row.sequence,
      messageId: row.message_id,
      from: row.from_region,
      to: row.to_region,
      acceptedAt: row.accepted_at,
      envelope: new Uint8Array(row.envelope.buffer, row.envelope.byteOffset, row.envelope.byteLength),
    }))
  }

  destinationsWithPending(): string[] {
    return (this.#db.prepare(`SELECT DISTINCT to_region FROM envelopes WHERE state = 'pending'`).all() as Array<{ to_region: string }>).map(
      (row) => row.to_region,
    )
  }

  remove(messageId: string, at: number): void {
    // A delivery need not reach the disk before the relay moves on: lost in a crash, it
    // only means the envelope is delivered again, which at-least-once allows. So this
    // commit skips the fsync (WAL with synchronous=NORMAL is still atomic); the next
    // FULL commit (any put) syncs it along.
    this.#db.pragma('synchronous = NORMAL')
    try {
      this.#finish(messageId, 'delivered', at, undefined)
    } finally {
      this.#db.pragma('synchronous = FULL')
    }
  }

  markRefused(messageId: string, refusal: Refusal): void {
    this.#finish(messageId, 'refused', refusal.at, refusal)
  }

  refusals(to: string, limit: number): RefusedEnvelope[] {
    const rows = this.#db
      .prepare(
        `SELECT message_id, from_region, to_region, finished_at, refused_status, refused_reason FROM envelopes
         WHERE to_region = ? AND state = 'refused' ORDER BY finished_at DESC, sequence DESC LIMIT ?`,
      )
      .all(to, limit) as RefusedRow[]
    return rows.map((row) => ({
      messageId: row.message_id,
      from: row.from_region,
      to: row.to_region,
      status: row.refused_status,
      reason: row.refused_reason,
      at: row.finished_at,
    }))
  }

  stats(): Map<string, DestinationStats> {
    const stats = new Map<string, DestinationStats>()
    for (const row of this.#db.prepare('SELECT to_region, delivered, refused FROM destination_totals').all() as TotalsRow[]) {
      stats.set(row.to_region, { pending: 0, oldestPendingAcceptedAt: undefined, delivered: row.delivered, refused: row.refused })
    }
    const pendingRows = this.#db
      .prepare(
        `SELECT to_region, COUNT(*) AS pending, MIN(accepted_at) AS oldest FROM envelopes
         WHERE state = 'pending' GROUP BY to_region`,
      )
      .all() as StatsRow[]
    for (const row of pendingRows) {
      const current = stats.get(row.to_region) ?? { pending: 0, oldestPendingAcceptedAt: undefined, delivered: 0, refused: 0 }
      current.pending = row.pending
      current.oldestPendingAcceptedAt = row.oldest ?? undefined
      stats.set(row.to_region, current)
    }
    return stats
  }

  pruneTombstones(before: number): number {
    return this.#db.prepare(`DELETE FROM envelopes WHERE state != 'pending' AND finished_at < ?`).run(before).changes
  }

  close(): void {
    if (this.#db.open) this.#db.close()
  }
}
