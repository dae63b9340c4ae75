/**
 * The KMS HTTP front end of one region. Builds the server without listening (the
 * region's composition root listens), so tests can drive it on any port.
 *
 * Request pipeline, in AWS's order: route (method, path, target, content type) →
 * authenticate (SigV4) → parse JSON → validate against the AWS model → operation. Any
 * error that is not a KmsError becomes a detail-free KMSInternalException; its detail
 * goes to the log under the request id.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Kms } from '../kms/kms.js'
import type { AdminOperation, Caller, Operation } from '../kms/operation.js'
import { OPERATIONS } from '../kms/operations/index.js'
import { REFUSED_OPERATIONS } from '../kms/coverage.js'
import { rateLimited, type Logger } from '../log/logger.js'
import { KmsError, internalError, isKmsError } from '../wire/errors.js'
import { createGuardedServer, type GuardedServer } from '../http/harden.js'
import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from '../http/limits.js'
import { verifySigV4 } from './auth/sigv4.js'
import { forwardRequest, type RegionRoute } from './forward.js'
import { isJsonContentType, parseTarget, sendError, sendJson } from './protocol.js'
import { isKnownOperation, parseAdminInput, parseOperationInput } from './validation.js'
import { presentLeafPaths, projectOutput, withoutSensitiveText } from './members.js'
import { runOperation } from '../kms/access.js'
import type { PrincipalDirectory } from '../kms/principals.js'
import type { RequestMetrics } from '../metrics/region-metrics.js'
import { eventNameOf, intentRecord, requestRecord, type RequestFacts } from './audit-request.js'
import type { AuditIntentSource } from '../kms/audit-intent.js'
import { failpoint } from '../kms/failpoints.js'
import { readCredentialScopeUnverified } from './auth/sigv4.js'

/** Far above any valid KMS request (the largest member, a policy, is 128 KiB of text). */
const MAX_BODY_BYTES = 1024 * 1024
/**
 * The headers a KMS signature must cover besides host and date: the target names the
 * operation, so a signature that leaves it out could be replayed as another operation.
 */
const REQUIRED_SIGNED_HEADERS = ['x-amz-target'] as const

export interface ApiServerOptions {
  kms: Kms
  logger: Logger
  /** The account's principals: root and the identities file's users. */
  principals: PrincipalDirectory
  /** Trent's own operations (`TrentAdmin.<Name>`), signed like every other request. */
  adminOperations?: ReadonlyMap<string, AdminOperation>
  /** The time SigV4 checks request dates against; defaults to the real time. */
  now?: () => Date
  /**
   * Where the partition's other regions listen, for requests scoped to them that arrive
   * on a connection the partition handed to this region (gateway/handoff.ts).
   */
  routeTo?: (region: string) => RegionRoute | undefined
  /** Timeouts and the connection limit (docs/security.md); defaults to DEFAULT_LISTENER_LIMITS. */
  limits?: ListenerLimits
  /**
   * Development mode (`--accept-any-credentials`): the caller every request is served as
   * (the account's root user), whatever its access key and secret. The signature must
   * still be well formed (sigv4.ts, `acceptAnySecret`).
   */
  acceptAnyCredentials?: Caller
  /**
   * Counts every answered request (operation, outcome, latency) and serves `GET /metrics`
   * (docs/metrics.md); without it, nothing is counted and /metrics is not served.
   */
  metrics?: RequestMetrics & { text(): Promise<{ contentType: string; body: string }> }
}

/** AWS's front end for a credential scoped to a region this endpoint does not serve. */
function wrongRegion(region: string): KmsError {
  return new KmsError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'. `)
}

class BodyTooLarge extends Error {}
/** The client went away before its request was complete: its business, not an error of Trent's. */
class ClientGone extends Error {}

/** Past this, an oversized body is not even drained: the connection is dropped. */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      // Past the limit the body is read and dropped, so the client gets an answer
      // instead of a reset connection; past the drain limit it is cut off.
      if (size > MAX_DRAIN_BYTES) req.destroy()
      else if (size <= MAX_BODY_BYTES) chunks.push(chunk)
    })
    // One chunk (almost every request) is the body as it is: no copy into Node's pool.
    req.on('end', () =>
      size > MAX_BODY_BYTES
        ? reject(new BodyTooLarge())
        : resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)),
    )
    req.on('error', () => reject(new ClientGone()))
    req.on('close', () => {
      if (!req.complete) reject(new ClientGone())
    })
  })
}

