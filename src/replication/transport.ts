/**
 * How a region hands envelopes to the proxy. A port, so tests can put an adversary or
 * a fault injector in the proxy's place.
 *
 * @module
 */

export interface Transport {
  /** Resolves once the proxy has taken the envelope (stored it durably). */
  send(envelope: Uint8Array): Promise<void>
}

/** Posts envelopes to the proxy's `/v1/envelopes`. */
export class HttpTransport implements Transport {
  readonly #url: string

  constructor(proxyUrl: string) {
    this.#url = new URL('/v1/envelopes', proxyUrl).toString()
  }

  async send(envelope: Uint8Array): Promise<void> {
    const response = await fetch(this.#url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: envelope,
      signal: AbortSignal.timeout(10_000),
    })
    await response.arrayBuffer()
    if (response.status !== 202 && response.status !== 200) throw new Error(`proxy answered ${response.status}`)
  }
}
