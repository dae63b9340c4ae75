/**
 * How a region hands envelopes to the proxy. A port, so tests can put an adversary or
 * a fault injector in the proxy's place.
 *
 * @module
 */
import { Agent, request } from 'node:http'

export interface Transport {
  /** Resolves once the proxy has taken the envelope (stored it durably). */
  send(envelope: Uint8Array): Promise<void>
}

const SEND_TIMEOUT_MS = 10_000

/**
 * Posts envelopes to the proxy's `/v1/envelopes` over pooled keep-alive connections
 * (plain node:http: `fetch` costs several times its CPU per request, and replication
 * sends on its critical path).
 */
export class HttpTransport implements Transport {
  readonly #url: URL
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 16, timeout: 4_000 })

  constructor(proxyUrl: string) {
    this.#url = new URL('/v1/envelopes', proxyUrl)
  }

  send(envelope: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(
        this.#url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: { 'content-type': 'application/json', 'content-length': envelope.length },
          timeout: SEND_TIMEOUT_MS,
        },
        (res) => {
          res.resume()
          res.on('end', () =>
            res.statusCode === 202 || res.statusCode === 200 ? resolve() : reject(new Error(`proxy answered ${res.statusCode ?? 0}`)),
          )
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error('proxy did not answer in time')))
      req.on('error', reject)
      req.end(envelope)
    })
  }
}
