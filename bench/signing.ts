/**
 * Pre-signs KMS requests (SigV4, AWS JSON 1.1) so the load generator spends no CPU on
 * signing: it replays finished bytes. A signature is accepted for 5 minutes around its
 * x-amz-date, so run.ts signs each pool right before the load that uses it.
 *
 * @module
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'
import type { WireRequest } from './load-protocol.js'

/** The Sha256 class shape @smithy/signature-v4 wants, on node:crypto (hash, or HMAC when keyed). */
class NodeSha256 {
  readonly #hash: Hash | Hmac

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    if (secret === undefined) {
      this.#hash = createHash('sha256')
    } else if (typeof secret === 'string') {
      this.#hash = createHmac('sha256', secret)
    } else {
      const key = ArrayBuffer.isView(secret)
        ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength)
        : Buffer.from(secret)
      this.#hash = createHmac('sha256', key)
    }
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    if (typeof data === 'string') this.#hash.update(data, 'utf8')
    else if (ArrayBuffer.isView(data)) this.#hash.update(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    else this.#hash.update(Buffer.from(data))
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest())
  }
}

export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
}

export interface RequestSigner {
  /** `host` is what the request will be sent to, e.g. "127.0.0.1:8080": SigV4 signs it. */
  sign(host: string, operation: string, input: Record<string, unknown>): Promise<WireRequest>
}

export function createRequestSigner(region: string, credentials: Credentials): RequestSigner {
  const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: NodeSha256 })
  return {
    async sign(host, operation, input) {
      const [hostname = host, port] = host.split(':')
      const body = JSON.stringify(input)
      const signed = await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname,
        ...(port !== undefined ? { port: Number(port) } : {}),
        path: '/',
        query: {},
        headers: {
          host,
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `TrentService.${operation}`,
        },
        body,
      })
      return { method: 'POST', path: '/', headers: { ...signed.headers }, body }
    },
  }
}
