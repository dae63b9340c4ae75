/**
 * The web console's server side, served by the partition's gateway under `/console/`
 * (docs/console.md). It serves the static page (src/console/static/: plain HTML, CSS and
 * JavaScript, no framework, nothing fetched from elsewhere) and a small JSON API the page
 * calls; that API makes each KMS call as the signed-in user, signed with the user's own
 * access key (kms-caller.ts), through the partition's KMS endpoint. The console never
 * reaches a region's HSM or store: what it shows is what the KMS API answers that user.
 *
 * The user's secret access key stays in this process's memory, in the session
 * (sessions.ts); the browser holds only an HttpOnly, SameSite=Strict session cookie.
 * Every API call is a POST that must carry the session's CSRF token in a header, come
 * from the console's own origin (Origin header) and be JSON; the page is served with a
 * strict Content-Security-Policy (scripts and styles from the console's own files only,
 * no inline script or style, no framing).
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import { rateLimited, type Logger } from '../log/logger.js'
import { errorName, KmsCaller } from './kms-caller.js'
import { DEFAULT_SESSION_LIMITS, sameToken, SessionStore, type Session, type SessionLimits } from './sessions.js'

export const CONSOLE_PATH = '/console'
const COOKIE_NAME = 'trent_console'
const CSRF_HEADER = 'x-trent-csrf'
const MAX_API_BODY_BYTES = 64 * 1024

/** Every console response: no script, style or connection but the console's own; never framed, cached or referred. */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
}

/** The static files, by the name the page asks for, and their types. */
const STATIC_FILES: Record<string, string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
}

/**
 * The KMS operations the console makes, and nothing else: a session can only read keys
 * and run the key-management actions the page offers (it cannot Decrypt, say), whatever
 * the user's policies would allow through an SDK.
 */
export const CONSOLE_OPERATIONS: ReadonlySet<string> = new Set([
  'TrentService.ListKeys',
  'TrentService.ListAliases',
  'TrentService.DescribeKey',
  'TrentService.GetKeyPolicy',
  'TrentService.ListGrants',
  'TrentService.ListResourceTags',
  'TrentService.ListKeyRotations',
  'TrentService.GetKeyRotationStatus',
  'TrentService.CreateKey',
  'TrentService.ReplicateKey',
  'TrentService.UpdatePrimaryRegion',
  'TrentService.EnableKey',
  'TrentService.DisableKey',
  'TrentService.ScheduleKeyDeletion',
  'TrentService.CancelKeyDeletion',
  'TrentAdmin.DescribeReplication',
])

/** What a failed sign-in says, whichever part of the credentials was wrong. */
const BAD_CREDENTIALS = 'The access key ID or secret access key is not valid.'
/** The region's answers that mean "these are not valid credentials". */
const CREDENTIAL_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'InvalidClientTokenId',
])

export interface ConsoleOptions {
  /** The partition's regions, in their configured order. */
  regions: () => readonly string[]
  /** The partition's KMS endpoint (the gateway), once it listens. */
  kmsEndpoint: () => URL | undefined
  logger: Logger
  sessionLimits?: SessionLimits
}

export interface WebConsole {
  /** Whether `url` is the console's (the gateway gives it those requests). */
  serves(url: string | undefined): boolean
  /** Serves a request whose path is `/console` or under `/console/`. */
  handle(req: IncomingMessage, res: ServerResponse): void
  close(): void
}

/** Whether the gateway should give this request to the console. */
export function isConsolePath(url: string | undefined): boolean {
  if (url === undefined) return false
  return url === CONSOLE_PATH || url.startsWith(`${CONSOLE_PATH}/`) || url.startsWith(`${CONSOLE_PATH}?`)
}

/** The folder of the page's files: next to this module in the source tree, or there from dist/. */
function staticFolder(): string {
  const candidates = [new URL('./static/', import.meta.url), new URL('../../../src/console/static/', import.meta.url)]
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate)
    if (existsSync(path)) return path
  }
  throw new Error("the console's static files (src/console/static/) are missing")
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message)
  }
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const equals = part.indexOf('=')
    if (equals > 0 && part.slice(0, equals).trim() === name) return part.slice(equals + 1).trim()
  }
  return undefined
}

function sessionCookie(session: Session): string {
  return `${COOKIE_NAME}=${session.id}; Path=${CONSOLE_PATH}/; HttpOnly; SameSite=Strict`
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  payload: string | Buffer,
  extra: Record<string, string> = {},
): void {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  res.writeHead(status, { ...SECURITY_HEADERS, ...extra, 'Content-Type': contentType, 'Content-Length': bytes.length })
  res.end(bytes)
}

