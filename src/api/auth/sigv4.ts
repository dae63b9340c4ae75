/**
 * Server-side verification of AWS Signature Version 4 (AWS4-HMAC-SHA256).
 *
 * Both the `Authorization` header form and the presigned query-string form are accepted.
 * Canonicalisation follows the AWS documentation for non-S3 services: the path as
 * received is normalised and URI-encoded once more (so `%20` on the wire becomes `%2520`
 * in the canonical URI, as every SDK signs it), query parameters are decoded and
 * re-encoded with RFC 3986 rules and sorted, header values are trimmed with runs of
 * whitespace collapsed, and repeated headers are joined with ','.
 *
 * The checks run in the order the AWS JSON front end applies them, so a request with
 * several faults gets the same error AWS would give it: presence of the parts, date
 * format, clock skew, `host` signed, algorithm, credential shape, credential scope,
 * access key, and only then the signature itself. Every failure is a {@link KmsError}
 * with AWS's wording; no message ever carries the secret, the canonical request or the
 * signature we computed.
 *
 * Pure: no I/O, no clock (the caller passes `now`), no state.
 *
 * @module
 */

import { createHmac, hash } from 'node:crypto'
import { KmsError } from '../../wire/errors.js'

export interface SignedRequest {
  method: string
  /** The raw request target as received, path plus optional query string, e.g. "/" or "/?a=b" */
  url: string
  /**
   * Node's IncomingHttpHeaders shape: lower-case names, string | string[] | undefined values.
   * Pass `req.headersDistinct` (or any shape that keeps repeated headers as arrays) when
   * exactness for repeated headers matters: Node's `req.headers` has already joined them
   * with ", ", and SigV4 joins them with ",".
   */
  headers: Readonly<Record<string, string | string[] | undefined>>
  body: Uint8Array
}

export interface VerifiedCaller {
  accessKeyId: string
  region: string
  service: string
  /** The request time that was signed, in ISO-8601 basic format, e.g. "20150830T123600Z". */
  signingDate: string
}

export interface VerifyOptions {
  /**
   * Returns the secret access key for an access key id and the session token the request
   * carries (`X-Amz-Security-Token`), or undefined if the pair is unknown: a token must
   * belong to the key, and a long-term key has none (AWS: UnrecognizedClientException).
   */
  lookupSecret: (accessKeyId: string, sessionToken: string | undefined) => string | undefined
  now: Date
  /** Expected service in the credential scope: 'kms'. */
  service: string
  /** Allowed clock skew in ms, default 5 minutes. */
  maxSkewMs?: number
  /**
   * Headers that must be among the signed ones, besides `host` and the request's date
   * (always required): for KMS, `x-amz-target`, which names the operation. Lower case.
   */
  requiredSignedHeaders?: readonly string[]
  /**
   * Development mode (`--accept-any-credentials`): everything above is checked as usual
   * (the Authorization header or query parameters, the algorithm, the credential scope,
   * the date and its freshness, the signed headers, the canonical request) and the
   * signature must be 64 lower-case hex digits, but no secret is looked up and the
   * signature is not compared: any access key id and any secret pass.
   */
  acceptAnySecret?: boolean
}

const ALGORITHM = 'AWS4-HMAC-SHA256'
/** HMAC-SHA256 in lower-case hex. */
const SIGNATURE_SHAPE = /^[0-9a-f]{64}$/
const SCOPE_TERMINATOR = 'aws4_request'
const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000
/** SigV4 signing keys are valid for seven days, so no presigned request may claim longer. */
const MAX_PRESIGNED_EXPIRES_SECONDS = 7 * 24 * 60 * 60
const SIGNATURE_HEX_LENGTH = 64

const PRESIGNED_PARAMS = {
  algorithm: 'X-Amz-Algorithm',
  credential: 'X-Amz-Credential',
  signature: 'X-Amz-Signature',
  signedHeaders: 'X-Amz-SignedHeaders',
  date: 'X-Amz-Date',
  expires: 'X-Amz-Expires',
} as const

// ---------------------------------------------------------------------------------------
// Errors. The texts are those of AWS's JSON front end (see the test file for sources).
// ---------------------------------------------------------------------------------------

function missingAuthenticationToken(): KmsError {
  return new KmsError('MissingAuthenticationTokenException', 'Request is missing Authentication Token')
}

