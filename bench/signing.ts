/**
 * Pre-signs KMS requests (SigV4, AWS JSON 1.1) so the load generator spends no CPU on
 * signing: it replays finished bytes. A signature is accepted for 5 minutes around its
 * x-amz-date, so run.ts signs each pool right before the load that uses it.
 *
 * @module
 */
import { NodeSha256 } from '../src/wire/node-sha256.js'
import { SignatureV4 } from '@smithy/signature-v4'
import type { WireRequest } from './load-protocol.js'

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
