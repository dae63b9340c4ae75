/**
 * The partition's single endpoint: an HTTP reverse proxy that sends each request to the
 * region its SigV4 credential scope names, as AWS's regional endpoints would have
 * received it, and there to one of the region's ready nodes, round-robin (region-nodes.ts).
 *
 * The request goes through untouched: method, target, every header (Host included,
 * since it is signed) and the body, streamed both ways. The gateway verifies nothing;
 * the region does. It answers by itself only when there is nowhere to send a request:
 * no credential at all, a region that is not in the partition, or a region none of whose
 * nodes is serving.
 * Unsigned requests under `/console` are the web console's (src/console/, given as
 * `pages` by the launcher), which it serves in this process.
 *
 * It is on the hot path of every call and benchmarked against a bare region, so the
 * happy path does no more than read the scope, pick a node and a pooled keep-alive
 * connection to it, and pipe.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { Agent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import { readCredentialScopeUnverified } from '../api/auth/sigv4.js'
import { sendError, sendJson } from '../api/protocol.js'
import type { Logger } from '../log/logger.js'
import type { ConnectionGuard } from '../http/connection-guard.js'
import { createGuardedServer } from '../http/harden.js'
import { KmsError } from '../wire/errors.js'
import type { NodeEndpoint, RegionNodes } from './region-nodes.js'

export interface GatewayOptions {
  /**
   * Every node of every region of the partition, and which of them serve: the launcher
   * keeps it up to date, the gateway picks a ready node there for each request and
   * reports it on GET /health.
   */
  nodes: RegionNodes
  logger: Logger
  /** The launcher's connection budget and limits, shared with the front door (handoff.ts). */
  guard: ConnectionGuard
  /** Concurrent connections to one node of a region. Default 512: well above any client's pool. */
  maxSocketsPerNode?: number
  /** The partition runs with `--accept-any-credentials`: GET /health says so. */
  acceptAnyCredentials?: boolean
  /**
   * Pages the gateway serves itself rather than route (the web console, src/console/,
   * composed by the launcher): requests that carry no SigV4 credential and so reach this
   * HTTP gateway, never a region, unless they are signed.
   */
  pages?: GatewayPages
  /**
   * The partition's metrics in the Prometheus text format, gathered from every process
   * (docs/metrics.md), for `GET /metrics`; without it, /metrics is not served.
   */
  metrics?: () => Promise<{ contentType: string; body: string }>
}

/** What serves the gateway's own pages (the web console). */
export interface GatewayPages {
  serves(url: string | undefined): boolean
  handle(req: IncomingMessage, res: ServerResponse): void
}

/** A node http.Server, not yet listening. */
export type Gateway = Server

const DEFAULT_MAX_SOCKETS_PER_NODE = 512
/**
 * Idle pooled connections are dropped after this long. It must stay below the region
 * server's keep-alive timeout (node's default, 5 s), or the gateway could send a request
 * on a socket the region is closing at that moment. Node lowers it further from the
 * region's `Keep-Alive: timeout=` hint, but only when an agent timeout is set at all.
 */
const IDLE_UPSTREAM_SOCKET_MS = 4_000

/**
 * Per-connection headers (RFC 9110 §7.6.1) of the region's answer. The gateway's own
 * server manages its connection with the client, so the region's view of its connection
 * to the gateway must not leak through. Request headers, on the other hand, all go to the
 * region unchanged: any of them may be signed.
 */
const RESPONSE_HEADERS_NOT_FORWARDED = new Set(['connection', 'keep-alive'])

function regionUnavailable(region: string): KmsError {
  return new KmsError('KMSInternalException', `Region '${region}' is temporarily unavailable. Retry the request.`)
}

/**
 * A down region is answered with KMSInternalException, but with status 503 instead of
 * its usual 500. KMSInternalException is in the KMS model, so every SDK turns it into a
 * typed error its callers may already handle ("the request can be retried", says the KMS
 * API reference), while an unmodeled ServiceUnavailable name would surface as a generic
 * service error. 503 says the condition is temporary, and SDK retry strategies retry it.
 */
function sendRegionUnavailable(res: ServerResponse, region: string): void {
  const error = regionUnavailable(region)
  res.setHeader('x-amzn-ErrorType', error.name)
  sendJson(res, 503, { __type: error.name, message: error.wireMessage }, randomUUID())
}

/** AWS's front end for a request that carries no authentication at all. */
function missingAuthenticationToken(): KmsError {
  return new KmsError('MissingAuthenticationTokenException', 'Request is missing Authentication Token')
}

/**
 * AWS's front end for a credential scoped to a region the endpoint does not serve; the
 * trailing space is AWS's (it joins several scope problems into one message).
 */
function regionNotInPartition(region: string): KmsError {
  return new KmsError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'. `)
}

/**
 * Whether the request tries to authenticate at all. One that does but whose credential
 * scope cannot be read (a malformed Authorization header, say) is not ours to judge: a
 * region's SigV4 verifier gives the exact AWS diagnosis, whichever region it is.
 */
function carriesSignature(req: IncomingMessage): boolean {
  if (req.headers.authorization !== undefined) return true
  const url = req.url ?? ''
  const query = url.indexOf('?')
  return query >= 0 && /(?:^|&)X-Amz-(?:Algorithm|Credential)=/.test(url.slice(query + 1))
}

/** The region's response headers as a header object, repeated headers kept as arrays. */
function forwardedResponseHeaders(rawHeaders: readonly string[]): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  const seen = new Map<string, string>()
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] ?? ''
    const value = rawHeaders[index + 1] ?? ''
    const lowerName = name.toLowerCase()
    if (RESPONSE_HEADERS_NOT_FORWARDED.has(lowerName)) continue
    const firstSpelling = seen.get(lowerName)
    if (firstSpelling === undefined) {
      seen.set(lowerName, name)
      headers[name] = value
      continue
    }
    const previous = headers[firstSpelling]
    headers[firstSpelling] = Array.isArray(previous) ? [...previous, value] : [String(previous), value]
  }
  return headers
}