function incompleteSignature(message: string): KmsError {
  return new KmsError('IncompleteSignatureException', message)
}

function invalidSignature(message: string): KmsError {
  return new KmsError('InvalidSignatureException', message)
}

function signatureMismatch(): KmsError {
  return invalidSignature(
    'The request signature we calculated does not match the signature you provided. ' +
      'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  )
}

function unrecognizedClient(): KmsError {
  return new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.')
}

function dateNotBasicFormat(rawDate: string): KmsError {
  return incompleteSignature(`Date must be in ISO-8601 'basic format'. Got '${rawDate}'. See http://en.wikipedia.org/wiki/ISO_8601`)
}

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

/** Throws KmsError on every failure; returns the verified caller otherwise. */
export function verifySigV4(req: SignedRequest, options: VerifyOptions): VerifiedCaller {
  const target = splitRequestTarget(req.url)
  const query = parseQuery(target.rawQuery)
  const claim = readSignatureClaim(req.headers, query)

  const { nowMs, maxSkewMs } = clockFrom(options)
  const requestTime = parseRequestTime(claim.date)
  checkFreshness(requestTime.epochMs, nowMs, maxSkewMs, claim.expiresSeconds)

  const signedHeaderNames = claim.signedHeaders.split(';').map((name) => name.toLowerCase())
  if (!signedHeaderNames.includes('host')) {
    throw invalidSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
  }
  checkBindingHeadersSigned(signedHeaderNames, claim, options.requiredSignedHeaders ?? [])
  if (claim.algorithm !== ALGORITHM) {
    throw incompleteSignature(`Unsupported AWS 'algorithm': '${claim.algorithm}' (only ${ALGORITHM} for now). `)
  }

  const scope = parseCredential(claim.credential)
  checkScope(scope, options.service, requestTime.basic)

  const secret = options.acceptAnySecret === true ? undefined : options.lookupSecret(scope.accessKeyId, sessionToken(req.headers, query))
  if (secret === undefined && options.acceptAnySecret !== true) throw unrecognizedClient()

  const canonicalRequest = buildCanonicalRequest({
    form: claim.form,
    method: req.method,
    rawPath: target.rawPath,
    query,
    headers: req.headers,
    signedHeaderNames,
    // Always the hash of the body received: a declared `x-amz-content-sha256`, even
    // UNSIGNED-PAYLOAD, would leave the body out of what the signature covers.
    payloadHash: sha256Hex(req.body),
  })
  if (secret === undefined) {
    // No secret to compute with: the signature is held to the shape every SigV4 signature has.
    if (!SIGNATURE_SHAPE.test(claim.signature)) throw signatureMismatch()
  } else {
    const expectedSignature = computeSignature(secret, scope, requestTime.basic, canonicalRequest)
    if (!signaturesEqual(claim.signature, expectedSignature)) throw signatureMismatch()
  }

  return {
    accessKeyId: scope.accessKeyId,
    region: scope.region,
    service: scope.service,
    signingDate: requestTime.basic,
  }
}

/** Reads the credential scope WITHOUT verifying anything (for the gateway's routing only). Returns undefined if absent/unparseable. */
export function readCredentialScopeUnverified(
  req: Pick<SignedRequest, 'url' | 'headers'>,
): { accessKeyId: string; date: string; region: string; service: string } | undefined {
  const query = parseQuery(splitRequestTarget(req.url).rawQuery)
  const fromQuery = queryParam(query, PRESIGNED_PARAMS.credential)
  const credential = fromQuery ?? credentialFromAuthorizationHeader(firstHeaderValue(req.headers, 'authorization'))
  if (credential === undefined) return undefined
  const parts = splitCredential(credential)
  if (parts === undefined) return undefined
  const { accessKeyId, date, region, service } = parts
  return { accessKeyId, date, region, service }
}

// ---------------------------------------------------------------------------------------
// Reading what the request claims: which form, which credential, which date.
// ---------------------------------------------------------------------------------------

/** The signature parameters a request carries, whichever form it uses. */
interface SignatureClaim {
  form: 'header' | 'query'
  algorithm: string
  credential: string
  signedHeaders: string
  signature: string
  date: RawRequestDate
  /** Presigned only: the validity the signer asked for, in seconds. */
  expiresSeconds: number | undefined
}

/** The request time as sent, and whether the HTTP-date form is allowed for it. */
interface RawRequestDate {
  value: string
  /** Only a `Date` header may use the RFC 7231 IMF-fixdate form; X-Amz-Date must be ISO-8601 basic. */
  httpDateAllowed: boolean
  /** The header it came from, which must then be signed; undefined in the query form, where it is signed anyway. */
  header: 'x-amz-date' | 'date' | undefined
}

function readSignatureClaim(headers: SignedRequest['headers'], query: readonly QueryParam[]): SignatureClaim {
  const authorization = firstHeaderValue(headers, 'authorization')
  const presigned = query.some((param) => param.name === PRESIGNED_PARAMS.algorithm)

  if (headerCount(headers, 'authorization') > 1) {
    // Which one would count is a guess either way; a request that sends two is refused.
    throw incompleteSignature('The request must carry exactly one Authorization header.')
  }
  if (authorization !== undefined && presigned) {
    throw invalidSignature("Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
  }
  if (presigned) return readPresignedClaim(query)
  // Anything that is not an AWS4 scheme is, to AWS, no authentication at all.
  if (authorization === undefined || !authorization.trim().startsWith('AWS4-')) {
    throw missingAuthenticationToken()
  }
  return readAuthorizationHeaderClaim(authorization, headers)
}

function readAuthorizationHeaderClaim(authorization: string, headers: SignedRequest['headers']): SignatureClaim {
  const { algorithm, parameters } = parseAuthorizationHeader(authorization)
  const date = requestDateFromHeaders(headers)

  let problems = ''
  for (const required of ['Credential', 'Signature', 'SignedHeaders'] as const) {
    if (!parameters.get(required)) problems += `Authorization header requires '${required}' parameter. `
  }
  if (date === undefined) {
    problems += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
  }
  if (problems !== '' || date === undefined) throw incompleteSignature(`${problems}Authorization=${authorization}`)

  return {
    form: 'header',
    algorithm,
    credential: parameters.get('Credential') ?? '',
    signedHeaders: parameters.get('SignedHeaders') ?? '',
    signature: parameters.get('Signature') ?? '',
    date,
    expiresSeconds: undefined,
  }
}

/**
 * Splits `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` the way AWS
 * does: the scheme, then tokens separated by commas and/or whitespace, each of which must
 * be key=value (AWS reports the first one that is not).
 */
function parseAuthorizationHeader(authorization: string): { algorithm: string; parameters: Map<string, string> } {
  const [algorithm = '', ...tokens] = authorization
    .trim()
    .split(/[\s,]+/)
    .filter((token) => token !== '')
  const parameters = new Map<string, string>()
  for (const token of tokens) {
    const equals = token.indexOf('=')
    if (equals < 0) {
      throw incompleteSignature(`'${token}' not a valid key=value pair (missing equal-sign) in Authorization header: '${authorization}'.`)
    }
    const name = token.slice(0, equals)
    // Which of two would count is a guess, as for two Authorization headers: refused.
    if (parameters.has(name)) throw incompleteSignature(`Authorization header has the parameter '${name}' more than once.`)
    parameters.set(name, token.slice(equals + 1))
  }
  return { algorithm, parameters }
}

function credentialFromAuthorizationHeader(authorization: string | undefined): string | undefined {
  if (authorization === undefined || !authorization.trim().startsWith('AWS4-')) return undefined
  try {
    return parseAuthorizationHeader(authorization).parameters.get('Credential') || undefined
  } catch {
    return undefined
  }
}

/** AWS looks for X-Amz-Date first and falls back to Date. */
function requestDateFromHeaders(headers: SignedRequest['headers']): RawRequestDate | undefined {
  const amzDate = firstHeaderValue(headers, 'x-amz-date')
  if (amzDate) return { value: amzDate, httpDateAllowed: false, header: 'x-amz-date' }
  const httpDate = firstHeaderValue(headers, 'date')
  if (httpDate) return { value: httpDate, httpDateAllowed: true, header: 'date' }
  return undefined
}

function readPresignedClaim(query: readonly QueryParam[]): SignatureClaim {
  const required = [
    PRESIGNED_PARAMS.algorithm,
    PRESIGNED_PARAMS.credential,
    PRESIGNED_PARAMS.signature,
    PRESIGNED_PARAMS.signedHeaders,
    PRESIGNED_PARAMS.date,
  ]
  const missing = required.filter((name) => !queryParam(query, name))
  if (missing.length > 0) {
    const problems = missing.map((name) => `AWS query-string parameters must include '${name}'. `).join('')
    throw incompleteSignature(`${problems}Re-examine the query-string parameters.`)
  }
  return {
    form: 'query',
    algorithm: queryParam(query, PRESIGNED_PARAMS.algorithm) ?? '',
    credential: queryParam(query, PRESIGNED_PARAMS.credential) ?? '',
    signedHeaders: queryParam(query, PRESIGNED_PARAMS.signedHeaders) ?? '',
    signature: queryParam(query, PRESIGNED_PARAMS.signature) ?? '',
    date: { value: queryParam(query, PRESIGNED_PARAMS.date) ?? '', httpDateAllowed: false, header: undefined },
    expiresSeconds: parseExpires(queryParam(query, PRESIGNED_PARAMS.expires)),
  }
}

function parseExpires(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  if (!/^\d+$/.test(raw)) throw incompleteSignature('X-Amz-Expires should be a number')
  const seconds = Number(raw)
  if (seconds > MAX_PRESIGNED_EXPIRES_SECONDS) {
    throw incompleteSignature(
      'X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds',
    )
  }
  return seconds
}

/** How AWS spells a header name in its "must be a 'SignedHeader'" messages. */
const HEADER_SPELLINGS: Readonly<Record<string, string>> = { 'x-amz-date': 'X-Amz-Date', date: 'Date', 'x-amz-target': 'X-Amz-Target' }

/**
 * The headers that bind a signature to what the request does must be signed: the date
 * (else a captured signature could be replayed with a fresh one) and the caller's
 * required ones (for KMS the target, else a signed DescribeKey could be replayed as
 * DisableKey). The wording follows AWS's message for an unsigned Host.
 */
function checkBindingHeadersSigned(signed: readonly string[], claim: SignatureClaim, required: readonly string[]): void {
  const names = claim.date.header === undefined ? required : [claim.date.header, ...required]
  for (const name of names) {
    if (!signed.includes(name)) {
      throw invalidSignature(`'${HEADER_SPELLINGS[name] ?? name}' must be a 'SignedHeader' in the AWS Authorization.`)
    }
  }
}

function sessionToken(headers: SignedRequest['headers'], query: readonly QueryParam[]): string | undefined {
  return firstHeaderValue(headers, 'x-amz-security-token') ?? queryParam(query, 'X-Amz-Security-Token')
}

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

/**
 * An invalid clock or skew would make every time comparison false and so switch the
 * freshness check off; that is a caller bug, and it must fail closed, not open.
 */
function clockFrom(options: VerifyOptions): { nowMs: number; maxSkewMs: number } {
  const nowMs = options.now.getTime()
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
  if (!Number.isFinite(nowMs)) throw new RangeError('verifySigV4: options.now is not a valid date')
  if (!Number.isFinite(maxSkewMs) || maxSkewMs < 0) throw new RangeError('verifySigV4: options.maxSkewMs must be a non-negative number')
  return { nowMs, maxSkewMs }
}

interface RequestTime {
  epochMs: number
  /** ISO-8601 basic format, the form that goes into the string to sign. */
  basic: string
}

const ISO_BASIC = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

function parseRequestTime(date: RawRequestDate): RequestTime {
  const basicEpochMs = parseIsoBasic(date.value)
  // A basic-format date is its own canonical form; only an HTTP Date needs reformatting.
  if (basicEpochMs !== undefined) return { epochMs: basicEpochMs, basic: date.value }
  const epochMs = date.httpDateAllowed ? parseImfFixdate(date.value) : undefined
  if (epochMs === undefined) throw dateNotBasicFormat(date.value)
  return { epochMs, basic: formatIsoBasic(epochMs) }
}

/**
 * The last basic-format date parsed: requests of the same second carry the same one, and
 * parsing and range-checking it is a measurable share of a verification.
 */
let lastIsoBasic: { value: string; epochMs: number } | undefined

function parseIsoBasic(value: string): number | undefined {
  if (lastIsoBasic?.value === value) return lastIsoBasic.epochMs
  const match = ISO_BASIC.exec(value)
  if (!match) return undefined
  const [, year, month, day, hour, minute, second] = match
  const epochMs = utcEpochMs(Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second))
  if (epochMs !== undefined) lastIsoBasic = { value, epochMs }
  return epochMs
}

function parseImfFixdate(value: string): number | undefined {
  const match = IMF_FIXDATE.exec(value)
  if (!match) return undefined
  const [, day, monthName, year, hour, minute, second] = match
  const month = MONTHS.indexOf(monthName ?? '') + 1
  return utcEpochMs(Number(year), month, Number(day), Number(hour), Number(minute), Number(second))
}

/** Rejects out-of-range fields (month 13, 30 February, 24:00:00) instead of rolling them over. */
function utcEpochMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number | undefined {
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second)
  const roundTrip = new Date(epochMs)
  const sameFields =
    roundTrip.getUTCFullYear() === year &&
    roundTrip.getUTCMonth() === month - 1 &&
    roundTrip.getUTCDate() === day &&
    roundTrip.getUTCHours() === hour &&
    roundTrip.getUTCMinutes() === minute &&
    roundTrip.getUTCSeconds() === second
  return sameFields ? epochMs : undefined
}

