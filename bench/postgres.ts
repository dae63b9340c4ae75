/**
 * The benchmark's PostgreSQL: a throw-away local cluster (test/helpers/postgres-cluster.ts,
 * the tests' own, fsync and synchronous_commit on) that logs every statement it is sent,
 * so that a measurement can count what the nodes of a partition asked of it: the check
 * that the hot path (Encrypt, Decrypt, GenerateDataKey) reads nothing from PostgreSQL, and
 * what the nodes' own traffic (following the change log, renewing the region's lease)
 * costs per second.
 *
 * `log_statement = 'all'` writes one log entry per statement as the server receives it
 * (a simple query, or the Execute of a prepared one: node-postgres sends every statement
 * with parameters as one), before running it. The entries of a measured window are those
 * between the log's size when it began and when it ended. Logging costs the server a
 * line per statement: nothing on a hot path that sends none, a few µs against the
 * milliseconds of a durable commit.
 *
 * @module
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import {
  postgresUnavailableReason,
  removeAllPostgresClustersNow,
  startPostgresCluster,
  type PostgresCluster,
} from '../test/helpers/postgres-cluster.js'

/** Marks where each log entry starts, and says which process and application sent it. */
const LINE_PREFIX = '~~ %p %a ~~ '
const ENTRY = /^~~ (\d+) (.*?) ~~ ([A-Z]+):\s+(.*)$/
const STATEMENT = /^(?:statement|execute [^:]*): ([\s\S]*)$/

/**
 * What a statement is for, from its text (src/storage/postgres-storage.ts). The kinds the
 * nodes send whether or not anyone calls them are {@link BACKGROUND_KINDS}.
 */
export type StatementKind =
  | 'follower: read changes'
  | 'lease: renew'
  | 'lease: release'
  | 'listener: ping'
  | 'listener: LISTEN'
  | 'commit: BEGIN + write lock + catch-up'
  | 'commit: write'
  | 'commit: writes + log entry + COMMIT'
  | 'commit: COMMIT'
  | 'commit without writes'
  | 'ROLLBACK'
  | 'load'
  | 'other'

/**
 * A node's own traffic, per second whatever the load: following the log, the lease, the
 * listener's keep-alive; and exclusive commits that write nothing (BEGIN and COMMIT,
 * counted as two statements), which no request on the hot path makes (it commits
 * nothing) but the lease holder's background work does: reconciliation takes the
 * region's write lock every 30 s even with nothing to change (src/kms/multi-region/reconcile.ts).
 */
export const BACKGROUND_KINDS: readonly StatementKind[] = [
  'follower: read changes',
  'lease: renew',
  'listener: ping',
  'commit without writes',
]

export function classifyStatement(text: string): StatementKind {
  const sql = text.trim().replace(/\s+/g, ' ')
  // The change-log read (src/storage/postgres-storage.ts #changesAfterSql): the head, then the changes.
  if (/^\(SELECT 'h' AS kind, position, NULL::text AS writes, digest FROM \S+\.change_head WHERE id = 1\) UNION ALL/.test(sql))
    return 'follower: read changes'
  if (/^BEGIN; SELECT pg_advisory_xact_lock/.test(sql)) return 'commit: BEGIN + write lock + catch-up'
  if (/^INSERT INTO \S+\.leases\b/.test(sql)) return 'lease: renew'
  if (/^DELETE FROM \S+\.leases\b/.test(sql)) return 'lease: release'
  if (sql === 'SELECT 1') return 'listener: ping'
  if (/^LISTEN\b/.test(sql)) return 'listener: LISTEN'
  if (sql === 'COMMIT') return 'commit: COMMIT'
  // A commit's writes, its change log entry and COMMIT, sent as one simple query (#commitWrites).
  if (/\.change_head SET position = position \+ 1\b/.test(sql) && /; COMMIT$/.test(sql)) return 'commit: writes + log entry + COMMIT'
  if (sql === 'ROLLBACK') return 'ROLLBACK'
  if (/^BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY/.test(sql) || /^SELECT .* FROM \S+\.\w+ ORDER BY/.test(sql)) return 'load'
  if (/^(INSERT|UPDATE|DELETE|WITH)\b/.test(sql)) return 'commit: write'
  return 'other'
}

/** The statements of one measured window. */
export interface StatementCounts {
  /** Wall-clock length of the window, in seconds. */
  seconds: number
  total: number
  byKind: Partial<Record<StatementKind, number>>
  /** By application_name (the nodes call themselves `trent <schema>`). */
  byApplication: Record<string, number>
  /** Backends (server processes) that received statements. */
  backends: number
  /** Statements of {@link BACKGROUND_KINDS}, per second. */
  backgroundPerSecond: number
  /** Everything else: what serving the requests cost the database. */
  other: number
  /** A few of the "other" statements as sent, for a reader who wonders what they were. */
  otherSamples: string[]
}

interface LoggedStatement {
  pid: string
  application: string
  sql: string
  kind: StatementKind
}

