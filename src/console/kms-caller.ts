/**
 * The console's only way to a region: the partition's KMS endpoint, with requests signed
 * (SigV4, the signer the AWS SDKs use) with the signed-in user's own access key. The
 * region authenticates and authorizes each call exactly as it would the user's SDK, so
 * the console shows and does only what the user's policies allow.
 *
 * @module
 */
import { Agent, request } from 'node:http'
import { SignatureV4 } from '@smithy/signature-v4'
import { NodeSha256 } from '../wire/node-sha256.js'
import type { ConsoleCredentials } from './sessions.js'

/** A region's answer: its HTTP status and JSON body (an output, or `{__type, message}`). */
export interface KmsAnswer {
  status: number
  body: Record<string, unknown>
}

/** A KMS answer as an error name, or undefined when the call succeeded. */
export function errorName(answer: KmsAnswer): string | undefined {
  if (answer.status === 200) return undefined
  const type = answer.body.__type
  // AWS JSON error names may carry a namespace prefix (`com.amazonaws.kms#NotFoundException`).
  return typeof type === 'string' ? type.slice(type.lastIndexOf('#') + 1) : 'InternalFailure'
}

/** Generous, but bounded: a browser's request must not hang on a region that never answers. */
const CALL_TIMEOUT_MS = 30_000
const MAX_ANSWER_BYTES = 4 * 1024 * 1024

export class KmsCaller {
  readonly #endpoint: () => URL | undefined
  // One pool per region: the partition's front door hands a connection to the region its
  // first request names, so a region's calls keep going straight to that region.
  readonly #agents = new Map<string, Agent>()

  /** `endpoint`: the partition's KMS endpoint (the gateway), known once it listens. */
  constructor(endpoint: () => URL | undefined) {
    this.#endpoint = endpoint
  }

  /** Calls `target` (`TrentService.ListKeys`, `TrentAdmin.DescribeReplication`, …) in `region` as `credentials`. */
  async call(credentials: ConsoleCredentials, region: string, target: string, input: unknown): Promise<KmsAnswer> {
    const endpoint = this.#endpoint()
    if (endpoint === undefined)
      return { status: 503, body: { __type: 'KMSInternalException', message: 'The partition is not serving yet.' } }
    const body = JSON.stringify(input)
    const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: NodeSha256 })
    const signed = await signer.sign({
      method: 'POST',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port === '' ? {} : { port: Number(endpoint.port) }),
      path: '/',
      headers: { host: endpoint.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
      body,
    })
    let agent = this.#agents.get(region)
    if (agent === undefined) {
      agent = new Agent({ keepAlive: true, maxSockets: 16, timeout: 4_000 })
      this.#agents.set(region, agent)
    }
    return new Promise<KmsAnswer>((resolve, reject) => {
      const req = request(
        // URL.hostname keeps an IPv6 address's brackets; a socket wants the bare address.
        {
          host: endpoint.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: endpoint.port,
          method: 'POST',
          path: '/',
          headers: signed.headers,
          agent,
          timeout: CALL_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = []
          let size = 0
          res.on('data', (chunk: Buffer) => {
            size += chunk.length
            if (size > MAX_ANSWER_BYTES) res.destroy(new Error('answer too large'))
            else chunks.push(chunk)
          })
          res.on('error', reject)
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            try {
              const parsed = text === '' ? {} : (JSON.parse(text) as unknown)
              const json =
                typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {}
              resolve({ status: res.statusCode ?? 502, body: json })
            } catch {
              resolve({
                status: 502,
                body: { __type: 'KMSInternalException', message: 'The region answered with something other than JSON.' },
              })
            }
          })
        },
      )
      req.on('timeout', () => req.destroy(new Error('timed out')))
      req.on('error', reject)
      req.end(body)
    })
  }

  close(): void {
    for (const agent of this.#agents.values()) agent.destroy()
    this.#agents.clear()
  }
}
