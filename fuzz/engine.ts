/**
 * The run: cases generated one after another from the seed, sent by a bounded number of
 * workers on keep-alive connections, judged, counted, and turned into findings; crashes
 * watched for the whole time; the partition checked once more at the end.
 *
 * Malformed HTTP goes on sockets of its own. A worker waits a moment for such a case and
 * then parks it (up to MAX_PARKED at once) and moves on: a case that hangs costs its
 * deadline in wall time, not a worker, so a server that hangs on, say, every bare-LF
 * request still gets its hundred thousand requests in minutes.
 *
 * @module
 */
import { KeepAliveConnection, exchangeOnFreshSocket, type ExchangeResult } from './http-client.js'
import { valueAt } from './kms-client.js'
import { judge, type Verdict } from './oracle.js'
import { Prng } from './prng.js'
import { MissingValue, boundName, namesUsed, type Category, type FuzzCase, type Step } from './recipe.js'
import { type Report, type Finding } from './report.js'
import { serializeRequest, type RequestSigner } from './signer.js'
import type { Target } from './target.js'
import { cryptoCase } from './generators/crypto.js'
import { buildRawExchange, httpCase } from './generators/http.js'
import type { Regions } from './generators/pool-values.js'
import { sigv4Case } from './generators/sigv4.js'
import { structuredCase } from './generators/structured.js'

/** How the categories share a run. */
const CATEGORY_WEIGHTS: Readonly<Record<Category, number>> = { structured: 45, crypto: 20, sigv4: 20, http: 15 }
/** A malformed-HTTP case not done after this long is parked, and its worker moves on. */
const PARK_AFTER_MS = 50
const MAX_PARKED = 2048
/** The first findings of a kind of 5xx get the region's log line about them (it says what threw, and where). */
const SERVER_LOGS_PER_GROUP = 3
/** A region's log line reaches the fuzzer through the launcher a moment after the answer. */
const SERVER_LOG_DELAY_MS = 300
/** Cases kept for a crash finding: those in flight and those that ended this recently. */
const RECENT_WINDOW_MS = 3_000
const MAX_RECENT_CASES = 64
const PROGRESS_EVERY_MS = 5_000

export function generateCase(seed: number, index: number, categories: readonly Category[], regions: Regions): FuzzCase {
  const rng = Prng.forCase(seed, index)
  const category = rng.weighted(categories.map((name) => [CATEGORY_WEIGHTS[name], name] as const))
  switch (category) {
    case 'structured':
      return structuredCase(index, rng, regions)
    case 'crypto':
      return cryptoCase(index, rng, regions)
    case 'sigv4':
      return sigv4Case(index, rng, regions)
    case 'http':
      return httpCase(index, rng, regions)
  }
}

export interface CaseContext {
  target: Target
  signer: RequestSigner
  fixtures: ReadonlyMap<string, string>
  hangMs: number
  /** What no answer may ever contain. */
  secrets: readonly string[]
}

export interface StepOutcome {
  stepIndex: number
  step: Step
  sent: Buffer
  result: ExchangeResult
  verdict: Verdict
  values: Map<string, string>
}

export interface CaseResult {
  /** A value the case names does not exist here. */
  skipped: boolean
  /** A setup step failed and the rest was not sent. */
  aborted: boolean
  /** Steps sent. */
  sent: number
}

/**
 * Sends a case's steps in order, binding what each 2xx answer returns for the steps
 * after it. Signed requests go on `connection` (a fresh one if none is given); raw ones
 * on sockets of their own.
 */
