/**
 * The relay's HTTP face:
 *
 * - `POST /v1/envelopes`, body = one envelope (§5.1): `202 {"status":"stored"|"duplicate"}`
 *   once it is durable; `400` for an envelope the relay cannot read, `413` over 1 MiB,
 *   `404` for a destination it has no route to, `503` while shutting down or when the
 *   store fails (the sender retries). Errors are `{"error": <name>, "reason": <text>}`.
 * - `GET /health`: `200 {"status":"ok"}`.
 * - `GET /v1/status`: the routes, and per destination what is pending, in flight,
 *   delivered, refused, and the last error.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { rateLimited, type Logger } from '../log/logger.js'
import { createGuardedServer, type GuardedServer } from '../http/harden.js'
import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from '../http/limits.js'
import { EnvelopeRejectedError, MAX_ENVELOPE_BYTES, type EnvelopeRejection } from './envelope.js'
import { RelayClosedError, type Relay } from './relay.js'
import { routesAsJson, type Routes } from './routes.js'

export const ENVELOPES_PATH = '/v1/envelopes'
export const STATUS_PATH = '/v1/status'
export const HEALTH_PATH = '/health'
export const METRICS_PATH = '/metrics'

/**
 * An oversized body is read to its end (and dropped) before the 413, so a client still
 * sending sees the answer rather than a reset connection; past this much, the connection
 * is cut instead.
 */
const MAX_DRAINED_BYTES = 8 * MAX_ENVELOPE_BYTES

export interface ProxyServerOptions {
  relay: Relay
  logger: Logger
  routes: () => Routes
  /** Timeouts and the connection limit (docs/security.md). */
  limits?: ListenerLimits
  /** The relay's metrics in the Prometheus text format, for GET /metrics (docs/metrics.md). */
  metrics?: () => Promise<{ contentType: string; body: string }>
}

const REJECTION_ANSWERS: Record<EnvelopeRejection, { status: number; error: string }> = {
  invalid: { status: 400, error: 'InvalidEnvelope' },
  'too-large': { status: 413, error: 'EnvelopeTooLarge' },
  'unknown-destination': { status: 404, error: 'UnknownDestination' },
}

function sendJson(res: ServerResponse, status: number, payload: unknown, extraHeaders: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(payload), 'utf8')
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': bytes.length,
    'Cache-Control': 'no-store',
    ...extraHeaders,
  })
  res.end(bytes)
}

function sendError(res: ServerResponse, status: number, error: string, reason: string, extraHeaders?: Record<string, string>): void {
  sendJson(res, status, { error, reason }, extraHeaders)
}

type BodyRead = { kind: 'body'; bytes: Buffer } | { kind: 'too-large' } | { kind: 'failed' }

/** The request body, at most 1 MiB of it. */
function readBody(req: IncomingMessage): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let received = 0
    req.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received <= MAX_ENVELOPE_BYTES) chunks.push(chunk)
      else if (received > MAX_DRAINED_BYTES) {
        resolve({ kind: 'too-large' })
        req.destroy()
      }
    })
    req.on('end', () =>
      resolve(received > MAX_ENVELOPE_BYTES ? { kind: 'too-large' } : { kind: 'body', bytes: Buffer.concat(chunks, received) }),
    )
    req.on('error', () => resolve({ kind: 'failed' }))
    req.on('close', () => resolve({ kind: 'failed' }))
  })
}

export function createProxyServer(options: ProxyServerOptions): GuardedServer {
  const { relay } = options
  // Whoever can reach the proxy decides how often these lines are written.
  const logger = rateLimited(options.logger)

  async function postEnvelope(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const declaredLength = Number(req.headers['content-length'] ?? NaN)
    if (declaredLength > MAX_DRAINED_BYTES) {
      sendError(res, 413, 'EnvelopeTooLarge', `envelope exceeds ${MAX_ENVELOPE_BYTES} bytes`, { Connection: 'close' })
      return
    }
    const body = await readBody(req)
    if (body.kind === 'failed') return
    if (body.kind === 'too-large') {
      if (!res.headersSent && !res.destroyed) sendError(res, 413, 'EnvelopeTooLarge', `envelope exceeds ${MAX_ENVELOPE_BYTES} bytes`)
      return
    }
    try {
      sendJson(res, 202, { status: relay.accept(body.bytes) })
    } catch (err) {
      if (err instanceof EnvelopeRejectedError) {
        const answer = REJECTION_ANSWERS[err.rejection]
        logger.info('envelope rejected', { status: answer.status, reason: err.reason })
        sendError(res, answer.status, answer.error, err.reason)
      } else if (err instanceof RelayClosedError) {
        sendError(res, 503, 'Unavailable', err.message, { Connection: 'close' })
      } else {
        // The envelope may not be durable: the sender must retry.
        logger.error('cannot store envelope', { error: err instanceof Error ? err.message : 'unknown' })
        sendError(res, 503, 'Unavailable', 'the relay cannot store envelopes now')
      }
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]
    const method = req.method ?? 'GET'
    if (path === ENVELOPES_PATH) {
      if (method !== 'POST') return sendError(res, 405, 'MethodNotAllowed', `use POST ${ENVELOPES_PATH}`, { Allow: 'POST' })
      postEnvelope(req, res).catch((err: unknown) => {
        logger.error('request failed', { error: err instanceof Error ? err.message : 'unknown' })
        if (!res.headersSent) sendError(res, 500, 'InternalError', 'internal error')
      })
      return
    }
    if (path === METRICS_PATH && options.metrics !== undefined) {
      if (method !== 'GET') return sendError(res, 405, 'MethodNotAllowed', `use GET ${path}`, { Allow: 'GET' })
      options.metrics().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' })
          res.end(body)
        },
        (err: unknown) => {
          logger.error('cannot collect metrics', { error: err instanceof Error ? err.message : 'unknown' })
          if (!res.headersSent) sendError(res, 500, 'InternalError', 'internal error')
        },
      )
      return
    }
    if (path === HEALTH_PATH || path === STATUS_PATH) {
      if (method !== 'GET' && method !== 'HEAD') return sendError(res, 405, 'MethodNotAllowed', `use GET ${path}`, { Allow: 'GET' })
      if (path === HEALTH_PATH) return sendJson(res, 200, { status: 'ok' })
      const routes = options.routes()
      return sendJson(res, 200, { routes: routesAsJson(routes), destinations: relay.status(routes.keys()) })
    }
    sendError(res, 404, 'NotFound', `no such path`)
  }

  return createGuardedServer({ limits: options.limits ?? DEFAULT_LISTENER_LIMITS, logger: options.logger }, handle)
}
