/**
 * `--replay FILE`: sends the cases of a findings file again and prints what comes back.
 *
 * Signed requests are signed again with the current time, fixture names resolve to a key
 * pool made again in the partition replayed against, and tamper steps are applied again
 * after signing, so a finding replays minutes or days later, against the partition that
 * produced it or a fresh one. Crash findings replay every case that was in flight.
 *
 * Findings come in groups of alike ones (a run may hold hundreds of the same hang); by
 * default the first few of each group are replayed, several at once, each printed in one
 * block when it is done.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { runCase, type CaseContext } from './engine.js'
import type { FuzzCase } from './recipe.js'
import { groupKey, type Finding } from './report.js'

export function readFindings(file: string): Finding[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Finding)
}

function excerpt(text: string, length = 200): string {
  const flat = text.replace(/\s+/g, ' ')
  return flat.length > length ? `${flat.slice(0, length)}…` : flat
}

export interface ReplayOptions {
  /** Only the findings of this case. */
  onlyCase: number | undefined
  /** At most this many findings of each group (undefined: all). */
  perGroup: number | undefined
  /** Findings replayed at once. */
  concurrency: number
}

export interface ReplaySummary {
  replayed: number
  reproduced: number
  skipped: number
}

/** The findings to replay: filtered, one per case, at most `perGroup` of each group. */
function chooseFindings(
  findings: readonly Finding[],
  options: ReplayOptions,
): { chosen: { number: number; finding: Finding }[]; skipped: number } {
  const perGroup = new Map<string, number>()
  const seenCases = new Set<string>()
  const chosen: { number: number; finding: Finding }[] = []
  let skipped = 0
  for (const [index, finding] of findings.entries()) {
    if (options.onlyCase !== undefined && finding.caseIndex !== options.onlyCase) continue
    const cases = finding.case !== undefined ? [finding.case] : (finding.recentCases ?? [])
    // Several findings of one case (a 5xx with a stack trace, say) replay once.
    const caseKey = `${finding.seed}:${cases.map((fuzzCase) => fuzzCase.index).join(',')}`
    if (cases.length === 0 || seenCases.has(caseKey)) continue
    seenCases.add(caseKey)
    const group = groupKey(finding)
    const count = perGroup.get(group) ?? 0
    if (options.perGroup !== undefined && count >= options.perGroup) {
      skipped += 1
      continue
    }
    perGroup.set(group, count + 1)
    chosen.push({ number: index + 1, finding })
  }
  return { chosen, skipped }
}

async function replayOne(number: number, finding: Finding, context: CaseContext): Promise<{ lines: string[]; reproduced: boolean }> {
  const cases: FuzzCase[] = finding.case !== undefined ? [finding.case] : (finding.recentCases ?? [])
  return sendCases(
    `#${number} [${finding.kind}] ${finding.category} ${finding.operation}: ${finding.summary}`,
    cases,
    finding.seed,
    finding.kind === 'crash',
    context,
  )
}

/** Sends cases one after the other; the lines say what came back and what the oracle makes of it. */
export async function sendCases(
  title: string,
  cases: readonly FuzzCase[],
  seed: string,
  watchCrashes: boolean,
  context: CaseContext,
): Promise<{ lines: string[]; reproduced: boolean }> {
  const lines = [title]
  const crashesBefore = context.target.crashes.length
  let reproduced = false
  for (const fuzzCase of cases) {
    lines.push(`  case ${fuzzCase.index} (seed ${seed}): ${fuzzCase.label}`)
    const result = await runCase(fuzzCase, context, undefined, (outcome) => {
      const response = outcome.result.responses[0]
      const answer =
        response !== undefined
          ? `HTTP ${response.status}${outcome.verdict.errorType !== undefined ? ` ${outcome.verdict.errorType}` : ''} ${excerpt(response.body.toString('utf8'))}`
          : `${outcome.result.end}${outcome.result.detail !== undefined ? ` (${outcome.result.detail})` : ''} after ${Math.round(outcome.result.ms)} ms`
      lines.push(`    step ${outcome.stepIndex + 1} ${outcome.step.operation}: ${answer}`)
      for (const problem of outcome.verdict.problems) {
        reproduced = true
        lines.push(`      ! ${problem.kind}: ${problem.summary}`)
      }
    })
    if (result.skipped) lines.push('    not sent: it names a fixture this partition does not have')
    if (result.aborted) lines.push('    stopped: a setup step did not succeed')
  }
  if (watchCrashes) {
    // Give a dying region a moment to be noticed.
    await new Promise((done) => setTimeout(done, 500))
    for (const crash of context.target.crashes.slice(crashesBefore)) {
      reproduced = true
      lines.push(`      ! crash: ${crash.what}`)
    }
  }
  lines.push(reproduced ? '  => reproduced' : '  => not reproduced')
  return { lines, reproduced }
}

export async function replayFindings(
  findings: readonly Finding[],
  context: CaseContext,
  options: ReplayOptions,
  print: (line: string) => void,
): Promise<ReplaySummary> {
  const { chosen, skipped } = chooseFindings(findings, options)
  let reproduced = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < chosen.length) {
      const { number, finding } = chosen[next++] as { number: number; finding: Finding }
      const outcome = await replayOne(number, finding, context)
      if (outcome.reproduced) reproduced += 1
      print(`\n${outcome.lines.join('\n')}`)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker))
  return { replayed: chosen.length, reproduced, skipped }
}
