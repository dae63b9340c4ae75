/**
 * Every Trent HTTP listener is created here, with its limits applied: Node's own header,
 * request and keep-alive timeouts, a {@link ConnectionGuard} that watches every
 * connection (including those handed in with `server.emit('connection')`), and an answer
 * to malformed HTTP that closes the connection at once. docs/security.md lists the
 * values.
 *
 * @module
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { rateLimited, type Logger } from '../log/logger.js'
import { endWithStatus } from './bare-answer.js'
import { ConnectionGuard } from './connection-guard.js'
import type { ListenerLimits } from './limits.js'

/** How often Node checks its header and request timeouts (its default, 30 s, is too coarse). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000

export interface GuardedServer extends Server {
  readonly guard: ConnectionGuard
}

export interface GuardedServerOptions {
  limits: ListenerLimits
  /** Rate-limited internally; client-triggered lines are logged at debug. */
  logger: Logger
  /** Share one guard between servers that share one budget (the gateway and its front door). */
  guard?: ConnectionGuard
  noDelay?: boolean
}

/** An HTTP server (not yet listening) that enforces `limits` on every connection it serves. */
export function createGuardedServer(options: GuardedServerOptions, handler: RequestListener): GuardedServer {
  const { limits } = options
  const logger = rateLimited(options.logger)
  const guard = options.guard ?? new ConnectionGuard(limits, logger)
  const server = createServer(
    {
      keepAlive: true,
      noDelay: options.noDelay ?? true,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    (req, res) => {
      const socket = req.socket
      guard.receiving(socket)
      if (req.complete) guard.working(socket)
      else req.once('end', () => guard.working(socket))
      res.once('finish', () => guard.waiting(socket))
      // Node's parser takes `GET /` followed by a blank line as an HTTP/0.9 request; only
      // HTTP/1.x is served.
      if (req.httpVersionMajor !== 1) {
        logger.debug('malformed request', { code: 'HTTP_VERSION' })
        req.resume()
        res.shouldKeepAlive = false
        res.writeHead(400, { 'Content-Length': 0, Connection: 'close' })
        res.end()
        return
      }
      handler(req, res)
    },
  )
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  // A connection silent for this long in either direction is dead or abusive: a client that
  // stops reading its answer would otherwise hold a `working` connection for ever.
  server.timeout = limits.requestTimeoutMs

  server.on('connection', (socket: Socket) => {
    guard.admit(socket)
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, logger))
  if (options.guard === undefined) server.on('close', () => guard.close())
  return Object.assign(server, { guard })
}

/**
 * Malformed HTTP (a bare LF, an HTTP/0.9 request line, a TLS ClientHello, an oversized
 * header block) gets a bare status and a closed connection, as Node's default would, but
 * logged at debug and rate-limited: it is the client's fault, not Trent's.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, logger: Logger): void {
  const answerStarted = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  logger.debug('malformed request', { code: err.code ?? 'unknown' })
  if (err.code === 'ECONNRESET' || !socket.writable || answerStarted) {
    socket.destroy()
    return
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  endWithStatus(socket, status)
}
