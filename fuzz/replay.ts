/**
 * `--replay FILE`: sends the cases of a findings file again and prints what comes back.
 *
 * Signed requests are signed again with the current time, fixture names resolve to a key
 * pool made again in the partition replayed against, and tamper steps are applied again
 * after signing, so a finding replays minutes or days later, against the partition that
 * produced it or a fresh one. Crash findings replay every case that was in flight.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { runCase, type CaseContext } from './engine.js'
import type { FuzzCase } from './recipe.js'
import type { Finding } from './report.js'

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

export interface ReplaySummary {
  findings: number
  reproduced: number
}

/** Replays each finding (or only those of case `onlyCase`); returns how many showed a problem again. */
export async function replayFindings(findings: readonly Finding[], context: CaseContext, onlyCase: number | undefined, print: (line: string) => void): Promise<ReplaySummary> {
  let reproduced = 0
  let replayed = 0
  const seenCases = new Set<string>()
  for (const [number, finding] of findings.entries()) {
    if (onlyCase !== undefined && finding.caseIndex !== onlyCase) continue
    const cases: FuzzCase[] = finding.case !== undefined ? [finding.case] : (finding.recentCases ?? [])
    // Several findings of one case (a 5xx with a stack trace, say) replay once.
    const key = `${finding.seed}:${cases.map((fuzzCase) => fuzzCase.index).join(',')}`
    if (cases.length === 0 || seenCases.has(key)) continue
    seenCases.add(key)
    replayed += 1
    print(`\n#${number + 1} [${finding.kind}] ${finding.category} ${finding.operation}: ${finding.summary}`)
    const crashesBefore = context.target.crashes.length
    let again = false
    for (const fuzzCase of cases) {
      print(`  case ${fuzzCase.index} (seed ${finding.seed}): ${fuzzCase.label}`)
      const result = await runCase(fuzzCase, context, undefined, (outcome) => {
        const response = outcome.result.responses[0]
        const answer =
          response !== undefined
            ? `HTTP ${response.status}${outcome.verdict.errorType !== undefined ? ` ${outcome.verdict.errorType}` : ''} ${excerpt(response.body.toString('utf8'))}`
            : `${outcome.result.end}${outcome.result.detail !== undefined ? ` (${outcome.result.detail})` : ''} after ${Math.round(outcome.result.ms)} ms`
        print(`    step ${outcome.stepIndex + 1} ${outcome.step.operation}: ${answer}`)
        for (const problem of outcome.verdict.problems) {
          again = true
          print(`      ! ${problem.kind}: ${problem.summary}`)
        }
      })
      if (result.skipped) print('    not sent: it names a fixture this partition does not have')
      if (result.aborted) print('    stopped: a setup step did not succeed')
    }
    // Give a dying region a moment to be noticed.
    await new Promise((done) => setTimeout(done, 500))
    for (const crash of context.target.crashes.slice(crashesBefore)) {
      again = true
      print(`      ! crash: ${crash.what}`)
    }
    if (again) reproduced += 1
    print(again ? '  => reproduced' : '  => not reproduced')
  }
  return { findings: replayed, reproduced }
}