/** The statements of a stretch of the server's log, in the order it received them. */
function parseLog(log: string): LoggedStatement[] {
  const statements: LoggedStatement[] = []
  let entry: { pid: string; application: string; text: string } | undefined
  const finish = (): void => {
    const statement = entry === undefined ? null : STATEMENT.exec(entry.text)
    if (entry !== undefined && statement !== null) {
      const sql = statement[1] ?? ''
      statements.push({
        pid: entry.pid,
        application: entry.application === '' ? '(none)' : entry.application,
        sql,
        kind: classifyStatement(sql),
      })
    }
    entry = undefined
  }
  for (const line of log.split('\n')) {
    const match = ENTRY.exec(line)
    if (match !== null) {
      finish()
      // Only LOG entries are statements (errors and their details are counted by no one).
      if (match[3] === 'LOG') entry = { pid: match[1] ?? '', application: match[2] ?? '', text: match[4] ?? '' }
    } else if (entry !== undefined) {
      // A statement of several lines continues its entry.
      entry.text += `\n${line}`
    }
  }
  finish()
  // An exclusive commit whose transaction (one backend, BEGIN to COMMIT) wrote nothing.
  const open = new Map<string, { begin: LoggedStatement; wrote: boolean }>()
  for (const statement of statements) {
    if (statement.kind === 'commit: BEGIN + write lock + catch-up') open.set(statement.pid, { begin: statement, wrote: false })
    else if (statement.kind === 'commit: writes + log entry + COMMIT') open.delete(statement.pid)
    else if (statement.kind === 'commit: write') {
      const transaction = open.get(statement.pid)
      if (transaction !== undefined) transaction.wrote = true
    } else if (statement.kind === 'commit: COMMIT' || statement.kind === 'ROLLBACK') {
      const transaction = open.get(statement.pid)
      open.delete(statement.pid)
      if (transaction !== undefined && !transaction.wrote && statement.kind === 'commit: COMMIT') {
        transaction.begin.kind = 'commit without writes'
        statement.kind = 'commit without writes'
      }
    }
  }
  return statements
}

export function countStatements(log: string, seconds: number): StatementCounts {
  const counts: StatementCounts = {
    seconds,
    total: 0,
    byKind: {},
    byApplication: {},
    backends: 0,
    backgroundPerSecond: 0,
    other: 0,
    otherSamples: [],
  }
  const backends = new Set<string>()
  for (const statement of parseLog(log)) {
    counts.total += 1
    counts.byKind[statement.kind] = (counts.byKind[statement.kind] ?? 0) + 1
    counts.byApplication[statement.application] = (counts.byApplication[statement.application] ?? 0) + 1
    backends.add(statement.pid)
    if (!BACKGROUND_KINDS.includes(statement.kind)) {
      counts.other += 1
      if (counts.otherSamples.length < 5) counts.otherSamples.push(statement.sql.replace(/\s+/g, ' ').slice(0, 160))
    }
  }
  counts.backends = backends.size
  const background = BACKGROUND_KINDS.reduce((sum, kind) => sum + (counts.byKind[kind] ?? 0), 0)
  counts.backgroundPerSecond = seconds > 0 ? background / seconds : 0
  return counts
}

/** A window of the server's log: begin() when the measurement starts, end() when it ends. */
export interface StatementWindow {
  begin(): void
  /** The statements since begin(); undefined if begin() was never called. */
  end(): StatementCounts | undefined
}

export class BenchPostgres {
  private constructor(readonly cluster: PostgresCluster) {}

  /** Why it cannot run here, or undefined (the server's binaries are Debian's packages). */
  static unavailableReason(): string | undefined {
    try {
      return postgresUnavailableReason()
    } catch (err: unknown) {
      // In CI the helper throws instead of answering; a benchmark just says why.
      return err instanceof Error ? err.message : String(err)
    }
  }

  static async start(): Promise<BenchPostgres> {
    const cluster = await startPostgresCluster({
      settings: {
        log_statement: 'all',
        log_line_prefix: LINE_PREFIX,
        // The entry says which statement; its parameters (sealed key material) stay out.
        log_parameter_max_length: 0,
        log_parameter_max_length_on_error: 0,
        // Room for a region of many nodes, each a pool of 4 and a listener.
        max_connections: 200,
      },
    })
    return new BenchPostgres(cluster)
  }

  get url(): string {
    return this.cluster.url
  }

  #logSize(): number {
    try {
      return statSync(this.cluster.logFile).size
    } catch {
      return 0
    }
  }

  #read(from: number, to: number): string {
    if (to <= from) return ''
    const buffer = Buffer.alloc(to - from)
    const fd = openSync(this.cluster.logFile, 'r')
    try {
      let read = 0
      while (read < buffer.length) {
        const n = readSync(fd, buffer, read, buffer.length - read, from + read)
        if (n === 0) break
        read += n
      }
      return buffer.subarray(0, read).toString('utf8')
    } finally {
      closeSync(fd)
    }
  }

  window(): StatementWindow {
    let from: { offset: number; at: number } | undefined
    return {
      begin: () => {
        from = { offset: this.#logSize(), at: performance.now() }
      },
      end: () => {
        if (from === undefined) return undefined
        const to = this.#logSize()
        const seconds = (performance.now() - from.at) / 1000
        return countStatements(this.#read(from.offset, to), seconds)
      },
    }
  }

  /** Stops it at once and removes its files. */
  stop(): Promise<void> {
    return this.cluster.remove()
  }
}

// Whatever ends the bench, the cluster goes with it (an 'exit' hook runs on process.exit()).
process.on('exit', removeAllPostgresClustersNow)