function formatIsoBasic(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '')
}

/**
 * A request may be at most `maxSkewMs` old or in the future. A presigned request may ask
 * for a shorter life with X-Amz-Expires, never a longer one: like AWS's non-S3 services,
 * we do not let a URL outlive the clock-skew window.
 */
function checkFreshness(requestMs: number, nowMs: number, maxSkewMs: number, expiresSeconds: number | undefined): void {
  const pastWindowMs = expiresSeconds === undefined ? maxSkewMs : Math.min(expiresSeconds * 1000, maxSkewMs)
  // The messages are built only when they are needed: formatting dates is a measurable
  // share of a verification, and almost every request is fresh.
  if (requestMs < nowMs - pastWindowMs) {
    throw invalidSignature(
      `Signature expired: ${formatIsoBasic(requestMs)} is now earlier than ${formatIsoBasic(nowMs - pastWindowMs)} (${formatIsoBasic(nowMs)} - ${describeWindow(pastWindowMs)})`,
    )
  }
  if (requestMs > nowMs + maxSkewMs) {
    throw invalidSignature(
      `Signature not yet current: ${formatIsoBasic(requestMs)} is still later than ${formatIsoBasic(nowMs + maxSkewMs)} (${formatIsoBasic(nowMs)} + ${describeWindow(maxSkewMs)})`,
    )
  }
}

