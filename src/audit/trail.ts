/**
 * A node's audit trail: an append-only file of chained records
 * (`<region dir>/audit/node-<n>.jsonl`, docs/spec/audit-trail.md), and the index of each
 * key's last cryptographic use that GetKeyLastUsage reads.
 *
 * Three tiers of durability, by what a record is of (spec §4):
 * - a change (a request that changed the region, a replication message applied) is
 *   written and fdatasync'd before its response is sent: `append(..., {durable: true})`
 *   resolves only then;
 * - everything else is written to the file (one write() per turn of the event loop for
 *   everything appended in it), so it survives a kill -9 of the process, and fdatasync'd
 *   at most SYNC_INTERVAL_MS later, so a power loss costs at most that much;
 * - the last-usage index lives in memory and is rebuilt from the trail files at start.
 *
 * @module
 */
import {
  closeSync,
  fdatasync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  existsSync,
  writeFileSync,
  writeSync,
  statSync,
  readSync,
  fstatSync,
} from 'node:fs'
import { join } from 'node:path'
import { chainLine, GENESIS_HASH, parseLine, type ChainHead, type ChainId } from './chain.js'
import { TRACKED_OPERATIONS, type AuditRecord } from './record.js'

/** How long an appended, non-durable record may wait for its fdatasync. */
const SYNC_INTERVAL_MS = 1000
export const AUDIT_DIR = 'audit'
export const TRACKING_START_FILE = 'tracking-start'
const TRAIL_FILE = /^node-(\d{1,3})\.jsonl$/

export function trailFileName(node: number): string {
  return `node-${node}.jsonl`
}

/** A key's last successful cryptographic use (GetKeyLastUsage's KeyLastUsage). */
export interface KeyUsage {
  operation: string
  /** Epoch ms: the time of the record's chain line (its eventTime has whole seconds only). */
  at: number
  eventId: string
  requestId: string
}

/** What the KMS layer sees of the trail (it imports this interface as a type only). */
export interface AuditSink {
  /** The node whose chain this is. */
  readonly node: number
  /**
   * Appends a record to this node's chain. With `durable`, resolves once the record is on
   * disk (fdatasync'd); without, once it is written to the file (one write() for all the
   * records of this turn of the event loop), which a kill of the process does not undo.
   * `time` is the event's, in epoch ms (the record's eventTime, to the ms).
   */
  append(record: AuditRecord, options: { durable: boolean; time: number }): Promise<void> | undefined
  /** The key's last successful cryptographic use seen in any node's trail of the region. */
  lastUsage(keyArn: string): KeyUsage | undefined
  /** Epoch ms since which this region records cryptographic use. */
  trackingStartedAt(): number
}

function usageOf(record: Pick<AuditRecord, 'eventName' | 'errorCode' | 'eventID' | 'requestID'>, at: number): KeyUsage | undefined {
  if (record.errorCode !== undefined || !TRACKED_OPERATIONS.has(record.eventName)) return undefined
  return { operation: record.eventName, at, eventId: record.eventID, requestId: record.requestID }
}

export interface AuditTrailOptions {
  /** The region's data dir; the trail lives in its `audit/` folder. */
  regionDir: string
  region: string
  node: number
  now?: () => number
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** A change's record as committed with the change (src/kms/audit-intent.ts). */
export interface CommittedIntent {
  node: number
  eventId: string
  record: string
}

export class FileAuditTrail implements AuditSink {
  readonly chain: ChainId
  readonly node: number
  /** eventIDs of the changes this node's chain records: what recovery need not write again. */
  readonly #changeEvents = new Set<string>()
  readonly #dir: string
  readonly #ownFile: string
  #fd: number
  #head: ChainHead
  #pending: string[] = []
  #writeScheduled = false
  /** Resolved once the records pending now are written to the file (not yet fdatasync'd). */
  #batch: { written: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined
  /** Highest sequence number written to the file, and the highest fdatasync'd. */
  #writtenSeq = 0
  #syncedSeq = 0
  #sync: Promise<void> | undefined
  #syncTimer: NodeJS.Timeout | undefined
  readonly #usage = new Map<string, KeyUsage>()
  /** Other nodes' files: how far each has been read. */
  readonly #offsets = new Map<string, number>()
  readonly #trackingStart: number
  #closed = false

