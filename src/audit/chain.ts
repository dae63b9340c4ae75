/**
 * The audit trail's chain format (docs/spec/audit-trail.md §3): one JSON line per record,
 *
 *   {"seq":N,"time":T,"prev":"<64 hex>","hash":"<64 hex>","record":<the CloudTrail record's JSON>}
 *
 * where `time` is the event's time in epoch milliseconds (CloudTrail's eventTime has
 * whole seconds only; GetKeyLastUsage and the merge of several nodes' chains need the
 * order within a second), `hash` is SHA-256 over a domain label, the chain's region and
 * node, the sequence number, the time, `prev` and the record's exact JSON text as written, and `prev` is the hash of
 * the record before (64 zeros for the first). The record's own bytes are hashed, not a
 * re-serialisation, so a verifier in any language checks the bytes it reads.
 *
 * @module
 */
import { hash } from 'node:crypto'

export const GENESIS_HASH = '0'.repeat(64)
const DOMAIN = 'trent-audit-v1'
const PREFIX = /^\{"seq":(\d{1,15}),"time":(\d{1,15}),"prev":"([0-9a-f]{64})","hash":"([0-9a-f]{64})","record":/

/** Which chain a line belongs to: a node of a region (one file each). */
export interface ChainId {
  region: string
  node: string
}

export interface ChainHead {
  /** The sequence number of the last record; 0 before the first. */
  seq: number
  hash: string
}

export function recordHash(chain: ChainId, seq: number, time: number, prev: string, recordJson: string): string {
  // One-shot: a Hash object per record costs more than the hashing (one record per request).
  return hash('sha256', `${DOMAIN}\n${chain.region}\n${chain.node}\n${seq}\n${time}\n${prev}\n${recordJson}`, 'hex')
}

/** The line (without its newline) that appends `recordJson`, of an event at `time` (epoch ms), after `head`; and the new head. */
export function chainLine(chain: ChainId, head: ChainHead, time: number, recordJson: string): { line: string; head: ChainHead } {
  const seq = head.seq + 1
  const at = Math.max(0, Math.floor(time))
  const hash = recordHash(chain, seq, at, head.hash, recordJson)
  return { line: `{"seq":${seq},"time":${at},"prev":"${head.hash}","hash":"${hash}","record":${recordJson}}`, head: { seq, hash } }
}

export interface ParsedLine {
  seq: number
  /** The event's time, epoch ms. */
  time: number
  prev: string
  hash: string
  /** The record's JSON text exactly as written. */
  recordJson: string
}

/** Splits a line into its chain fields and the record's text; undefined if it is not a chain line. */
export function parseLine(line: string): ParsedLine | undefined {
  const match = PREFIX.exec(line)
  if (match === null || !line.endsWith('}')) return undefined
  const [prefix, seq, time, prev, hash] = match
  if (prefix === undefined || seq === undefined || time === undefined || prev === undefined || hash === undefined) return undefined
  return { seq: Number(seq), time: Number(time), prev, hash, recordJson: line.slice(prefix.length, -1) }
}

export type ChainProblem = { line: number; seq?: number; eventID?: string; reason: string }

function eventIdOf(recordJson: string): string | undefined {
  try {
    const record = JSON.parse(recordJson) as { eventID?: unknown }
    return typeof record.eventID === 'string' ? record.eventID : undefined
  } catch {
    return undefined
  }
}

/**
 * Checks one chain's lines, oldest first; the first problem, naming the first record that
 * is not what the chain says it should be, or undefined when the chain is intact.
 * Line numbers count from 1.
 */
export function verifyLines(chain: ChainId, lines: readonly string[]): ChainProblem | undefined {
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH }
  let previous: ChainProblem | undefined
  for (let index = 0; index < lines.length; index++) {
    const at = index + 1
    const parsed = parseLine(lines[index] ?? '')
    if (parsed === undefined) return { line: at, seq: head.seq + 1, reason: 'not a record of the chain (malformed line)' }
    const about = { line: at, seq: parsed.seq, ...optionalEventId(parsed.recordJson) }
    if (parsed.seq !== head.seq + 1) {
      return {
        ...about,
        reason: `sequence ${parsed.seq} where ${head.seq + 1} was due: record ${head.seq + 1} is missing, or records were moved or inserted`,
      }
    }
    if (recordHash(chain, parsed.seq, parsed.time, parsed.prev, parsed.recordJson) !== parsed.hash) {
      return { ...about, reason: 'its hash does not match its contents: the record was altered' }
    }
    if (parsed.prev !== head.hash) {
      // Both records are consistent in themselves, so the earlier one was replaced by one
      // with a recomputed hash (or this one was; the chain cannot tell which): name the earlier.
      return {
        ...(previous ?? about),
        reason: `the record after it (line ${at}) chains to another hash: this record was replaced, or the next one was`,
      }
    }
    try {
      JSON.parse(parsed.recordJson)
    } catch {
      return { ...about, reason: 'its record is not valid JSON' }
    }
    head = { seq: parsed.seq, hash: parsed.hash }
    previous = { ...about, reason: '' }
  }
  return undefined
}

function optionalEventId(recordJson: string): { eventID?: string } {
  const id = eventIdOf(recordJson)
  return id === undefined ? {} : { eventID: id }
}