function describeWindow(windowMs: number): string {
  return windowMs % 60_000 === 0 ? `${windowMs / 60_000} min.` : `${windowMs / 1000} sec.`
}

// ---------------------------------------------------------------------------------------
// Credential scope
// ---------------------------------------------------------------------------------------

interface CredentialScope {
  accessKeyId: string
  date: string
  region: string
  service: string
  terminator: string
}

/** AWS ignores trailing slashes, then wants exactly keyid/date/region/service/term. */
function splitCredential(credential: string): CredentialScope | undefined {
  const parts = (credential.endsWith('/') ? credential.replace(/\/+$/, '') : credential).split('/')
  if (parts.length !== 5) return undefined
  const [accessKeyId = '', date = '', region = '', service = '', terminator = ''] = parts
  return { accessKeyId, date, region, service, terminator }
}

function parseCredential(credential: string): CredentialScope {
  const scope = splitCredential(credential)
  if (scope === undefined) {
    throw incompleteSignature(
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'`,
    )
  }
  return scope
}

/**
 * AWS reports every scope fault at once, in this order. Which regions exist is the
 * gateway's business, not the verifier's, so only an empty region is refused here.
 */
function checkScope(scope: CredentialScope, expectedService: string, requestTimeBasic: string): void {
  const requestDay = requestTimeBasic.slice(0, 8)
  let problems = ''
  if (scope.region === '') problems += `Credential should be scoped to a valid region, not '${scope.region}'. `
  if (scope.service !== expectedService) problems += `Credential should be scoped to correct service: '${expectedService}'. `
  if (scope.terminator !== SCOPE_TERMINATOR) {
    problems += `Credential should be scoped with a valid terminator: '${SCOPE_TERMINATOR}', not '${scope.terminator}'. `
  }
  if (scope.date !== requestDay) {
    problems +=
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ` +
      `'${scope.date}' != '${requestDay}', from '${requestTimeBasic}'.`
  }
  if (problems !== '') throw invalidSignature(problems)
}

// ---------------------------------------------------------------------------------------
// Canonical request
// ---------------------------------------------------------------------------------------

interface CanonicalRequestParts {
  /** Only the presigned form leaves its own signature out of the canonical query. */
  form: SignatureClaim['form']
  method: string
  rawPath: string
  query: readonly QueryParam[]
  headers: SignedRequest['headers']
  signedHeaderNames: readonly string[]
  payloadHash: string
}

function buildCanonicalRequest(parts: CanonicalRequestParts): string {
  const canonicalHeaders = parts.signedHeaderNames
    .map((name) => `${name}:${canonicalHeaderValue(headerValues(parts.headers, name))}\n`)
    .join('')
  return [
    parts.method,
    canonicalUri(parts.rawPath),
    canonicalQueryString(parts.query, parts.form),
    canonicalHeaders,
    parts.signedHeaderNames.join(';'),
    parts.payloadHash,
  ].join('\n')
}

/** Trim, collapse runs of whitespace, and join repeated headers with ','. A signed header that is absent counts as empty. */
function canonicalHeaderValue(values: readonly string[]): string {
  if (values.length === 1) return canonicalHeaderPart(values[0] ?? '')
  return values.map(canonicalHeaderPart).join(',')
}

function canonicalHeaderPart(value: string): string {
  // Almost every value is already canonical (Node trims what it parses): left as it is.
  const canonical = !value.includes('\t') && !value.includes('  ') && value.trim().length === value.length
  return canonical ? value : value.replace(/[ \t]+/g, ' ').trim()
}

/**
 * Non-S3 services sign a normalised path ('.' and '..' resolved, empty segments dropped)
 * and encode it once more on top of the encoding it already carries on the wire.
 */
function canonicalUri(rawPath: string): string {
  if (rawPath === '/') return '/' // every KMS request
  const segments: string[] = []
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') segments.pop()
    else segments.push(segment)
  }
  const trailingSlash = segments.length > 0 && rawPath.endsWith('/') ? '/' : ''
  return `/${segments.map((segment) => uriEncode(Buffer.from(segment, 'utf8'))).join('/')}${trailingSlash}`
}

/**
 * Every parameter, decoded and re-encoded, sorted by name then value; the presigned form
 * leaves out its own signature. A request signed in its Authorization header keeps an
 * `X-Amz-Signature` parameter in what it signs: it is not its signature, and must not be
 * addable afterwards.
 */
function canonicalQueryString(query: readonly QueryParam[], form: SignatureClaim['form']): string {
  return query
    .filter((param) => form === 'header' || param.name !== PRESIGNED_PARAMS.signature)
    .map((param) => ({ name: uriEncode(param.nameBytes), value: uriEncode(param.valueBytes) }))
    .sort((a, b) => compareCodeUnits(a.name, b.name) || compareCodeUnits(a.value, b.value))
    .map((param) => `${param.name}=${param.value}`)
    .join('&')
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** RFC 3986 encoding as SigV4 defines it: only A-Z a-z 0-9 - _ . ~ stay literal. */
function uriEncode(bytes: Uint8Array): string {
  let encoded = ''
  for (const byte of bytes) {
    encoded += isUnreserved(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return encoded
}

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x5f || // _
    byte === 0x2e || // .
    byte === 0x7e // ~
  )
}

// ---------------------------------------------------------------------------------------
// Request target and query string
// ---------------------------------------------------------------------------------------

interface RequestTarget {
  rawPath: string
  rawQuery: string
}

/** Accepts origin-form ("/a?b") and, defensively, absolute-form ("http://host/a?b") targets. */
function splitRequestTarget(url: string): RequestTarget {
  if (url === '/') return { rawPath: '/', rawQuery: '' } // every KMS request
  const withoutFragment = url.split('#', 1)[0] ?? ''
  const originForm = withoutFragment.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/, '')
  const questionMark = originForm.indexOf('?')
  const rawPath = questionMark < 0 ? originForm : originForm.slice(0, questionMark)
  const rawQuery = questionMark < 0 ? '' : originForm.slice(questionMark + 1)
  return { rawPath: rawPath === '' ? '/' : rawPath, rawQuery }
}

interface QueryParam {
  /** Decoded, for lookups. */
  name: string
  value: string
  /** Decoded bytes, for re-encoding without a lossy trip through UTF-16. */
  nameBytes: Uint8Array
  valueBytes: Uint8Array
}

function parseQuery(rawQuery: string): QueryParam[] {
  if (rawQuery === '') return []
  return rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const equals = pair.indexOf('=')
      const nameBytes = percentDecode(equals < 0 ? pair : pair.slice(0, equals))
      const valueBytes = percentDecode(equals < 0 ? '' : pair.slice(equals + 1))
      return {
        name: Buffer.from(nameBytes).toString('utf8'),
        value: Buffer.from(valueBytes).toString('utf8'),
        nameBytes,
        valueBytes,
      }
    })
}

/** The first value of a parameter, or undefined when absent. */
function queryParam(query: readonly QueryParam[], name: string): string | undefined {
  return query.find((param) => param.name === name)?.value
}

/**
 * Percent-decodes to bytes. It never throws: a '%' that does not start a valid escape is
 * kept as a literal '%' (and so re-encoded as %25), which simply fails the signature.
 * '+' is a literal plus sign, not a space: SigV4 encodes spaces as %20.
 */
function percentDecode(component: string): Uint8Array {
  const bytes: number[] = []
  let index = 0
  while (index < component.length) {
    const escape = component.slice(index, index + 3)
    if (/^%[0-9A-Fa-f]{2}$/.test(escape)) {
      bytes.push(Number.parseInt(escape.slice(1), 16))
      index += 3
      continue
    }
    const codePoint = component.codePointAt(index) ?? 0
    const character = String.fromCodePoint(codePoint)
    bytes.push(...Buffer.from(character, 'utf8'))
    index += character.length
  }
  return Uint8Array.from(bytes)
}

// ---------------------------------------------------------------------------------------
// Crypto
// ---------------------------------------------------------------------------------------

/**
 * Signing keys by secret and scope, held as the two padded HMAC blocks of RFC 2104 (the
 * key XOR ipad, the key XOR opad). A signing key depends only on the secret, the day, the
 * region and the service, so it is the same for every request of a day; deriving it is
 * four HMACs, most of a verification's cost. Bounded: a flood of scopes (all refused
 * anyway unless the secret is known) cannot grow it without limit.
 */
const signingKeys = new Map<string, Map<string, SigningKeyPads>>()
const MAX_CACHED_SCOPES = 256

/** HMAC-SHA-256's block size: the signing key (32 bytes) is padded to it. */
const SHA256_BLOCK_BYTES = 64
const SHA256_BYTES = 32

export interface SigningKeyPads {
  /** The signing key XOR 0x36, then the string to sign is appended (inner hash input). */
  inner: Buffer
  /** The signing key XOR 0x5c, then the inner hash (outer hash input, 96 bytes). */
  outer: Buffer
}

function signingKeyFor(secret: string, scope: CredentialScope): SigningKeyPads {
  const scopeKey = `${scope.date}/${scope.region}/${scope.service}`
  let perSecret = signingKeys.get(secret)
  const cached = perSecret?.get(scopeKey)
  if (cached !== undefined) return cached
  const dateKey = hmac(`AWS4${secret}`, scope.date)
  const regionKey = hmac(dateKey, scope.region)
  const serviceKey = hmac(regionKey, scope.service)
  const pads = hmacPads(hmac(serviceKey, SCOPE_TERMINATOR))
  if (perSecret === undefined) {
    if (signingKeys.size >= MAX_CACHED_SCOPES) signingKeys.clear()
    perSecret = new Map()
    signingKeys.set(secret, perSecret)
  }
  if (perSecret.size >= MAX_CACHED_SCOPES) perSecret.clear()
  perSecret.set(scopeKey, pads)
  return pads
}

function hmacPads(signingKey: Buffer): SigningKeyPads {
  const inner = Buffer.alloc(SHA256_BLOCK_BYTES, 0x36)
  const outer = Buffer.alloc(SHA256_BLOCK_BYTES + SHA256_BYTES, 0x5c)
  for (let i = 0; i < signingKey.length; i++) {
    inner[i] = (inner[i] ?? 0) ^ (signingKey[i] ?? 0)
    outer[i] = (outer[i] ?? 0) ^ (signingKey[i] ?? 0)
  }
  signingKey.fill(0)
  return { inner, outer }
}

function computeSignature(secret: string, scope: CredentialScope, requestTimeBasic: string, canonicalRequest: string): string {
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/${SCOPE_TERMINATOR}`
  const stringToSign = `${ALGORITHM}\n${requestTimeBasic}\n${credentialScope}\n${sha256Hex(canonicalRequest)}`
  return hmacWithPads(signingKeyFor(secret, scope), stringToSign)
}

/**
 * HMAC-SHA-256 (RFC 2104) from the cached pads, as two one-shot hashes: in Node 20 an
 * Hmac object costs more than both hashes together, and this runs once per request.
 * `test/unit/sigv4-hmac.test.ts` holds it to node:crypto's createHmac.
 */
export function hmacWithPads(pads: SigningKeyPads, message: string): string {
  const length = SHA256_BLOCK_BYTES + Buffer.byteLength(message, 'utf8')
  // The blocks are built in one reused buffer (verification is synchronous): taking them
  // from Node's pool for every request would have it make a new 8 KiB pool every few
  // requests, a new ArrayBuffer costing several µs.
  if (hmacScratch.length < length) hmacScratch = Buffer.alloc(length)
  const inner = hmacScratch.subarray(0, length)
  pads.inner.copy(inner, 0)
  inner.write(message, SHA256_BLOCK_BYTES, 'utf8')
  const innerDigest = hash('sha256', inner, 'binary')
  // The outer block (the cached one is only its template) overwrites the inner one.
  const outer = hmacScratch.subarray(0, SHA256_BLOCK_BYTES + SHA256_BYTES)
  pads.outer.copy(outer, 0)
  outer.write(innerDigest, SHA256_BLOCK_BYTES, 'binary')
  return hash('sha256', outer, 'hex')
}
let hmacScratch = Buffer.alloc(1024)

/** Test access to the pads of a raw signing key. */
export const hmacPadsForTests = hmacPads

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}

