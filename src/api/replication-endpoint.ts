/**
 * A region's replication listener: the one place the proxy delivers envelopes to
 * (`POST /replication/v1/envelopes`, docs/spec/replication.md §10). It is its own server
 * on its own port, apart from the public KMS port, so that it can be bound where only
 * the proxy reaches it; the KMS port answers that path like any other unknown request.
 *
 * Envelopes are authenticated by the RSK signature inside, not by the connection. Why
 * one was refused goes back in the answer, because the proxy shows it in its status (the
 * user sees why replication stalls), and to the region's log, rate-limited: the proxy is
 * untrusted and decides how often it is called. Anything else gets a bare 404.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { receiveEnvelope } from '../kms/multi-region/inbound.js'
import { replicationIntentRecord, replicationRecord } from './audit-request.js'
import type { Kms } from '../kms/kms.js'
import { rateLimited, type Logger } from '../log/logger.js'
import { createGuardedServer, type GuardedServer } from '../http/harden.js'
import { REPLICATION_LISTENER_LIMITS, type ListenerLimits } from '../http/limits.js'
import { MAX_ENVELOPE_BYTES, REPLICATION_PATH } from '../wire/replication-endpoint.js'

export interface ReplicationEndpointOptions {
  kms: Kms
  logger: Logger
  limits?: ListenerLimits
}

type BodyRead = { kind: 'body'; bytes: Buffer } | { kind: 'too-large' } | { kind: 'gone' }

function readEnvelope(req: IncomingMessage): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_ENVELOPE_BYTES) chunks.push(chunk)
      else {
        resolve({ kind: 'too-large' })
        req.destroy()
      }
    })
    req.on('end', () => resolve({ kind: 'body', bytes: Buffer.concat(chunks, size) }))
    req.on('error', () => resolve({ kind: 'gone' }))
    req.on('close', () => resolve({ kind: 'gone' }))
  })
}

function answer(res: ServerResponse, status: number, payload?: unknown): void {
  const bytes = payload === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(payload), 'utf8')
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length, 'Cache-Control': 'no-store' })
  res.end(bytes)
}

export function createReplicationEndpoint(options: ReplicationEndpointOptions): GuardedServer {
  const { kms } = options
  const logger = rateLimited(options.logger)

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const read = await readEnvelope(req)
    if (read.kind === 'gone') return
    if (read.kind === 'too-large') {
      if (!res.headersSent && !res.destroyed) answer(res, 413, { status: 'refused', reason: 'envelope too large' })
      return
    }
    const requestId = randomUUID()
    const eventId = randomUUID()
    // A change the message makes carries its record in the same commit (docs/spec/audit-trail.md §4).
    const intent = (_keyIds: readonly string[], detail?: Readonly<Record<string, string>>) => ({
      node: kms.audit.node,
      eventId,
      record: JSON.stringify(replicationIntentRecord(kms, requestId, eventId, detail)),
    })
    const result = await receiveEnvelope(kms, read.bytes, intent)
    const about = { requestId, type: result.type, from: result.from, keyId: result.keyId }
    // Every message is recorded; one that changed the region is on disk before the proxy
    // is told it was applied (docs/spec/audit-trail.md §4).
    const time = kms.clock.now()
    await kms.audit.append(replicationRecord(kms, requestId, result, time, eventId), { durable: result.outcome === 'applied', time })
    if (result.outcome === 'refused') {
      logger.warn('replication message refused', { ...about, reason: result.reason })
      answer(res, 400, { status: 'refused', reason: result.reason })
    } else {
      logger.debug('replication message', { ...about, outcome: result.outcome })
      answer(res, 200, { status: result.outcome })
    }
  }

  return createGuardedServer({ limits: options.limits ?? REPLICATION_LISTENER_LIMITS, logger: options.logger }, (req, res) => {
    if (req.method === 'GET' && req.url === '/health') {
      answer(res, 200, { status: 'ok', region: kms.region })
      return
    }
    if (req.method !== 'POST' || req.url !== REPLICATION_PATH) {
      req.resume()
      answer(res, 404)
      return
    }
    receive(req, res).catch((err: unknown) => {
      logger.error('replication endpoint failed', { error: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown' })
      if (!res.headersSent && !res.destroyed) answer(res, 500, { status: 'failed' })
    })
  })
}
