/**
 * Turns a signed-request recipe into bytes: render the body, sign it with the AWS signer
 * (`@smithy/signature-v4`, as the SDKs do) the way the recipe says, apply the tamper
 * steps, and frame it as HTTP/1.1.
 *
 * Signing happens at send time, with the current clock (plus the recipe's skew), so a
 * recipe replayed later is signed for then.
 *
 * @module
 */
import { SignatureV4 } from '@smithy/signature-v4'
import { NodeSha256 } from '../src/wire/node-sha256.js'
import { renderBody, type RenderContext, type SignedRequestRecipe, type Tamper } from './recipe.js'

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1'

export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
}

/** A request as it goes on the wire; headers keep their order, spelling and repeats. */
export interface WireRequest {
  method: string
  path: string
  headers: [string, string][]
  body: Buffer
}

/** Access keys no partition knows; the secrets are only ever used to sign. */
const UNKNOWN_CREDENTIALS: Credentials = { accessKeyId: 'AKIAFUZZUNKNOWN00001', secretAccessKey: 'fuzz-unknown-secret-access-key-00000000' }
/** What a long-term key never has: an STS session token (AWS answers UnrecognizedClientException). */
const FAKE_SESSION_TOKEN = 'FwoGZXIvYXdzEFUZZ//////////wEaDFuzzSessionTokenNotIssuedByAnyone'

export class RequestSigner {
  private readonly signers = new Map<string, SignatureV4>()

  constructor(
    private readonly credentials: Credentials,
    /** The Host header requests carry, e.g. "127.0.0.1:4566" (SigV4 signs it). */
    readonly host: string,
  ) {}

  private signerFor(kind: NonNullable<NonNullable<SignedRequestRecipe['signing']>['credentials']>, service: string): SignatureV4 {
    const cacheKey = `${kind}|${service}`
    let signer = this.signers.get(cacheKey)
    if (signer === undefined) {
      const credentials =
        kind === 'unknown-key'
          ? UNKNOWN_CREDENTIALS
          : kind === 'wrong-secret'
            ? { accessKeyId: this.credentials.accessKeyId, secretAccessKey: `${this.credentials.secretAccessKey.slice(0, -4)}FUZZ` }
            : kind === 'session-token'
              ? { ...this.credentials, sessionToken: FAKE_SESSION_TOKEN }
              : this.credentials
      signer = new SignatureV4({ service, region: 'us-east-1', credentials, sha256: NodeSha256 })
      this.signers.set(cacheKey, signer)
    }
    return signer
  }

  async render(recipe: SignedRequestRecipe, context: RenderContext): Promise<WireRequest> {
    const body = renderBody(recipe.body, context)
    const method = recipe.method ?? 'POST'
    const path = recipe.path ?? '/'
    const headers: Record<string, string> = { host: this.host }
    if (recipe.contentType !== null) headers['content-type'] = recipe.contentType ?? JSON_CONTENT_TYPE
    if (recipe.target !== undefined) headers['x-amz-target'] = recipe.target
    for (const [name, value] of recipe.extraHeaders ?? []) headers[name] = value
    const signing = recipe.signing ?? {}
    const signingDate = new Date(context.nowMs + (signing.skewSeconds ?? 0) * 1000)
    let wire: WireRequest
    if (signing.mode === 'none') {
      wire = { method, path, headers: Object.entries(headers), body }
    } else {
      if (signing.unsignedPayload === true) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
      const signer = this.signerFor(signing.credentials ?? 'admin', signing.service ?? 'kms')
      const [pathOnly = '/', queryText] = path.split('?', 2)
      const query: Record<string, string> = {}
      for (const pair of (queryText ?? '').split('&')) {
        if (pair === '') continue
        const equals = pair.indexOf('=')
        query[decodeURIComponent(equals < 0 ? pair : pair.slice(0, equals))] = decodeURIComponent(equals < 0 ? '' : pair.slice(equals + 1))
      }
      const [hostname = '127.0.0.1', port] = this.host.split(':')
      const unsigned = new Set((signing.unsigned ?? []).map((name) => name.toLowerCase()))
      const toSign = {
        method,
        protocol: 'http:',
        hostname,
        ...(port !== undefined ? { port: Number(port) } : {}),
        path: pathOnly,
        query,
        headers,
        body,
      }
      const options = { signingDate, signingRegion: signing.scopeRegion ?? recipe.region, unsignableHeaders: unsigned }
      if (signing.mode === 'presigned') {
        // x-amz-target stays a header: a KMS endpoint reads it there, not from the query.
        const presigned = await signer.presign(toSign, {
          ...options,
          expiresIn: signing.expiresIn ?? 300,
          unhoistableHeaders: new Set(['x-amz-target', 'x-amz-content-sha256']),
        })
        wire = {
          method,
          path: `${pathOnly}?${encodeQuery(presigned.query as Record<string, string | string[] | null>)}`,
          headers: Object.entries(presigned.headers),
          body,
        }
      } else {
        const signed = await signer.sign(toSign, options)
        wire = { method, path, headers: Object.entries(signed.headers), body }
      }
    }
    for (const step of recipe.tamper ?? []) applyTamper(wire, step, context, signingDate)
    return wire
  }
}

