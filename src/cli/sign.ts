/**
 * SigV4-signed calls to Trent's own operations (`TrentAdmin.*`), with the same signer
 * the AWS SDKs use.
 *
 * @module
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'

/** The Sha256 class @smithy/signature-v4 wants, on node:crypto (a hash, or an HMAC when keyed). */
export class NodeSha256 {
  readonly #hash: Hash | Hmac

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    if (secret === undefined) this.#hash = createHash('sha256')
    else if (typeof secret === 'string') this.#hash = createHmac('sha256', secret)
    else
      this.#hash = createHmac(
        'sha256',
        ArrayBuffer.isView(secret) ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength) : Buffer.from(secret),
      )
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    if (typeof data === 'string') this.#hash.update(data, 'utf8')
    else if (ArrayBuffer.isView(data)) this.#hash.update(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    else this.#hash.update(Buffer.from(data))
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest())
  }

  reset(): void {
    // A signer makes a fresh instance per use; reuse is not supported.
  }
}

export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
}

export async function callTrent(
  endpoint: string,
  region: string,
  credentials: Credentials,
  target: string,
  input: unknown,
): Promise<{ status: number; body: unknown }> {
  const url = new URL(endpoint)
  const body = JSON.stringify(input)
  const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: NodeSha256 })
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port === '' ? {} : { port: Number(url.port) }),
    path: '/',
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
    body,
  })
  const response = await fetch(new URL('/', url), { method: 'POST', headers: signed.headers as Record<string, string>, body })
  const text = await response.text()
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as unknown) }
}
