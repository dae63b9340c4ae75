/**
 * Counts and findings: answers by status class per category and per operation, every
 * finding with its replayable recipe (to `--out` as JSON lines, as they happen, so a run
 * stopped half way still leaves them), and the summary printed at the end.
 *
 * @module
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import type { FindingKind, StatusClass } from './oracle.js'
import { STATUS_CLASSES } from './oracle.js'
import type { Category, FuzzCase } from './recipe.js'

export interface Finding {
  kind: FindingKind
  category: Category
  /** The operation of the step (`Encrypt`, `TrentAdmin.DescribeReplication`, `http:bare-lf`, `sigv4:...`). */
  operation: string
  /** What went wrong, one line. */
  summary: string
  /** The case's label: what was sent, for people. */
  label: string
  seed: string
  caseIndex: number
  stepIndex: number
  answer?: { status: number; errorType?: string; requestId?: string; body: string }
  /** The exact bytes of the step as sent (base64), and their beginning as text. */
  sent?: { base64: string; text: string }
  /** The case, to replay (signed requests are signed again, fixtures resolved again). */
  case?: FuzzCase
  /** Crashes: the cases in flight or just finished when it happened. */
  recentCases?: FuzzCase[]
  /** Values of the fixtures and bound names the case used, when it ran. */
  values?: Record<string, string>
  /** Crashes: what the dead process said. 5xx: what the region logged about the request. */
  output?: string
  atMs: number
}

type Counts = Record<StatusClass, number>

function emptyCounts(): Counts {
  return Object.fromEntries(STATUS_CLASSES.map((statusClass) => [statusClass, 0])) as Counts
}

/**
 * Findings alike enough to print as one line: same kind, place, answer and summary (with
 * numbers blurred, so "within 30012 ms" and "within 30020 ms" are one hang).
 */
export function groupKey(finding: Finding): string {
  return [
    finding.kind,
    finding.category,
    finding.operation,
    finding.answer?.status ?? '',
    finding.answer?.errorType ?? '',
    finding.summary.replace(/\d+/g, '#'),
  ].join('|')
}

interface Group {
  count: number
  first: Finding
  written: number
}

/** Past this many findings of a group, the file gets no more of them (the summary still counts them). */
const MAX_WRITTEN_PER_GROUP = 200

export class Report {
  private readonly byCategory = new Map<Category, Counts>()
  private readonly byOperation = new Map<string, Counts>()
  private readonly groups = new Map<string, Group>()
  private readonly outFd: number | undefined
  requests = 0
  skipped = 0
  abortedSequences = 0
  findings = 0

  constructor(outFile: string | undefined) {
    this.outFd = outFile === undefined ? undefined : openSync(outFile, 'w')
  }

  count(category: Category, operation: string, statusClass: StatusClass): void {
    this.requests += 1
    const forCategory = this.byCategory.get(category) ?? emptyCounts()
    forCategory[statusClass] += 1
    this.byCategory.set(category, forCategory)
    const key = `${category}\u0000${operation}`
    const forOperation = this.byOperation.get(key) ?? emptyCounts()
    forOperation[statusClass] += 1
    this.byOperation.set(key, forOperation)
  }

  add(finding: Finding): void {
    this.findings += 1
    const key = groupKey(finding)
    const group = this.groups.get(key) ?? { count: 0, first: finding, written: 0 }
    group.count += 1
    this.groups.set(key, group)
    if (this.outFd !== undefined && group.written < MAX_WRITTEN_PER_GROUP) {
      group.written += 1
      writeSync(this.outFd, `${JSON.stringify(finding)}\n`)
    }
  }

  close(): void {
    if (this.outFd !== undefined) closeSync(this.outFd)
  }

  /** How many findings like this one were added so far. */
  seen(finding: Finding): number {
    return this.groups.get(groupKey(finding))?.count ?? 0
  }

  /** Findings of one kind, for tests. */
  countOf(kind: FindingKind): number {
    let total = 0
    for (const group of this.groups.values()) if (group.first.kind === kind) total += group.count
    return total
  }

  /** One line per group of findings, most frequent first within each kind. */
  findingGroups(): { count: number; first: Finding; notWritten: number }[] {
    return [...this.groups.values()]
      .sort((a, b) => a.first.kind.localeCompare(b.first.kind) || b.count - a.count)
      .map((group) => ({ count: group.count, first: group.first, notWritten: this.outFd === undefined ? 0 : group.count - group.written }))
  }

  categoryCounts(): ReadonlyMap<Category, Counts> {
    return this.byCategory
  }

  summary(header: string): string {
    const lines: string[] = [header, '']
    const columns = ['requests', ...STATUS_CLASSES.filter((statusClass) => statusClass !== 'other'), 'other']
    const table = (title: string, rows: [string, Counts][]): void => {
      const width = Math.max(title.length, ...rows.map(([name]) => name.length))
      lines.push(`${title.padEnd(width)}  ${columns.map((column) => column.padStart(8)).join(' ')}`)
      for (const [name, counts] of rows) {
        const total = STATUS_CLASSES.reduce((sum, statusClass) => sum + counts[statusClass], 0)
        const cells = [total, ...columns.slice(1).map((column) => counts[column as StatusClass])]
        lines.push(`${name.padEnd(width)}  ${cells.map((cell) => String(cell).padStart(8)).join(' ')}`)
      }
    }
    const totals = emptyCounts()
    for (const counts of this.byCategory.values()) for (const statusClass of STATUS_CLASSES) totals[statusClass] += counts[statusClass]
    table('category', [...[...this.byCategory.entries()].sort(([a], [b]) => a.localeCompare(b)), ['all', totals]])
    lines.push('')
    const operations = [...this.byOperation.entries()]
      .map(([key, counts]): [string, Counts] => [key.replace('\u0000', ' '), counts])
      .sort(([a], [b]) => a.localeCompare(b))
    table('category operation', operations)
    lines.push('')
    if (this.skipped > 0) lines.push(`${this.skipped} request(s) not sent: a fixture they name is missing in this partition`)
    if (this.abortedSequences > 0) lines.push(`${this.abortedSequences} key-state sequence(s) stopped early: a setup step did not succeed`)
    const groups = this.findingGroups()
    if (groups.length === 0) {
      lines.push('findings: none (no 5xx, hang, crash, accepted attack, stack trace or leak)')
      return lines.join('\n')
    }
    lines.push(`findings: ${this.findings} in ${groups.length} group(s)`)
    for (const { count, first, notWritten } of groups) {
      const answer =
        first.answer !== undefined
          ? ` HTTP ${first.answer.status}${first.answer.errorType !== undefined ? ` ${first.answer.errorType}` : ''}`
          : ''
      lines.push(
        `  [${first.kind}] ${first.category} ${first.operation}${answer} ×${count}${notWritten > 0 ? ` (${notWritten} not written to the file)` : ''}`,
      )
      lines.push(`      ${first.summary}`)
      lines.push(`      e.g. case ${first.caseIndex} step ${first.stepIndex + 1}: ${first.label}`)
      if (first.sent !== undefined) lines.push(`      sent: ${JSON.stringify(first.sent.text.slice(0, 300))}`)
      if (first.output !== undefined) lines.push(`      server: ${first.output.slice(0, 600).replace(/\n/g, '\n              ')}`)
    }
    return lines.join('\n')
  }
}