/** RFC 3986 encoding, as SigV4 wants it. */
function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`)
}

function encodeQuery(query: Record<string, string | string[] | null>): string {
  const parts: string[] = []
  for (const [name, value] of Object.entries(query)) {
    for (const one of Array.isArray(value) ? value : [value ?? '']) parts.push(`${encodeComponent(name)}=${encodeComponent(one)}`)
  }
  return parts.join('&')
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

function changeSignature(signature: string, change: Extract<Tamper, { op: 'signature' }>['change']): string {
  switch (change) {
    case 'uppercase':
      return signature.toUpperCase()
    case 'truncate':
      return signature.slice(0, -1)
    case 'extend':
      return `${signature}0`
    case 'flip': {
      const last = signature.slice(-1)
      return `${signature.slice(0, -1)}${last === '0' ? '1' : '0'}`
    }
    case 'empty':
      return ''
    case 'non-hex':
      return `${signature.slice(0, -2)}zz`
    case 'zero':
      return '0'.repeat(signature.length)
  }
}

function httpDate(date: Date): string {
  return date.toUTCString()
}

/** SigV4's time format, 20240102T030405Z. */
function isoBasic(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '')
}

export function applyTamper(wire: WireRequest, step: Tamper, context: RenderContext, signingDate: Date): void {
  switch (step.op) {
    case 'set-header': {
      const first = wire.headers.findIndex(([name]) => sameName(name, step.name))
      if (first < 0) wire.headers.push([step.name, step.value])
      else
        wire.headers = wire.headers.flatMap((header, index): [string, string][] =>
          !sameName(header[0], step.name) ? [header] : index === first ? [[header[0], step.value]] : [],
        )
      return
    }
    case 'add-header': {
      const first = step.first === true ? wire.headers.findIndex(([name]) => sameName(name, step.name)) : -1
      if (first < 0) wire.headers.push([step.name, step.value])
      else wire.headers.splice(first, 0, [step.name, step.value])
      return
    }
    case 'remove-header':
      wire.headers = wire.headers.filter(([name]) => !sameName(name, step.name))
      return
    case 'rename-header':
      wire.headers = wire.headers.map(([name, value]) => (sameName(name, step.from) ? [step.to, value] : [name, value]))
      return
    case 'edit-header':
      wire.headers = wire.headers.map(([name, value]) =>
        sameName(name, step.name)
          ? [name, step.all === true ? value.split(step.find).join(step.replace) : value.replace(step.find, step.replace)]
          : [name, value],
      )
      return
    case 'signature': {
      wire.headers = wire.headers.map(([name, value]) =>
        sameName(name, 'authorization')
          ? [name, value.replace(/Signature=([^,\s]*)/, (_, signature: string) => `Signature=${changeSignature(signature, step.change)}`)]
          : [name, value],
      )
      wire.path = wire.path.replace(
        /([?&]X-Amz-Signature=)([^&]*)/,
        (_, prefix: string, signature: string) => `${prefix}${changeSignature(signature, step.change)}`,
      )
      return
    }
    case 'set-body':
      wire.body = renderBody(step.body, context)
      return
    case 'set-path':
      wire.path = step.path
      return
    case 'set-query': {
      const [pathOnly = '/', queryText = ''] = wire.path.split('?', 2)
      const pairs = queryText.split('&').filter((pair) => pair !== '' && decodeURIComponent(pair.split('=')[0] ?? '') !== step.name)
      if (step.value !== null) pairs.push(`${encodeComponent(step.name)}=${encodeComponent(step.value)}`)
      wire.path = pairs.length === 0 ? pathOnly : `${pathOnly}?${pairs.join('&')}`
      return
    }
    case 'set-method':
      wire.method = step.method
      return
    case 'date-as-http-date':
      wire.headers = wire.headers.filter(([name]) => !sameName(name, 'x-amz-date'))
      wire.headers.push(['Date', httpDate(signingDate)])
      return
    case 'shift-date': {
      const shifted = isoBasic(new Date(signingDate.getTime() + step.seconds * 1000))
      wire.headers = wire.headers.map(([name, value]) => (sameName(name, 'x-amz-date') ? [name, shifted] : [name, value]))
      wire.path = wire.path.replace(/([?&]X-Amz-Date=)([^&]*)/, (_, prefix: string) => `${prefix}${shifted}`)
      return
    }
  }
}

/** HTTP/1.1 framing; a Content-Length is added unless the request already has one. */
export function serializeRequest(wire: WireRequest): Buffer {
  let head = `${wire.method} ${wire.path} HTTP/1.1\r\n`
  let hasLength = false
  for (const [name, value] of wire.headers) {
    if (sameName(name, 'content-length') || sameName(name, 'transfer-encoding')) hasLength = true
    head += `${name}: ${value}\r\n`
  }
  if (!hasLength) head += `content-length: ${wire.body.length}\r\n`
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'utf8'), wire.body])
}