function sha256Hex(data: string | Uint8Array): string {
  // The one-shot form: no Hash object per call (this runs twice per request).
  return hash('sha256', data, 'hex')
}

/**
 * Constant-time comparison. A provided signature of the wrong length cannot match and is
 * refused without comparing; the length of a SigV4 signature is public anyway.
 */
function signaturesEqual(provided: string, expected: string): boolean {
  if (provided.length !== SIGNATURE_HEX_LENGTH || expected.length !== SIGNATURE_HEX_LENGTH) return false
  // Every code unit is compared, whatever the first difference: no early exit.
  let difference = 0
  for (let index = 0; index < SIGNATURE_HEX_LENGTH; index++) difference |= provided.charCodeAt(index) ^ expected.charCodeAt(index)
  return difference === 0
}

// ---------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------

/**
 * All values of a header, in order. Own properties only: a client that signs a header
 * called "constructor" must get an empty value, not Object.prototype's.
 */
function headerValues(headers: SignedRequest['headers'], name: string): readonly string[] {
  if (!Object.hasOwn(headers, name)) return []
  const value = headers[name]
  if (Array.isArray(value)) return value.every((one) => typeof one === 'string') ? value : value.filter((one) => typeof one === 'string')
  return typeof value === 'string' ? [value] : []
}

/** Node keeps only the first of a repeated Authorization or Date header; so do we. */
function firstHeaderValue(headers: SignedRequest['headers'], name: string): string | undefined {
  if (!Object.hasOwn(headers, name)) return undefined
  const value = headers[name]
  if (typeof value === 'string') return value
  return Array.isArray(value) ? value.find((one) => typeof one === 'string') : undefined
}

/** How many values a header has (a repeated header, kept apart, has several). */
function headerCount(headers: SignedRequest['headers'], name: string): number {
  if (!Object.hasOwn(headers, name)) return 0
  const value = headers[name]
  return Array.isArray(value) ? value.length : typeof value === 'string' ? 1 : 0
}
