/**
 * Reading a region's audit trail from its files, for `trent audit events` and
 * `trent audit verify` (docs/spec/audit-trail.md §5).
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseLine, verifyLines, type ChainProblem } from './chain.js'
import type { AuditRecord } from './record.js'
import { AUDIT_DIR } from './trail.js'

const TRAIL_FILE = /^node-(\d{1,3})\.jsonl$/

export interface TrailFile {
  node: string
  path: string
}

/** The region's chains, one per node, by node number. */
export function trailFiles(regionDir: string): TrailFile[] {
  const dir = join(regionDir, AUDIT_DIR)
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .flatMap((name) => {
      const match = TRAIL_FILE.exec(name)
      return match?.[1] === undefined ? [] : [{ node: String(Number(match[1])), path: join(dir, name) }]
    })
    .sort((a, b) => Number(a.node) - Number(b.node))
}

/** A file's lines; a last line without its newline is one a crash cut short, and counts as a line. */
function linesOf(path: string): string[] {
  const text = readFileSync(path, 'utf8')
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines
}

export interface VerifyResult {
  file: TrailFile
  records: number
  problem?: ChainProblem
}

export function verifyRegion(regionDir: string, region: string): VerifyResult[] {
  return trailFiles(regionDir).map((file) => {
    const lines = linesOf(file.path)
    const problem = verifyLines({ region, node: file.node }, lines)
    return { file, records: lines.length, ...(problem !== undefined ? { problem } : {}) }
  })
}

export interface EventFilter {
  /** A key id or key ARN: records whose resources or parameters name it. */
  keyId?: string
  eventName?: string
  /** Epoch ms bounds on eventTime, inclusive. */
  since?: number
  until?: number
}

function concerns(record: AuditRecord, keyId: string): boolean {
  const wanted = keyId.toLowerCase()
  const matches = (value: string): boolean => value.toLowerCase() === wanted || value.toLowerCase().endsWith(`:key/${wanted}`)
  if (record.resources.some((r) => matches(r.ARN))) return true
  const parameterKey = record.requestParameters?.keyId
  return typeof parameterKey === 'string' && matches(parameterKey)
}

/**
 * The region's records, oldest first (by their chain lines' times, to the ms; each
 * node's in chain order), filtered. Lines that do not parse are skipped: `verify` reports them.
 */
export function readEvents(regionDir: string, filter: EventFilter): AuditRecord[] {
  const all: Array<{ record: AuditRecord; at: number; node: number; seq: number }> = []
  for (const file of trailFiles(regionDir)) {
    for (const line of linesOf(file.path)) {
      const parsed = parseLine(line)
      if (parsed === undefined) continue
      let record: AuditRecord
      try {
        record = JSON.parse(parsed.recordJson) as AuditRecord
      } catch {
        continue
      }
      all.push({ record, at: parsed.time, node: Number(file.node), seq: parsed.seq })
    }
  }
  all.sort((a, b) => a.at - b.at || a.node - b.node || a.seq - b.seq)
  return all
    .filter(({ record, at }) => {
      if (filter.eventName !== undefined && record.eventName !== filter.eventName) return false
      if (filter.since !== undefined && at < filter.since) return false
      if (filter.until !== undefined && at > filter.until) return false
      return filter.keyId === undefined || concerns(record, filter.keyId)
    })
    .map(({ record }) => record)
}
