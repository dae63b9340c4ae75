/**
 * The Sha256 class that @smithy/signature-v4 (the signer the AWS SDKs use) wants, on
 * node:crypto: a SHA-256 hash, or an HMAC-SHA-256 when keyed. Shared by everything in
 * Trent that signs KMS calls itself: `trent` (src/cli/sign.ts) and the web console
 * (src/console/kms-caller.ts).
 *
 * @module
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'

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