export function createGateway(options: GatewayOptions): Gateway {
  const { nodes, logger } = options
  const maxSockets = options.maxSocketsPerNode ?? DEFAULT_MAX_SOCKETS_PER_NODE
  // One pool per node of each region: a slow or restarting node cannot starve the others
  // of sockets, and a dead node's pool is dropped on its own.
  const agents = new Map<string, Array<Agent | undefined>>()

  function agentFor(region: string, node: number): Agent {
    let pools = agents.get(region)
    if (pools === undefined) {
      pools = []
      agents.set(region, pools)
    }
    let agent = pools[node]
    if (agent === undefined) {
      agent = new Agent({
        keepAlive: true,
        maxSockets,
        maxFreeSockets: maxSockets,
        timeout: IDLE_UPSTREAM_SOCKET_MS,
        scheduling: 'lifo',
      })
      pools[node] = agent
    }
    return agent
  }

  // Pooled sockets to a node's old process are dead or soon will be; do not try them.
  nodes.onEndpointChange((region, node, previous) => {
    if (previous === undefined) return
    const pools = agents.get(region)
    pools?.[node]?.destroy()
    if (pools !== undefined) pools[node] = undefined
  })

  /**
   * 200 while every region has a node serving: the gateway routes to ready nodes only, so
   * a region with one node of several down still serves every request (the body says
   * `degraded` and which node is not ready).
   */
  function sendHealth(res: ServerResponse): void {
    const report = nodes.health()
    // Said where every health check looks: nothing here checks secrets.
    const body = options.acceptAnyCredentials === true ? { ...report, acceptAnyCredentials: true } : report
    const payload = Buffer.from(JSON.stringify(body), 'utf8')
    res.writeHead(report.status === 'unavailable' ? 503 : 200, {
      'Content-Type': 'application/json',
      'Content-Length': payload.length,
      'Cache-Control': 'no-store',
    })
    res.end(payload)
  }

  /** The first serving region, for requests whose region only a verifier can judge. */
  function anyServingRegion(): string | undefined {
    for (const region of nodes.regions()) if (nodes.readyCount(region) > 0) return region
    return nodes.regions()[Symbol.iterator]().next().value
  }

  function forward(req: IncomingMessage, res: ServerResponse, region: string, node: number, endpoint: NodeEndpoint): void {
    const upstream = httpRequest({
      agent: agentFor(region, node),
      host: endpoint.host,
      port: endpoint.port,
      method: req.method,
      path: req.url,
      // The raw list keeps every header as sent (case, order, repeats); node writes it
      // as is and adds no Host of its own.
      headers: req.rawHeaders,
      setHost: false,
    })

    upstream.on('response', (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, forwardedResponseHeaders(upstreamRes.rawHeaders))
      // A region dying mid-answer cuts the client's response short instead of leaving it
      // hanging. (Plain pipe plus this, not stream.pipeline: pipeline sets up an
      // AbortController per call, a measurable cost on this path.)
      upstreamRes.on('error', () => res.destroy())
      upstreamRes.pipe(res)
    })

    upstream.on('error', (err: NodeJS.ErrnoException) => {
      // Whatever is left of the client's body has nowhere to go: drain it, so that the
      // client's connection stays usable after the 503.
      req.unpipe(upstream)
      req.resume()
      if (res.writableEnded) return
      logger.debug('region unreachable', { region, node, error: err.code ?? err.message })
      if (!res.headersSent) sendRegionUnavailable(res, region)
      else res.destroy()
    })

    // The client gave up before the answer was complete: stop the work upstream.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy()
    })
    req.on('error', () => upstream.destroy())
    // Not pipeline: it would destroy the client's request (and socket) when the region
    // is unreachable, before the 503 could be sent.
    req.pipe(upstream)
  }

  function sendMetrics(res: ServerResponse, gather: NonNullable<GatewayOptions['metrics']>): void {
    gather().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' })
        res.end(body)
      },
      (err: unknown) => {
        logger.error('cannot gather metrics', { error: err instanceof Error ? err.message : 'unknown' })
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
          res.end('cannot gather metrics\n')
        }
      },
    )
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' && req.url === '/health') {
      sendHealth(res)
      return
    }
    if (req.method === 'GET' && req.url === '/metrics' && options.metrics !== undefined) {
      sendMetrics(res, options.metrics)
      return
    }
    if (options.pages?.serves(req.url) === true && req.headers.authorization === undefined) {
      options.pages.handle(req, res)
      return
    }
    const scope = readCredentialScopeUnverified({ url: req.url ?? '/', headers: req.headers })
    let region: string | undefined
    if (scope !== undefined) {
      region = scope.region
      if (!nodes.has(region)) {
        sendError(res, regionNotInPartition(region), randomUUID())
        return
      }
    } else if (carriesSignature(req)) {
      region = anyServingRegion()
    }
    if (region === undefined) {
      sendError(res, missingAuthenticationToken(), randomUUID())
      return
    }
    const picked = nodes.pick(region)
    if (picked === undefined) {
      sendRegionUnavailable(res, region)
      return
    }
    forward(req, res, region, picked.node, picked.endpoint)
  }

  const server = createGuardedServer({ limits: options.guard.limits, logger, guard: options.guard }, handle)
  server.on('close', () => {
    for (const pools of agents.values()) for (const agent of pools) agent?.destroy()
    agents.clear()
  })
  return server
}
