/**
 * The AWS JSON 1.1 protocol as a KMS endpoint speaks it (reference §1; Smithy's
 * awsJson1_1): `POST /`, `X-Amz-Target: TrentService.<Operation>`,
 * `Content-Type: application/x-amz-json-1.1`, JSON bodies, and errors as
 * `{"__type": <name>, "message": <text>}`.
 *
 * @module
 */
import type { ServerResponse } from 'node:http'
import { type KmsError } from '../wire/errors.js'

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1'
export const KMS_TARGET_PREFIX = 'TrentService.'
/** Trent's own operations (sync state, test hooks) ride the same protocol under this prefix. */
export const ADMIN_TARGET_PREFIX = 'TrentAdmin.'

export interface Target {
  service: 'kms' | 'admin'
  operation: string
}

export function parseTarget(header: string | string[] | undefined): Target | undefined {
  if (typeof header !== 'string') return undefined
  if (header.startsWith(KMS_TARGET_PREFIX)) return { service: 'kms', operation: header.slice(KMS_TARGET_PREFIX.length) }
  if (header.startsWith(ADMIN_TARGET_PREFIX)) return { service: 'admin', operation: header.slice(ADMIN_TARGET_PREFIX.length) }
  return undefined
}

/** AWS JSON 1.1 is one media type; parameters such as charset are tolerated. */
export function isJsonContentType(header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false
  if (header === JSON_CONTENT_TYPE) return true // what every SDK sends; checked per request
  return header.split(';')[0]?.trim().toLowerCase() === JSON_CONTENT_TYPE
}

export function sendJson(res: ServerResponse, status: number, body: unknown, requestId: string): void {
  // A string, not a Buffer: Node then sends the head and the body in one write, where a
  // Buffer body takes a writev of two.
  const payload = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(payload, 'utf8'),
    'x-amzn-RequestId': requestId,
  })
  res.end(payload, 'utf8')
}

export function sendError(res: ServerResponse, err: KmsError, requestId: string): void {
  const body: Record<string, string> = { __type: err.name }
  if (err.wireMessage !== undefined) body.message = err.wireMessage
  res.setHeader('x-amzn-ErrorType', err.name)
  sendJson(res, err.httpStatus, body, requestId)
}