function parseJsonBody(body: Buffer): unknown {
  // An empty body is an empty input, as AWS SDKs send for operations without members.
  if (body.length === 0) return {}
  try {
    return JSON.parse(body.toString('utf8')) as unknown
  } catch {
    throw new KmsError('SerializationException', 'Start of structure or map found where not expected.')
  }
}

interface Handled {
  operation?: string
  forwarded?: boolean
  /** The health check's answer: not an API request, so not audited. */
  health?: true
  /** Already answered by the handler itself (GET /metrics): neither audited nor counted. */
  answered?: true
  /** What to answer, once the request's audit record is where it must be. */
  output?: Record<string, unknown>
}

/**
 * How far a request got, and what the audit record needs of it: whoever is not yet
 * authenticated is logged rate-limited.
 */
type Progress = RequestFacts & {
  /**
   * The operation, once the target names one Trent knows (a metric label: never a name a
   * client made up, which would let it create series at will).
   */
  operation: string
}

/** The operation label of a request whose target names no known operation (docs/metrics.md). */
const UNKNOWN_OPERATION = 'unknown'

/**
 * The storage port's StorageUnavailableError (src/storage/storage.ts), known by name: the
 * API layer does not depend on storage.
 */
function isStoreUnavailable(err: unknown): err is Error {
  return err instanceof Error && err.name === 'StorageUnavailableError'
}

/**
 * A member of the model that the operation does not act on is refused, never dropped: a
 * grant constraint Trent ignored would be a grant without it (docs/spec/kms-model.md).
 */
function refuseUnhonouredMembers(operation: Operation, input: Record<string, unknown>): void {
  for (const path of presentLeafPaths(operation.name, input)) {
    if (operation.members.includes(path)) continue
    const reason = operation.refuses?.[path] ?? `Trent does not implement this member of ${operation.name} yet.`
    throw new KmsError('UnsupportedOperationException', `${path}: ${reason}`)
  }
}

/**
 * The request's headers with repeated ones kept apart, as SigV4 needs them. Node builds
 * `req.headers` for every request anyway; `req.headersDistinct` is a second pass over the
 * raw headers, and differs from it only when some header is repeated.
 */
function distinctHeaders(req: IncomingMessage): IncomingMessage['headers'] | IncomingMessage['headersDistinct'] {
  return req.rawHeaders.length === 2 * Object.keys(req.headers).length ? req.headers : req.headersDistinct
}

function storeUnavailable(): KmsError {
  return new KmsError('DependencyTimeoutException', 'The system timed out while trying to fulfill the request. You can retry the request.')
}