function sendApi(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  send(res, status, 'application/json', JSON.stringify(body), extra)
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_API_BODY_BYTES) {
        req.removeAllListeners('data')
        req.resume()
        reject(new ApiError(413, 'RequestTooLarge', 'The request is too large.'))
      } else chunks.push(chunk)
    })
    req.on('error', reject)
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
}

function stringMember(input: Record<string, unknown>, name: string, pattern: RegExp): string {
  const value = input[name]
  if (typeof value !== 'string' || !pattern.test(value)) throw new ApiError(400, 'ValidationException', `${name} is missing or malformed.`)
  return value
}

export function createConsole(options: ConsoleOptions): WebConsole {
  const { logger } = options
  // What anyone who can reach the gateway can make the console log.
  const clientLogger = rateLimited(logger)
  const sessions = new SessionStore(options.sessionLimits ?? DEFAULT_SESSION_LIMITS)
  const kms = new KmsCaller(options.kmsEndpoint)
  const folder = staticFolder()
  const indexTemplate = readFileSync(`${folder}index.html`, 'utf8')
  const assets = new Map(Object.entries(STATIC_FILES).map(([name, type]) => [name, { type, bytes: readFileSync(`${folder}${name}`) }]))

  function servePage(req: IncomingMessage, res: ServerResponse): void {
    let session = sessions.get(cookieValue(req, COOKIE_NAME))
    const headers: Record<string, string> = {}
    if (session === undefined) {
      session = sessions.createAnonymous()
      headers['Set-Cookie'] = sessionCookie(session)
    }
    // The token goes into the page itself (a meta element its script reads): another
    // origin can neither read the page nor the cookie, so it cannot learn the token.
    send(res, 200, 'text/html; charset=utf-8', indexTemplate.replace('__CSRF_TOKEN__', session.csrfToken), headers)
  }

  /**
   * The checks every API call passes before anything else: a same-origin browser request
   * (Origin, and Sec-Fetch-Site where the browser sends it), with a JSON body, in a live
   * session, carrying that session's CSRF token. Each is enough against a cross-site form
   * or fetch on its own; together they also hold where one of them is missing (an old
   * browser without SameSite, a proxy that drops a header).
   */
  function checkRequest(req: IncomingMessage): Session {
    const host = req.headers.host
    const origin = req.headers.origin
    // https too: the console may be reached through a TLS-terminating proxy that keeps the Host.
    if (host === undefined || origin === undefined || (origin !== `http://${host}` && origin !== `https://${host}`)) {
      throw new ApiError(403, 'CrossOriginRequestRefused', "The request does not come from the console's own origin.")
    }
    const site = req.headers['sec-fetch-site']
    if (site !== undefined && site !== 'same-origin') {
      throw new ApiError(403, 'CrossOriginRequestRefused', "The request does not come from the console's own origin.")
    }
    const type = req.headers['content-type'] ?? ''
    if (!/^application\/json\s*(;|$)/i.test(type))
      throw new ApiError(415, 'UnsupportedMediaType', 'The console API takes application/json.')
    const session = sessions.get(cookieValue(req, COOKIE_NAME))
    if (session === undefined) throw new ApiError(401, 'SessionExpired', 'The console session has ended; reload the page.')
    const token = req.headers[CSRF_HEADER]
    if (typeof token !== 'string' || !sameToken(session.csrfToken, token)) {
      throw new ApiError(403, 'InvalidCsrfToken', "The request does not carry the session's CSRF token.")
    }
    return session
  }

  async function signIn(session: Session, input: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const accessKeyId = stringMember(input, 'accessKeyId', /^[A-Za-z0-9]{16,128}$/)
    const secretAccessKey = stringMember(input, 'secretAccessKey', /^[\x21-\x7e]{1,128}$/)
    const region = options.regions()[0]
    if (region === undefined) throw new ApiError(503, 'ServiceUnavailable', 'The partition has no region.')
    // Any signed call proves the credentials; ListKeys answers AccessDeniedException to a
    // user not allowed to list keys, after the signature has been verified, which is
    // enough here.
    const answer = await kms.call({ accessKeyId, secretAccessKey }, region, 'TrentService.ListKeys', { Limit: 1 })
    const error = errorName(answer)
    if (error !== undefined && CREDENTIAL_ERRORS.has(error)) {
      clientLogger.info('console sign-in refused', { accessKeyId })
      throw new ApiError(401, 'InvalidCredentials', BAD_CREDENTIALS)
    }
    if (error !== undefined && error !== 'AccessDeniedException') {
      throw new ApiError(
        answer.status >= 500 ? 503 : 400,
        error,
        typeof answer.body.message === 'string' ? answer.body.message : 'The sign-in could not be checked.',
      )
    }
    const signedIn = sessions.signIn(session, { accessKeyId, secretAccessKey })
    logger.info('console sign-in', { accessKeyId })
    sendApi(res, 200, { csrfToken: signedIn.csrfToken, accessKeyId, regions: options.regions() }, { 'Set-Cookie': sessionCookie(signedIn) })
  }

  async function callKms(session: Session, input: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const credentials = session.credentials
    if (credentials === undefined) throw new ApiError(401, 'SessionExpired', 'Sign in first.')
    const region = stringMember(input, 'region', /^[a-z0-9-]{1,32}$/)
    if (!options.regions().includes(region)) throw new ApiError(400, 'ValidationException', `${region} is not a region of this partition.`)
    const target = stringMember(input, 'target', /^[A-Za-z]+\.[A-Za-z]+$/)
    if (!CONSOLE_OPERATIONS.has(target)) throw new ApiError(400, 'ValidationException', `The console does not call ${target}.`)
    const operationInput = input.input ?? {}
    if (typeof operationInput !== 'object' || operationInput === null || Array.isArray(operationInput)) {
      throw new ApiError(400, 'ValidationException', 'input must be an object.')
    }
    const answer = await kms.call(credentials, region, target, operationInput)
    sendApi(res, answer.status, answer.body)
  }

  async function api(req: IncomingMessage, res: ServerResponse, action: string): Promise<void> {
    if (req.method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', 'The console API takes POST requests only.')
    const session = checkRequest(req)
    const text = await readBody(req)
    let parsed: unknown
    try {
      parsed = text === '' ? {} : JSON.parse(text)
    } catch {
      throw new ApiError(400, 'ValidationException', 'The request is not JSON.')
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new ApiError(400, 'ValidationException', 'The request must be a JSON object.')
    const input = parsed as Record<string, unknown>
    switch (action) {
      case 'session':
        sendApi(
          res,
          200,
          session.credentials === undefined
            ? { signedIn: false, regions: options.regions() }
            : { signedIn: true, accessKeyId: session.credentials.accessKeyId, regions: options.regions() },
        )
        return
      case 'sign-in':
        await signIn(session, input, res)
        return
      case 'sign-out':
        sessions.end(session)
        if (session.credentials !== undefined) logger.info('console sign-out', { accessKeyId: session.credentials.accessKeyId })
        sendApi(res, 200, {}, { 'Set-Cookie': `${COOKIE_NAME}=; Path=${CONSOLE_PATH}/; HttpOnly; SameSite=Strict; Max-Age=0` })
        return
      case 'kms':
        await callKms(session, input, res)
        return
      default:
        throw new ApiError(404, 'NotFound', 'No such console API.')
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (path === CONSOLE_PATH) {
      res.writeHead(301, { ...SECURITY_HEADERS, Location: `${CONSOLE_PATH}/`, 'Content-Length': 0 })
      res.end()
      return
    }
    const rest = path.slice(CONSOLE_PATH.length + 1)
    if (rest.startsWith('api/')) {
      api(req, res, rest.slice('api/'.length)).catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy()
          return
        }
        if (err instanceof ApiError) {
          if (err.status === 403) clientLogger.info('console request refused', { reason: err.type, origin: req.headers.origin ?? null })
          // A refused request may still be sending its body: read it to the end, so the connection stays usable.
          req.resume()
          sendApi(res, err.status, { __type: err.type, message: err.message })
          return
        }
        logger.error('console request failed', { action: rest, error: err instanceof Error ? err.message : 'non-error thrown' })
        sendApi(res, 502, { __type: 'KMSInternalException', message: 'The region could not be reached. Retry the request.' })
      })
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      req.resume()
      send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n')
      return
    }
    if (rest === '' || rest === 'index.html') {
      servePage(req, res)
      return
    }
    const asset = rest.startsWith('static/') ? assets.get(rest.slice('static/'.length)) : undefined
    if (asset === undefined) {
      send(res, 404, 'text/plain; charset=utf-8', 'Not Found\n')
      return
    }
    send(res, 200, asset.type, asset.bytes)
  }

  return {
    serves: isConsolePath,
    handle,
    close: () => kms.close(),
  }
}
