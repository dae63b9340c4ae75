/**
 * An incremental HTTP/1.1 response parser, for answers to requests sent as raw bytes.
 *
 * node:http's client would refuse or repair much of what a fuzzer sends, and could not
 * tell "the server closed the connection" from "the server answered garbage"; this
 * parser only reads what comes back. It skips interim (1xx) answers, reads bodies framed
 * by Content-Length, chunked encoding or the end of the connection, and reports a
 * response it cannot parse instead of guessing.
 *
 * @module
 */

export interface ParsedResponse {
  status: number
  reason: string
  /** In order, names as sent. */
  headers: [string, string][]
  body: Buffer
}

export class MalformedResponse extends Error {}

const HEAD_END = Buffer.from('\r\n\r\n')
/** An answer's head larger than this is not an answer this server would give. */
const MAX_HEAD_BYTES = 64 * 1024

export function headerValue(response: Pick<ParsedResponse, 'headers'>, name: string): string | undefined {
  const lower = name.toLowerCase()
  return response.headers.find(([candidate]) => candidate.toLowerCase() === lower)?.[1]
}

type BodyFraming = { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'until-close' } | { kind: 'none' }

export class ResponseParser {
  private buffer: Buffer = Buffer.alloc(0)
  private current: { status: number; reason: string; headers: [string, string][]; framing: BodyFraming; body: Buffer[] } | undefined
  private answered = 0

  /** `isHeadRequest(n)`: whether the n-th request of the connection was a HEAD (its answer has no body). */
  constructor(private readonly isHeadRequest: (index: number) => boolean = () => false) {}

  /** Feeds bytes; returns the responses they completed. Throws MalformedResponse. */
  push(chunk: Buffer): ParsedResponse[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    const complete: ParsedResponse[] = []
    for (;;) {
      if (this.current === undefined && !this.readHead()) break
      const done = this.readBody()
      if (done === undefined) break
      complete.push(done)
    }
    return complete
  }

  /** The connection ended: completes a response whose body runs until the close, if any. */
  end(): ParsedResponse | undefined {
    const current = this.current
    if (current?.framing.kind !== 'until-close') return undefined
    this.current = undefined
    return { status: current.status, reason: current.reason, headers: current.headers, body: Buffer.concat([...current.body, this.buffer]) }
  }

  /** Bytes received that are not part of a complete response yet. */
  get pendingBytes(): number {
    return this.buffer.length + (this.current?.body.reduce((sum, part) => sum + part.length, 0) ?? 0)
  }

  private readHead(): boolean {
    const end = this.buffer.indexOf(HEAD_END)
    if (end < 0) {
      if (this.buffer.length > MAX_HEAD_BYTES) throw new MalformedResponse('response head too large')
      return false
    }
    const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n')
    this.buffer = this.buffer.subarray(end + HEAD_END.length)
    const statusLine = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '')
    if (statusLine === null) throw new MalformedResponse(`bad status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`)
    const status = Number(statusLine[1])
    const headers: [string, string][] = []
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      if (colon <= 0) throw new MalformedResponse(`bad header line: ${JSON.stringify(line.slice(0, 80))}`)
      headers.push([line.slice(0, colon), line.slice(colon + 1).trim()])
    }
    if (status >= 100 && status < 200) return this.buffer.length > 0 ? this.readHead() : false
    const response = { status, reason: statusLine[2] ?? '', headers }
    const isHead = this.isHeadRequest(this.answered)
    this.answered += 1
    let framing: BodyFraming
    const transferEncoding = headerValue(response, 'transfer-encoding')
    const contentLength = headerValue(response, 'content-length')
    if (isHead || status === 204 || status === 304) framing = { kind: 'none' }
    else if (transferEncoding !== undefined && /chunked\s*$/i.test(transferEncoding)) framing = { kind: 'chunked' }
    else if (contentLength !== undefined) {
      if (!/^\d+$/.test(contentLength)) throw new MalformedResponse(`bad Content-Length: ${contentLength}`)
      framing = { kind: 'length', remaining: Number(contentLength) }
    } else framing = { kind: 'until-close' }
    this.current = { ...response, framing, body: [] }
    return true
  }

  private readBody(): ParsedResponse | undefined {
    const current = this.current
    if (current === undefined) return undefined
    const framing = current.framing
    switch (framing.kind) {
      case 'none':
        break
      case 'until-close':
        return undefined
      case 'length': {
        const take = Math.min(framing.remaining, this.buffer.length)
        current.body.push(this.buffer.subarray(0, take))
        this.buffer = this.buffer.subarray(take)
        framing.remaining -= take
        if (framing.remaining > 0) return undefined
        break
      }
      case 'chunked':
        if (!this.readChunks(current.body)) return undefined
        break
    }
    this.current = undefined
    return { status: current.status, reason: current.reason, headers: current.headers, body: Buffer.concat(current.body) }
  }

  /** Reads whole chunks; true once the last chunk and the trailer are in. */
  private readChunks(into: Buffer[]): boolean {
    for (;;) {
      const lineEnd = this.buffer.indexOf('\r\n')
      if (lineEnd < 0) return false
      const sizeText = this.buffer.subarray(0, lineEnd).toString('latin1').split(';')[0]?.trim() ?? ''
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new MalformedResponse(`bad chunk size: ${JSON.stringify(sizeText.slice(0, 20))}`)
      const size = Number.parseInt(sizeText, 16)
      if (size === 0) {
        const trailerEnd = this.buffer.indexOf(HEAD_END, lineEnd)
        const emptyTrailer = this.buffer.subarray(lineEnd, lineEnd + 4).equals(HEAD_END)
        if (!emptyTrailer && trailerEnd < 0) return false
        this.buffer = this.buffer.subarray((emptyTrailer ? lineEnd : trailerEnd) + 4)
        return true
      }
      if (this.buffer.length < lineEnd + 2 + size + 2) return false
      into.push(this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size))
      this.buffer = this.buffer.subarray(lineEnd + 2 + size + 2)
    }
  }
}
