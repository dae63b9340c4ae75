/**
 * SigV4-signed calls to Trent's own operations (`TrentAdmin.*`), with the same signer
 * the AWS SDKs use.
 *
 * @module
 */
import { SignatureV4 } from '@smithy/signature-v4'
import { NodeSha256 } from '../wire/node-sha256.js'

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
