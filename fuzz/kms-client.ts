/**
 * Plain, honest KMS calls over the fuzzer's own sender, for making the key pool and for
 * the checks after a run. Failures throw with the operation and the answer, so a pool
 * that cannot be made stops the run with a readable reason instead of fuzzing nothing.
 *
 * @module
 */
import { KeepAliveConnection, type Endpoint } from './http-client.js'
import type { RenderContext } from './recipe.js'
import { type RequestSigner, serializeRequest } from './signer.js'

export interface KmsAnswer {
  status: number
  json: Record<string, unknown> | undefined
  body: string
}

const CALL_DEADLINE_MS = 60_000
const EMPTY_CONTEXT: RenderContext = { values: new Map(), nowMs: 0 }

export class KmsCallError extends Error {
  constructor(
    readonly operation: string,
    readonly answer: KmsAnswer | undefined,
    detail: string,
  ) {
    super(`${operation}: ${detail}`)
  }
}

export class KmsClient {
  private readonly idle: KeepAliveConnection[] = []
  private readonly all: KeepAliveConnection[] = []

  constructor(
    private readonly endpoint: Endpoint,
    private readonly signer: RequestSigner,
  ) {}

  /** Any answer, 2xx or not. `target` is a whole X-Amz-Target, or an operation of TrentService. */
  async send(region: string, target: string, input: unknown): Promise<KmsAnswer> {
    const fullTarget = target.includes('.') ? target : `TrentService.${target}`
    const wire = await this.signer.render(
      { kind: 'signed', region, target: fullTarget, body: { text: JSON.stringify(input) } },
      { ...EMPTY_CONTEXT, nowMs: Date.now() },
    )
    const connection = this.idle.pop() ?? this.open()
    try {
      const result = await connection.exchange(serializeRequest(wire), CALL_DEADLINE_MS)
      const response = result.responses[0]
      if (response === undefined)
        throw new KmsCallError(fullTarget, undefined, `no answer (${result.end}${result.detail !== undefined ? `: ${result.detail}` : ''})`)
      const body = response.body.toString('utf8')
      let json: Record<string, unknown> | undefined
      try {
        json = JSON.parse(body) as Record<string, unknown>
      } catch {
        json = undefined
      }
      return { status: response.status, json, body }
    } finally {
      this.idle.push(connection)
    }
  }

  /** A 2xx answer's JSON, or an error. */
  async call(region: string, target: string, input: unknown): Promise<Record<string, unknown>> {
    const answer = await this.send(region, target, input)
    if (answer.status < 200 || answer.status >= 300 || answer.json === undefined) {
      throw new KmsCallError(target, answer, `HTTP ${answer.status} ${answer.body.slice(0, 300)}`)
    }
    return answer.json
  }

  close(): void {
    for (const connection of this.all) connection.close()
    this.all.length = 0
    this.idle.length = 0
  }

  private open(): KeepAliveConnection {
    const connection = new KeepAliveConnection(this.endpoint)
    this.all.push(connection)
    return connection
  }
}

/** The string at a dotted path of a JSON answer (`KeyMetadata.KeyId`), or undefined. */
export function valueAt(json: unknown, path: string): string | undefined {
  let current: unknown = json
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined
    current = (current as Record<string, unknown>)[part]
  }
  if (typeof current === 'string') return current
  if (typeof current === 'number' || typeof current === 'boolean') return String(current)
  return undefined
}