export async function runCase(
  fuzzCase: FuzzCase,
  context: CaseContext,
  connection: KeepAliveConnection | undefined,
  onStep: (outcome: StepOutcome) => void,
): Promise<CaseResult> {
  const values = new Map(context.fixtures)
  for (const [name, value] of Object.entries(fuzzCase.values ?? {})) values.set(name, value)
  const sender = connection ?? new KeepAliveConnection(context.target.endpoint)
  try {
    for (const [stepIndex, step] of fuzzCase.steps.entries()) {
      if (step.waitMs !== undefined) await new Promise((done) => setTimeout(done, step.waitMs))
      const render = { values, nowMs: Date.now() }
      let sent: Buffer
      let body: Buffer = Buffer.alloc(0)
      let result: ExchangeResult
      try {
        if (step.request.kind === 'raw') {
          const exchange = await buildRawExchange(step.request.builder, step.request.params, {
            host: context.signer.host,
            signer: context.signer,
            render,
          })
          sent = Buffer.concat(exchange.writes.map((write) => write.bytes))
          result = await exchangeOnFreshSocket(context.target.endpoint, exchange, context.hangMs)
        } else {
          const wire = await context.signer.render(step.request, render)
          body = wire.body
          sent = serializeRequest(wire)
          result = await sender.exchange(sent, context.hangMs)
        }
      } catch (err) {
        if (err instanceof MissingValue) return { skipped: true, aborted: false, sent: stepIndex }
        throw err
      }
      const verdict = judge({ step, sentBody: body, sentBytes: sent, result, secrets: context.secrets })
      onStep({ stepIndex, step, sent, result, verdict, values })
      if (verdict.statusClass === '2xx') {
        for (const [name, path] of Object.entries(step.bind ?? {})) {
          const value = valueAt(verdict.json, path)
          if (value !== undefined) values.set(boundName(name), value)
        }
      } else if (step.setup === true) {
        return { skipped: false, aborted: true, sent: stepIndex + 1 }
      }
    }
    return { skipped: false, aborted: false, sent: fuzzCase.steps.length }
  } finally {
    if (sender !== connection) sender.close()
  }
}

/** The values a case names, as they were when it ran: what a finding needs to be read. */
export function valuesUsed(fuzzCase: FuzzCase, values: ReadonlyMap<string, string>): Record<string, string> {
  const used: Record<string, string> = {}
  for (const name of namesUsed(fuzzCase)) {
    const value = values.get(name)
    if (value !== undefined) used[name] = value.length > 300 ? `${value.slice(0, 300)}…` : value
  }
  return used
}

function sentText(bytes: Buffer): string {
  // Latin-1 keeps every byte visible as one character; long bodies are cut.
  const text = bytes.toString('latin1')
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text
}

export function findingsOf(fuzzCase: FuzzCase, outcome: StepOutcome, seed: string): Finding[] {
  const response = outcome.result.responses[0]
  const requestId = response?.headers.find(([name]) => name.toLowerCase() === 'x-amzn-requestid')?.[1]
  return outcome.verdict.problems.map((problem) => ({
    kind: problem.kind,
    category: fuzzCase.category,
    operation: outcome.step.operation,
    summary: problem.summary,
    label: fuzzCase.label,
    seed,
    caseIndex: fuzzCase.index,
    stepIndex: outcome.stepIndex,
    ...(response !== undefined
      ? {
          answer: {
            status: response.status,
            ...(outcome.verdict.errorType !== undefined ? { errorType: outcome.verdict.errorType } : {}),
            ...(requestId !== undefined ? { requestId } : {}),
            body: response.body.toString('utf8').slice(0, 1000),
          },
        }
      : {}),
    sent: { base64: outcome.sent.toString('base64'), text: sentText(outcome.sent) },
    case: fuzzCase,
    values: valuesUsed(fuzzCase, outcome.values),
    atMs: Date.now(),
  }))
}

export interface CampaignOptions {
  seed: number
  seedText: string
  requests: number
  categories: readonly Category[]
  concurrency: number
  regions: Regions
  log: (line: string) => void
}

/** A counting semaphore for parked malformed-HTTP cases. */
class Slots {
  private free: number
  private readonly waiting: (() => void)[] = []

  constructor(size: number) {
    this.free = size
  }

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1
      return
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve))
  }

  release(): void {
    const next = this.waiting.shift()
    if (next !== undefined) next()
    else this.free += 1
  }
}

