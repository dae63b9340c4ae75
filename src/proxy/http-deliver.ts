/**
 * Delivery over HTTP: `POST <route base>/replication/v1/envelopes` with the envelope's
 * bytes, unchanged, as the body (docs/spec/replication.md §10). One keep-alive pool per
 * region, so a region that hangs holds only its own sockets.
 *
 * @module
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { REPLICATION_PATH } from '../wire/replication-endpoint.js'
import type { Deliver, DeliveryAnswer } from './relay.js'

/**
 * Idle pooled connections are dropped after this long: below a node server's default
 * keep-alive timeout (5 s), so the relay never sends on a socket the region is closing.
 */
const IDLE_SOCKET_MS = 4_000
/** Bytes of a region's answer read for its reason; the rest is discarded. */
const MAX_REASON_SOURCE_BYTES = 4_096
const MAX_REASON_LENGTH = 200
export const DEFAULT_DELIVERY_TIMEOUT_MS = 10_000

/** No route to the region (any more): retried, since routes can come back. */
export class NoRouteError extends Error {
  override readonly name = 'NoRouteError'
  readonly code = 'NO_ROUTE'
  constructor(region: string) {
    super(`no route to region '${region}'`)
  }
}

export interface HttpDelivererOptions {
  /** The route base URL of a region, read at every delivery so route changes apply at once. */
  routeFor: (region: string) => URL | undefined
  timeoutMs?: number
  maxSocketsPerRegion?: number
}

export interface HttpDeliverer {
  deliver: Deliver
  close(): void
}

/** The endpoint a route base URL stands for: its path, if any, is a prefix. */
export function deliveryUrl(base: URL): URL {
  const url = new URL(base)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${REPLICATION_PATH}`
  url.search = ''
  url.hash = ''
  return url
}

/**
 * The region's short reason from its answer: a JSON object's `reason` (or `message`,
 * `error`, `__type`), else the text itself; one line, bounded, printable.
 */
export function shortReason(answer: Buffer): string {
  const text = answer.toString('utf8')
  let reason = text
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === 'object' && parsed !== null) {
      const fields = parsed as Record<string, unknown>
      const named = ['reason', 'message', 'error', '__type'].map((name) => fields[name]).find((v) => typeof v === 'string')
      if (typeof named === 'string') reason = named
      else if (Object.keys(fields).length === 0) reason = ''
    }
  } catch {
    // Not JSON: the text is the reason.
  }
  // Control characters are exactly what this strips from a peer's reason before it is logged.
  return reason
    .replace(/[\u0000-\u001f\u007f]+/g, ' ') // eslint-disable-line no-control-regex
    .trim()
    .slice(0, MAX_REASON_LENGTH)
}

function readReason(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let length = 0
    res.on('data', (chunk: Buffer) => {
      if (length < MAX_REASON_SOURCE_BYTES) chunks.push(chunk)
      length += chunk.length
    })
    // 'close' also comes after an answer cut short: whatever arrived is the reason.
    res.on('close', () => resolve(shortReason(Buffer.concat(chunks).subarray(0, MAX_REASON_SOURCE_BYTES))))
    res.on('error', () => undefined)
  })
}

export function createHttpDeliverer(options: HttpDelivererOptions): HttpDeliverer {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS
  const maxSockets = options.maxSocketsPerRegion ?? 8
  const agents = new Map<string, HttpAgent>()

  function agentFor(region: string, url: URL): HttpAgent {
    // Keyed by region and protocol: a route switching between http and https needs another agent.
    const key = `${region} ${url.protocol}`
    let agent = agents.get(key)
    if (agent === undefined) {
      const settings = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' as const }
      agent = url.protocol === 'https:' ? new HttpsAgent(settings) : new HttpAgent(settings)
      agents.set(key, agent)
    }
    return agent
  }

  const deliver: Deliver = (to, envelope, signal) => {
    const base = options.routeFor(to)
    if (base === undefined) return Promise.reject(new NoRouteError(to))
    const url = deliveryUrl(base)
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise<DeliveryAnswer>((resolve, reject) => {
      const req = send(url, {
        method: 'POST',
        agent: agentFor(to, url),
        headers: { 'Content-Type': 'application/json', 'Content-Length': envelope.byteLength },
        signal,
        timeout: timeoutMs,
      })
      // The socket timeout above only covers silence; this bounds the whole exchange.
      const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
      req.on('error', (err) => {
        clearTimeout(deadline)
        reject(err)
      })
      req.on('response', (res) => {
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) {
          // The status is the whole answer; the rest is drained so the socket can be reused.
          clearTimeout(deadline)
          res.on('error', () => undefined)
          res.resume()
          resolve({ status })
          return
        }
        void readReason(res).then((reason) => {
          clearTimeout(deadline)
          resolve(reason === '' ? { status } : { status, reason })
        })
      })
      req.end(envelope)
    })
  }

  return {
    deliver,
    close() {
      for (const agent of agents.values()) agent.destroy()
      agents.clear()
    },
  }
}
