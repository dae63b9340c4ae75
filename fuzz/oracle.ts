/**
 * The oracle: what an answer means. Every request is judged on what must never happen
 * (a 5xx, a hang, a connection dropped without an answer, a stack trace or a file path
 * in a body, a secret echoed back), and on what its case says about it (it must fail,
 * it must fail with one of these errors, the key must be in this state).
 *
 * @module
 */
import type { ExchangeResult } from './http-client.js'
import type { Expectation, Step } from './recipe.js'
import { headerValue, type ParsedResponse } from './response-parser.js'

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'closed' | 'hang' | 'other'
export const STATUS_CLASSES: readonly StatusClass[] = ['2xx', '3xx', '4xx', '5xx', 'closed', 'hang', 'other']

export type FindingKind =
  '5xx' | 'hang' | 'crash' | 'no-answer' | 'bad-response' | 'accepted' | 'wrong-error' | 'state' | 'stack-trace' | 'leak'

export interface Verdict {
  statusClass: StatusClass
  /** The first answer's status, if any. */
  status: number | undefined
  /** The first answer's `__type` (or x-amzn-ErrorType), if any. */
  errorType: string | undefined
  /** The first answer's JSON body, if it is JSON. */
  json: Record<string, unknown> | undefined
  problems: { kind: FindingKind; summary: string }[]
}

/** A stack frame (`at f (/x/y.js:1:2)`, `at node:internal/...`) or a source path in an answer. */
const STACK_PATTERNS: readonly RegExp[] = [
  /\bat (?:async )?[^\s()]*\s*\(?(?:file:\/\/|node:|\/)[^\s)]*:\d+:\d+\)?/,
  /[/\\](?:src|dist|node_modules)[/\\][\w./\\-]+\.(?:ts|js|mjs|cjs)\b/,
  /\b(?:TypeError|ReferenceError|RangeError|SqliteError|AssertionError)\b/,
]
/** What must never leave the server in any answer. */
const MATERIAL_PATTERNS: readonly RegExp[] = [/-----BEGIN [A-Z ]*-----/, /PRIVATE KEY/]
/** Request members whose values are secret (the model's `sensitive` shapes that can be sent). */
const SENSITIVE_MEMBERS = new Set(['Plaintext', 'Message', 'KeyStorePassword', 'RawSecretAccessKey'])
/** Shorter values could occur in an answer by chance (a base64 ciphertext, say). */
const MIN_ECHO_LENGTH = 12

function classOf(status: number): StatusClass {
  if (status >= 200 && status < 300) return '2xx'
  if (status >= 300 && status < 400) return '3xx'
  if (status >= 400 && status < 500) return '4xx'
  if (status >= 500 && status < 600) return '5xx'
  return 'other'
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return undefined
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'))
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function errorTypeOf(response: ParsedResponse, json: Record<string, unknown> | undefined): string | undefined {
  const fromBody = json?.__type
  if (typeof fromBody === 'string') return fromBody.split('#').pop()
  return headerValue(response, 'x-amzn-errortype')?.split(':')[0]
}

/**
 * Sensitive values in a JSON request body, at any depth. Read with a pattern rather than
 * parsed: the fuzzer's bodies nest tens of thousands deep, which JSON.parse takes a tenth
 * of a second over, and a sensitive member is always written `"Name":"value"` here.
 */
const SENSITIVE_MEMBER_PATTERN = new RegExp(`"(?:${[...SENSITIVE_MEMBERS].join('|')})"\\s*:\\s*"([^"\\\\]{${MIN_ECHO_LENGTH},})"`, 'g')

function sensitiveValues(body: Buffer): string[] {
  return [...body.toString('utf8').matchAll(SENSITIVE_MEMBER_PATTERN)].map((match) => match[1] ?? '')
}

export function valueAtPath(json: unknown, path: string): unknown {
  let current: unknown = json
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined
    current = (current as Record<string, unknown>)[part]
  }
  return current
}

function describeAnswer(response: ParsedResponse, errorType: string | undefined): string {
  return `HTTP ${response.status}${errorType !== undefined ? ` ${errorType}` : ''}`
}

export interface JudgeInput {
  step: Step
  /** The request as sent (its body is searched for echoes; matches it contains itself are no leak). */
  sentBody: Buffer
  sentBytes: Buffer
  result: ExchangeResult
  /** Secrets the answers must never contain (the partition's secret access key). */
  secrets: readonly string[]
}