export async function runCampaign(context: CaseContext, options: CampaignOptions, report: Report): Promise<void> {
  let nextIndex = 0
  let issued = 0
  const started = Date.now()
  const inFlight = new Set<FuzzCase>()
  const recent: { fuzzCase: FuzzCase; endedAt: number }[] = []
  const parked = new Set<Promise<void>>()
  const lateFindings = new Set<Promise<void>>()
  const addFinding = (finding: Finding): void => {
    const requestId = finding.answer?.requestId
    if (finding.kind !== '5xx' || requestId === undefined || report.seen(finding) >= SERVER_LOGS_PER_GROUP) {
      report.add(finding)
      return
    }
    // Added (and counted) a moment later, with what the region logged about it.
    const late = new Promise<void>((done) => setTimeout(done, SERVER_LOG_DELAY_MS)).then(() => {
      const log = context.target.serverLog(requestId)
      report.add(log === undefined ? finding : { ...finding, output: log })
      lateFindings.delete(late)
    })
    lateFindings.add(late)
  }
  const slots = new Slots(MAX_PARKED)
  let crashesSeen = 0

  const checkCrashes = (): void => {
    const crashes = context.target.crashes
    while (crashesSeen < crashes.length) {
      const crash = crashes[crashesSeen++]
      if (crash === undefined) continue
      const cases = [
        ...inFlight,
        ...recent.filter((entry) => entry.endedAt >= crash.atMs - RECENT_WINDOW_MS).map((entry) => entry.fuzzCase),
      ].slice(-MAX_RECENT_CASES)
      report.add({
        kind: 'crash',
        category: cases[0]?.category ?? 'structured',
        operation: 'partition',
        summary: crash.what,
        label: `${cases.length} case(s) in flight or just ended: ${cases
          .slice(0, 5)
          .map((fuzzCase) => `#${fuzzCase.index} ${fuzzCase.label}`)
          .join(' | ')}`,
        seed: options.seedText,
        caseIndex: cases[0]?.index ?? -1,
        stepIndex: 0,
        recentCases: cases,
        output: crash.output,
        atMs: crash.atMs,
      })
      options.log(`crash: ${crash.what}`)
    }
  }

  const execute = async (fuzzCase: FuzzCase, connection: KeepAliveConnection | undefined): Promise<void> => {
    inFlight.add(fuzzCase)
    try {
      const result = await runCase(fuzzCase, context, connection, (outcome) => {
        report.count(fuzzCase.category, outcome.step.operation, outcome.verdict.statusClass)
        for (const finding of findingsOf(fuzzCase, outcome, options.seedText)) addFinding(finding)
      })
      if (result.skipped) report.skipped += 1
      if (result.aborted) report.abortedSequences += 1
      // Steps a case did not send go back to the budget: the run sends at least --requests.
      issued -= fuzzCase.steps.length - result.sent
    } finally {
      inFlight.delete(fuzzCase)
      recent.push({ fuzzCase, endedAt: Date.now() })
      if (recent.length > MAX_RECENT_CASES) recent.shift()
      checkCrashes()
    }
  }

  const progress = setInterval(() => {
    const seconds = (Date.now() - started) / 1000
    options.log(
      `${report.requests}/${options.requests} requests in ${seconds.toFixed(0)} s (${(report.requests / seconds).toFixed(0)}/s), ${parked.size} parked, ${report.findings} finding(s)`,
    )
  }, PROGRESS_EVERY_MS)
  progress.unref()
  const crashWatch = setInterval(checkCrashes, 250)
  crashWatch.unref()

  const worker = async (): Promise<void> => {
    const connection = new KeepAliveConnection(context.target.endpoint)
    try {
      while (issued < options.requests) {
        const fuzzCase = generateCase(options.seed, nextIndex++, options.categories, options.regions)
        issued += fuzzCase.steps.length
        if (fuzzCase.steps.every((step) => step.request.kind === 'raw')) {
          await slots.acquire()
          const running = execute(fuzzCase, undefined).finally(() => {
            slots.release()
            parked.delete(running)
          })
          parked.add(running)
          await Promise.race([running, new Promise((done) => setTimeout(done, PARK_AFTER_MS))])
        } else {
          await execute(fuzzCase, connection)
        }
      }
    } finally {
      connection.close()
    }
  }

  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker))
    if (parked.size > 0) options.log(`waiting for ${parked.size} parked malformed-HTTP case(s) (at most ${context.hangMs} ms)`)
    await Promise.all(parked)
    await Promise.all(lateFindings)
  } finally {
    clearInterval(progress)
    clearInterval(crashWatch)
  }
  checkCrashes()
}