  constructor(options: AuditTrailOptions) {
    this.node = options.node
    this.chain = { region: options.region, node: String(options.node) }
    this.#dir = join(options.regionDir, AUDIT_DIR)
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 })
    const now = options.now ?? Date.now
    const startFile = join(this.#dir, TRACKING_START_FILE)
    if (!existsSync(startFile)) {
      try {
        writeFileSync(startFile, `${new Date(now()).toISOString()}\n`, { flag: 'wx', mode: 0o600 })
      } catch (err) {
        // Another node of the region wrote it first: its time stands.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
    }
    const recorded = Date.parse(readFileSync(startFile, 'utf8').trim())
    // An empty or torn file (a crash as it was first written): tracking starts now.
    this.#trackingStart = Number.isFinite(recorded) ? recorded : now()
    if (!Number.isFinite(recorded)) writeFileSync(startFile, `${new Date(this.#trackingStart).toISOString()}\n`, { mode: 0o600 })
    this.#ownFile = trailFileName(options.node)
    const created = !existsSync(join(this.#dir, this.#ownFile))
    this.#fd = openSync(join(this.#dir, this.#ownFile), 'a+', 0o600)
    // A new file's name must be durable too, or a power loss could take the whole chain.
    if (created) syncDirectory(this.#dir)
    this.#head = this.#recoverOwn()
    this.#writtenSeq = this.#syncedSeq = this.#head.seq
    this.#readOthers()
  }

  /**
   * Reads this node's file: its head, and every use of a key it records. A line cut short
   * by a crash (no newline) is cut off: its record was never acknowledged as durable.
   */
  #recoverOwn(): ChainHead {
    const text = readFileSync(join(this.#dir, this.#ownFile), 'utf8')
    const complete = text.lastIndexOf('\n') + 1
    if (complete < text.length) ftruncateSync(this.#fd, Buffer.byteLength(text.slice(0, complete)))
    let head: ChainHead = { seq: 0, hash: GENESIS_HASH }
    for (const line of text.slice(0, complete).split('\n')) {
      if (line === '') continue
      const parsed = parseLine(line)
      if (parsed === undefined) continue
      head = { seq: parsed.seq, hash: parsed.hash }
      const record = this.#index(parsed.recordJson, parsed.time)
      if (record !== undefined && !record.readOnly) this.#changeEvents.add(record.eventID)
    }
    return head
  }

  #index(recordJson: string, at: number): AuditRecord | undefined {
    let record: AuditRecord
    try {
      record = JSON.parse(recordJson) as AuditRecord
    } catch {
      return undefined
    }
    const usage = usageOf(record, at)
    if (usage !== undefined) for (const resource of record.resources) this.#noteUsage(resource.ARN, usage)
    return record
  }

  /**
   * Writes the records of changes this node committed but did not record: it stopped
   * between the commit and the record's write (docs/spec/audit-trail.md §4). `intents` are
   * the auditIntent writes of the store's recent change log, oldest first; those of other
   * nodes are theirs to recover. Returns how many records were written.
   */
  async recoverIntents(intents: readonly CommittedIntent[]): Promise<number> {
    let recovered = 0
    for (const intent of intents) {
      if (intent.node !== this.node || this.#changeEvents.has(intent.eventId)) continue
      let record: AuditRecord
      try {
        record = JSON.parse(intent.record) as AuditRecord
      } catch {
        continue
      }
      const marked: AuditRecord = {
        ...record,
        additionalEventData: {
          ...record.additionalEventData,
          recoveredFromChangeLog:
            'the node stopped after the change was committed and before this record was written; response elements unknown',
        },
      }
      const time = Date.parse(record.eventTime)
      await this.append(marked, { durable: true, time: Number.isFinite(time) ? time : Date.now() })
      recovered++
    }
    return recovered
  }

  #noteUsage(arn: string, usage: KeyUsage): void {
    const known = this.#usage.get(arn)
    if (known === undefined || known.at <= usage.at) this.#usage.set(arn, usage)
  }

  /** Reads what the region's other nodes appended since last time (complete lines only). */
  #readOthers(): void {
    let names: string[]
    try {
      names = readdirSync(this.#dir)
    } catch {
      return
    }
    for (const name of names) {
      if (name === this.#ownFile || !TRAIL_FILE.test(name)) continue
      const path = join(this.#dir, name)
      let from = this.#offsets.get(name) ?? 0
      let size: number
      try {
        size = statSync(path).size
      } catch {
        continue
      }
      // Shorter than what was read: its node cut off a torn last line when it restarted.
      // Read it again from the start (indexing a record twice changes nothing).
      if (size < from) from = 0
      if (size <= from) continue
      const fd = openSync(path, 'r')
      try {
        const buffer = Buffer.alloc(size - from)
        readSync(fd, buffer, 0, buffer.length, from)
        const end = buffer.lastIndexOf(0x0a) + 1
        for (const line of buffer.subarray(0, end).toString('utf8').split('\n')) {
          const parsed = line === '' ? undefined : parseLine(line)
          if (parsed !== undefined) this.#index(parsed.recordJson, parsed.time)
        }
        this.#offsets.set(name, from + end)
      } finally {
        closeSync(fd)
      }
    }
  }

  append(record: AuditRecord, options: { durable: boolean; time: number }): Promise<void> | undefined {
    if (this.#closed) throw new Error('audit: trail closed')
    const { line, head } = chainLine(this.chain, this.#head, options.time, JSON.stringify(record))
    this.#head = head
    this.#pending.push(`${line}\n`)
    if (!record.readOnly) this.#changeEvents.add(record.eventID)
    const usage = usageOf(record, Math.floor(options.time))
    if (usage !== undefined) for (const resource of record.resources) this.#noteUsage(resource.ARN, usage)
    if (options.durable) {
      this.#writePending()
      return this.#syncThrough(head.seq)
    }
    if (!this.#writeScheduled) {
      this.#writeScheduled = true
      setImmediate(() => {
        try {
          this.#writePending()
        } catch {
          // Reported to the batch's waiters (#writePending rejects it).
        }
      })
    }
    if (this.#batch === undefined) {
      let resolve!: () => void
      let reject!: (err: unknown) => void
      const written = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      this.#batch = { written, resolve, reject }
    }
    return this.#batch.written
  }

  /** One write() for everything appended and not yet written. */
  #writePending(): void {
    this.#writeScheduled = false
    const batch = this.#batch
    this.#batch = undefined
    if (this.#pending.length === 0) {
      batch?.resolve()
      return
    }
    const data = Buffer.from(this.#pending.join(''))
    this.#pending = []
    try {
      let offset = 0
      while (offset < data.length) offset += writeSync(this.#fd, data, offset)
    } catch (err) {
      batch?.reject(err)
      throw err
    }
    batch?.resolve()
    this.#writtenSeq = this.#head.seq
    if (this.#syncTimer === undefined && !this.#closed) {
      this.#syncTimer = setTimeout(() => {
        this.#syncTimer = undefined
        void this.#syncThrough(this.#writtenSeq).catch(() => undefined)
      }, SYNC_INTERVAL_MS)
      this.#syncTimer.unref()
    }
  }

  /** Resolves once every record up to `seq` is fdatasync'd; concurrent callers share syncs. */
  async #syncThrough(seq: number): Promise<void> {
    while (this.#syncedSeq < seq) {
      if (this.#sync === undefined) {
        const target = this.#writtenSeq
        this.#sync = new Promise<void>((resolve, reject) => fdatasync(this.#fd, (err) => (err === null ? resolve() : reject(err)))).then(
          () => {
            this.#syncedSeq = Math.max(this.#syncedSeq, target)
          },
        )
        void this.#sync.finally(() => (this.#sync = undefined)).catch(() => undefined)
      }
      await this.#sync
    }
  }

  lastUsage(keyArn: string): KeyUsage | undefined {
    this.#readOthers()
    return this.#usage.get(keyArn)
  }

  trackingStartedAt(): number {
    return this.#trackingStart
  }

  /** Writes and syncs what is pending (a clean stop loses nothing). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#writePending()
    this.#closed = true
    clearTimeout(this.#syncTimer)
    await this.#syncThrough(this.#writtenSeq)
    closeSync(this.#fd)
    this.#fd = -1
  }

  /** Bytes of this node's file (for tests and benchmarks). */
  size(): number {
    return fstatSync(this.#fd).size
  }
}