export function judge({ step, sentBody, sentBytes, result, secrets }: JudgeInput): Verdict {
  const expect: Expectation = step.expect ?? {}
  const first = result.responses[0]
  const json = first === undefined ? undefined : parseJson(first.body)
  const errorType = first === undefined ? undefined : errorTypeOf(first, json)
  const problems: Verdict['problems'] = []
  const sentText = sentBytes.toString('latin1')
  const raw = step.request.kind === 'raw'

  let statusClass: StatusClass
  if (first !== undefined) statusClass = classOf(first.status)
  else if (result.end === 'hang') statusClass = 'hang'
  else if (result.end === 'closed' || result.end === 'reset' || result.end === 'aborted') statusClass = 'closed'
  else statusClass = 'other'

  for (const response of result.responses) {
    const bodyText = response.body.toString('latin1')
    const responseJson = response === first ? json : parseJson(response.body)
    if (response.status >= 500) {
      problems.push({ kind: '5xx', summary: `${describeAnswer(response, errorTypeOf(response, responseJson))}: ${bodyText.slice(0, 200)}` })
    }
    const whole = `${response.headers.map(([name, value]) => `${name}: ${value}`).join('\n')}\n${bodyText}`
    for (const pattern of STACK_PATTERNS) {
      const match = pattern.exec(whole)
      if (match !== null && !sentText.includes(match[0])) {
        problems.push({ kind: 'stack-trace', summary: `answer contains ${JSON.stringify(match[0])}` })
        break
      }
    }
    for (const pattern of MATERIAL_PATTERNS) {
      const match = pattern.exec(whole)
      if (match !== null && !sentText.includes(match[0]))
        problems.push({ kind: 'leak', summary: `answer contains ${JSON.stringify(match[0])}` })
    }
    for (const secret of secrets)
      if (secret !== '' && whole.includes(secret)) problems.push({ kind: 'leak', summary: 'answer contains the secret access key' })
    if (!raw) {
      for (const value of sensitiveValues(sentBody)) {
        if (whole.includes(value)) {
          problems.push({ kind: 'leak', summary: `answer echoes a sensitive request value (${value.length} characters)` })
          break
        }
      }
    }
  }

  switch (result.end) {
    case 'hang':
      problems.push({
        kind: 'hang',
        summary: `no complete answer and no close within ${Math.round(result.ms)} ms${result.detail !== undefined ? ` (${result.detail})` : ''}`,
      })
      break
    case 'malformed':
      problems.push({ kind: 'bad-response', summary: `the answer is not HTTP: ${result.detail ?? ''}` })
      break
    case 'closed':
    case 'reset':
    case 'connect-failed':
      if (!raw && expect.closeAllowed !== true && result.responses.length === 0) {
        problems.push({
          kind: 'no-answer',
          summary: `the connection ${result.end === 'connect-failed' ? 'could not be made' : result.end === 'reset' ? 'was reset' : 'was closed'} without an answer${result.detail !== undefined ? ` (${result.detail})` : ''}`,
        })
      }
      break
    default:
      break
  }

  if (first !== undefined) {
    if (expect.mustFail === true && statusClass === '2xx') {
      problems.push({
        kind: 'accepted',
        summary: `HTTP ${first.status} for a request that must fail${expect.why !== undefined ? ` (${expect.why})` : ''}`,
      })
    }
    if (expect.errorTypes !== undefined && statusClass === '4xx' && (errorType === undefined || !expect.errorTypes.includes(errorType))) {
      problems.push({
        kind: 'wrong-error',
        summary: `${describeAnswer(first, errorType)}, expected ${expect.errorTypes.join(' or ')}${expect.why !== undefined ? ` (${expect.why})` : ''}`,
      })
    }
    if (expect.check !== undefined && statusClass === '2xx') {
      const actual = valueAtPath(json, expect.check.path)
      if ((typeof actual === 'string' ? actual : JSON.stringify(actual)) !== expect.check.equals) {
        problems.push({
          kind: 'state',
          summary: `${expect.check.path} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expect.check.equals)}${expect.why !== undefined ? ` (${expect.why})` : ''}`,
        })
      }
    }
  }
  return { statusClass, status: first?.status, errorType, json, problems }
}