export function createApiServer(options: ApiServerOptions): GuardedServer {
  const { kms, logger } = options
  // What a client can make this server log before it has proved who it is.
  const clientLogger = rateLimited(logger)
  const now = options.now ?? (() => new Date())
  const anyCaller = options.acceptAnyCredentials

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    progress: Progress,
    auditIntent: AuditIntentSource,
  ): Promise<Handled> {
    if (req.method === 'GET' && req.url === '/health') {
      return {
        health: true,
        output: { status: 'ok', region: kms.region, ...(anyCaller !== undefined ? { acceptAnyCredentials: true } : {}) },
      }
    }
    if (req.method === 'GET' && req.url === '/metrics' && options.metrics !== undefined) {
      const { contentType, body } = await options.metrics.text()
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' })
      res.end(body)
      return { answered: true }
    }
    const body = await readBody(req)
    const target = parseTarget(req.headers['x-amz-target'])
    const operations = target?.service === 'admin' ? options.adminOperations : OPERATIONS
    if (req.method !== 'POST' || target === undefined || !isJsonContentType(req.headers['content-type'])) {
      throw new KmsError('UnknownOperationException')
    }
    const operation = operations?.get(target.operation)
    if (operation !== undefined) progress.operation = target.service === 'admin' ? `TrentAdmin.${operation.name}` : operation.name
    if (operation === undefined) {
      if (target.service === 'kms' && isKnownOperation(target.operation)) {
        progress.operation = target.operation
        const reason = REFUSED_OPERATIONS[target.operation] ?? 'Not implemented yet.'
        throw new KmsError('UnsupportedOperationException', `${target.operation} is not supported by Trent. ${reason}`)
      }
      throw new KmsError('UnknownOperationException')
    }
    const caller = verifySigV4(
      // Distinct: repeated headers stay separate, so a second Authorization header is seen.
      { method: req.method, url: req.url ?? '/', headers: distinctHeaders(req), body },
      {
        // Every credential Trent knows is long-term: no session token belongs to it.
        lookupSecret: (id, sessionToken) => (sessionToken === undefined ? options.principals.lookup(id)?.secretAccessKey : undefined),
        now: now(),
        service: 'kms',
        requiredSignedHeaders: REQUIRED_SIGNED_HEADERS,
        ...(anyCaller !== undefined ? { acceptAnySecret: true } : {}),
      },
    )
    progress.authenticated = true
    progress.accessKeyId = caller.accessKeyId.slice(0, 128)
    const principalArn = anyCaller?.principalArn ?? options.principals.lookup(caller.accessKeyId)?.caller.principalArn
    if (principalArn !== undefined) progress.principalArn = principalArn
    if (caller.region !== kms.region) {
      // A connection the partition handed to this region may carry a request for another
      // one (gateway/handoff.ts): send it there, as the gateway would have.
      const route = options.routeTo?.(caller.region)
      if (route === undefined) throw wrongRegion(caller.region)
      // Counted where it is answered; here only as forwarded.
      options.metrics?.observeForwarded(caller.region)
      forwardRequest(req, body, res, route, () =>
        sendError(
          res,
          new KmsError('KMSInternalException', `Region '${caller.region}' is temporarily unavailable. Retry the request.`),
          requestId,
        ),
      )
      return { forwarded: true }
    }
    const json = parseJsonBody(body)
    const identity = (): { caller: Caller } => {
      if (anyCaller !== undefined) return { caller: anyCaller }
      const known = options.principals.lookup(caller.accessKeyId)
      if (known === undefined) throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.')
      return known
    }
    if (target.service === 'admin') {
      const input = parseAdminInput(json)
      const { caller: adminCaller } = identity()
      // Trent's own operations are the account administrator's.
      if (!adminCaller.principalArn.endsWith(':root')) {
        throw new KmsError(
          'AccessDeniedException',
          `User: ${adminCaller.principalArn} is not authorized to perform: TrentAdmin.${target.operation}`,
        )
      }
      progress.input = input
      return { operation: operation.name, output: await operation.handle(kms, input, { requestId, caller: adminCaller, auditIntent }) }
    }
    const kmsOperation = OPERATIONS.get(target.operation)
    if (kmsOperation === undefined) throw new KmsError('UnknownOperationException')
    const input = parseOperationInput(target.operation, json)
    // What the audit record shows of it: a custom key store's password is not for the trail.
    progress.input = withoutSensitiveText(target.operation, input)
    refuseUnhonouredMembers(kmsOperation, input)
    const output = await runOperation(kms, kmsOperation, input, { requestId, caller: identity().caller, auditIntent })
    return { operation: kmsOperation.name, output: projectOutput(kmsOperation.name, output) as Record<string, unknown> }
  }

  return createGuardedServer({ limits: options.limits ?? DEFAULT_LISTENER_LIMITS, logger }, (req, res) => {
    const requestId = randomUUID()
    const started = performance.now()
    const target = req.headers['x-amz-target']
    const eventName = eventNameOf(target)
    const { metrics } = options
    const progress: Progress = {
      authenticated: false,
      operation: UNKNOWN_OPERATION,
      ...(eventName !== undefined ? { eventName } : {}),
    }
    /**
     * Records the request in the region's audit trail. The answer waits for it: a change's
     * record is on disk (fdatasync'd) before the change is acknowledged; any other record is
     * written to the file, with the others of this turn of the event loop, before its answer
     * leaves (docs/spec/audit-trail.md §4).
     */
    const eventId = randomUUID()
    const audit = (outcome: { output: Record<string, unknown> } | { error: KmsError }): Promise<void> | undefined => {
      const time = kms.clock.now()
      if (progress.accessKeyId === undefined) {
        // Refused before its signature was verified: the record names the key the request
        // claims. Parsed only here, so a request that passes SigV4 parses its scope once.
        const claimed = readCredentialScopeUnverified({ url: req.url ?? '/', headers: req.headersDistinct })
        if (claimed !== undefined) progress.accessKeyId = claimed.accessKeyId.slice(0, 128)
      }
      const record = requestRecord(kms, req, requestId, progress, outcome, time, eventId)
      const durable = 'output' in outcome && !record.readOnly
      if (durable) failpoint('audit:before-change-record')
      return kms.audit.append(record, { durable, time })
    }
    // Every change the request commits carries its record (docs/spec/audit-trail.md §4):
    // operations pass this to Kms.mutate (RequestContext.auditIntent).
    const intent: AuditIntentSource = (keyIds) => ({
      node: kms.audit.node,
      eventId,
      record: JSON.stringify(intentRecord(kms, req, requestId, progress, eventId, keyIds)),
    })
    handle(req, res, requestId, progress, intent)
      .then(async (handled) => {
        if (handled.forwarded === true || handled.answered === true) return
        const output = handled.output ?? {}
        // Before the answer: what a client is told has happened is in the trail.
        if (handled.health !== true) await audit({ output })
        sendJson(res, 200, output, requestId)
        // /health names no operation and is not counted; forwarded requests are counted by
        // the region that answers them.
        if (metrics !== undefined && handled.operation !== undefined) {
          metrics.observeRequest(progress.operation, 'success', (performance.now() - started) / 1000)
        }
        logger.debug('request', {
          requestId,
          target: typeof target === 'string' ? target : undefined,
          status: 200,
          ms: performance.now() - started,
        })
      })
      .catch((err: unknown) => {
        const targetName = typeof target === 'string' ? target.slice(0, 128) : undefined
        if (err instanceof ClientGone) {
          // Nothing was answered: nothing to record.
          clientLogger.debug('client went away mid-request', { requestId, target: targetName })
          return
        }
        // The error is answered once its record is written, like any answer.
        const answer = (error: KmsError): void => {
          metrics?.observeRequest(progress.operation, error.name, (performance.now() - started) / 1000)
          const send = (): void => {
            if (!res.headersSent && !res.destroyed) sendError(res, error, requestId)
          }
          const failed = (auditErr: unknown): void => {
            logger.error('audit record not written', { requestId, error: auditErr instanceof Error ? auditErr.message : 'unknown' })
          }
          let written: Promise<void> | undefined
          try {
            written = audit({ error })
          } catch (auditErr) {
            failed(auditErr)
          }
          if (written === undefined) send()
          else written.then(send, (auditErr: unknown) => (failed(auditErr), send()))
        }
        if (err instanceof BodyTooLarge) {
          clientLogger.info('request failed', { requestId, target: targetName, error: 'RequestEntityTooLarge' })
          answer(new KmsError('ValidationException', 'Request entity too large'))
          return
        }
        if (isStoreUnavailable(err)) {
          // The region's store (PostgreSQL) is down or too slow: a dependency, and retryable.
          clientLogger.warn('store unavailable', { requestId, target: targetName, error: err.message })
          answer(storeUnavailable())
          return
        }
        const wireError = isKmsError(err) ? err : internalError()
        if (!isKmsError(err)) {
          // A fault of Trent's, logged in full; still rate-limited, since a client may be
          // able to trigger it at will.
          clientLogger.error('internal error', {
            requestId,
            target: targetName,
            error: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown',
            stack: err instanceof Error ? err.stack : undefined,
          })
        } else {
          ;(progress.authenticated ? logger : clientLogger).info('request failed', { requestId, target: targetName, error: err.name })
        }
        answer(wireError)
      })
  })
}
