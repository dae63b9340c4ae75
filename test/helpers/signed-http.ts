/**
 * Raw SigV4-signed HTTP requests, for tests that must send what no SDK would: malformed
 * JSON, wrong types, bad signatures.
 */
import { request } from 'node:http'
import { SignatureV4 } from '@smithy/signature-v4'
import { NodeSha256 } from '../../src/wire/node-sha256.js'
import { TEST_CREDENTIALS } from './in-process-region.js'

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  json: Record<string, unknown> | undefined
}

export interface RawRequest {
  endpoint: string
  region?: string
  target?: string
  body: string | Uint8Array
  contentType?: string
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  service?: string
  signingDate?: Date
  sign?: boolean
  /** Headers sent but left out of the signature (the signer signs every other one). */
  unsignedHeaders?: readonly string[]
  /** Changes the request after it was signed; an array value sends the header once per element. */
  tamper?: (headers: Record<string, string | string[]>) => void
  /** Sends this body instead of the one that was signed. */
  sendBody?: string | Uint8Array
}

export async function sendRaw(options: RawRequest): Promise<RawResponse> {
  const url = new URL(options.endpoint)
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : Buffer.from(options.body)
  const unsigned: Record<string, string> = {
    host: url.host,
    'content-type': options.contentType ?? 'application/x-amz-json-1.1',
  }
  if (options.target !== undefined) unsigned['x-amz-target'] = options.target
  let headers: Record<string, string | string[]> = unsigned
  if (options.sign !== false) {
    const signer = new SignatureV4({
      service: options.service ?? 'kms',
      region: options.region ?? 'us-east-1',
      credentials: options.credentials ?? TEST_CREDENTIALS,
      sha256: NodeSha256,
    })
    const signed = await signer.sign(
      { method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers: unsigned, body },
      {
        ...(options.signingDate !== undefined ? { signingDate: options.signingDate } : {}),
        ...(options.unsignedHeaders !== undefined ? { unsignableHeaders: new Set(options.unsignedHeaders) } : {}),
      },
    )
    headers = { ...(signed.headers as Record<string, string>) }
  }
  options.tamper?.(headers)
  const sent = options.sendBody === undefined ? body : Buffer.from(options.sendBody)
  return new Promise((resolve, reject) => {
    const req = request(
      { method: 'POST', host: url.hostname, port: url.port, path: '/', headers: { ...headers, 'content-length': String(sent.length) } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: Record<string, unknown> | undefined
          try {
            json = JSON.parse(text) as Record<string, unknown>
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json })
        })
      },
    )
    req.on('error', reject)
    req.end(sent)
  })
}
