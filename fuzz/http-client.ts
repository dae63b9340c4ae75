/**
 * The raw HTTP sender: exact bytes out over `node:net`, parsed answers back, and a
 * deadline that turns "no answer, no close" into a hang instead of a wait.
 *
 * Two ways to send:
 * - {@link KeepAliveConnection}: one socket reused request after request, for well-formed
 *   requests (structured, SigV4, crypto), as an SDK's keep-alive pool would.
 * - {@link exchangeOnFreshSocket}: a socket of its own, for malformed HTTP, written in
 *   parts with pauses, then kept open, half-closed or cut.
 *
 * @module
 */
import { connect, type Socket } from 'node:net'
import { MalformedResponse, ResponseParser, headerValue, type ParsedResponse } from './response-parser.js'

export interface ExchangeResult {
  /** Every complete answer, in order (more than one for pipelined requests). */
  responses: ParsedResponse[]
  /**
   * How it ended: `answered` (every expected answer came), `closed` (FIN) or `reset` by
   * the server first, `hang` (the deadline passed with neither), `malformed` (the server
   * answered bytes that are not HTTP), `aborted` (we cut the connection on purpose),
   * `connect-failed`.
   */
  end: 'answered' | 'closed' | 'reset' | 'hang' | 'malformed' | 'aborted' | 'connect-failed'
  ms: number
  detail?: string
}

export interface Endpoint {
  host: string
  port: number
}

function openSocket(endpoint: Endpoint): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port, noDelay: true })
    const onError = (err: Error): void => {
      socket.destroy()
      reject(err)
    }
    socket.once('error', onError)
    socket.once('connect', () => {
      socket.off('error', onError)
      resolve(socket)
    })
  })
}

interface Pending {
  socket: Socket
  started: number
  parser: ResponseParser
  responses: ParsedResponse[]
  expected: number
  received: number
  timer: NodeJS.Timeout
  finish(end: ExchangeResult['end'], detail?: string): void
}

/**
 * A keep-alive connection that sends one request at a time. A socket the server closed
 * while idle is replaced before the next request; a request that finds its reused socket
 * closed before a single byte came back is sent once more on a fresh one (the race every
 * keep-alive client has with a server's idle timeout).
 */
export class KeepAliveConnection {
  private socket: Socket | undefined
  private used = false
  private pending: Pending | undefined

  constructor(private readonly endpoint: Endpoint) {}

  async exchange(bytes: Buffer, deadlineMs: number): Promise<ExchangeResult> {
    const reused = this.socket !== undefined && this.used
    const first = await this.once(bytes, deadlineMs)
    if (
      reused &&
      (first.end === 'closed' || first.end === 'reset') &&
      first.responses.length === 0 &&
      first.detail === 'nothing received'
    ) {
      return this.once(bytes, deadlineMs)
    }
    return first
  }

  close(): void {
    this.socket?.destroy()
    this.socket = undefined
  }

  private async once(bytes: Buffer, deadlineMs: number): Promise<ExchangeResult> {
    const started = performance.now()
    if (this.socket === undefined || this.socket.destroyed) {
      try {
        this.socket = await openSocket(this.endpoint)
        this.used = false
        this.attach(this.socket)
      } catch (err) {
        this.socket = undefined
        return {
          responses: [],
          end: 'connect-failed',
          ms: performance.now() - started,
          detail: (err as NodeJS.ErrnoException).code ?? String(err),
        }
      }
    }
    const socket = this.socket
    this.used = true
    return new Promise<ExchangeResult>((resolve) => {
      const pending: Pending = {
        socket,
        started,
        parser: new ResponseParser(),
        responses: [],
        expected: 1,
        received: 0,
        timer: setTimeout(() => pending.finish('hang'), deadlineMs),
        finish: (end, detail) => {
          if (this.pending !== pending) return
          this.pending = undefined
          clearTimeout(pending.timer)
          const response = pending.responses[0]
          const closing = response !== undefined && /\bclose\b/i.test(headerValue(response, 'connection') ?? '')
          if (end !== 'answered' || closing) this.close()
          resolve({ responses: pending.responses, end, ms: performance.now() - started, ...(detail !== undefined ? { detail } : {}) })
        },
      }
      this.pending = pending
      socket.write(bytes)
    })
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      const pending = this.pending
      if (pending?.socket !== socket) return // stray bytes after an answer: the next request's parser never sees them
      pending.received += chunk.length
      try {
        pending.responses.push(...pending.parser.push(chunk))
      } catch (err) {
        pending.finish('malformed', err instanceof MalformedResponse ? err.message : String(err))
        return
      }
      if (pending.responses.length >= pending.expected) pending.finish('answered')
    })
    const ended = (end: 'closed' | 'reset'): void => {
      if (this.socket === socket) this.socket = undefined
      const pending = this.pending
      if (pending?.socket !== socket) return
      const last = pending.parser.end()
      if (last !== undefined) pending.responses.push(last)
      if (pending.responses.length >= pending.expected) pending.finish('answered')
      else pending.finish(end, pending.received === 0 ? 'nothing received' : `${pending.received} bytes received, no complete answer`)
    }
    socket.on('error', () => ended('reset'))
    socket.on('end', () => ended('closed'))
    socket.on('close', () => ended('closed'))
  }
}

export interface RawWrite {
  bytes: Buffer
  /** Pause before this write. */
  delayMs?: number
}

export interface RawExchange {
  writes: RawWrite[]
  /** After the last write: wait with the connection open, send FIN, or cut the connection. */
  finish: 'keep-open' | 'half-close' | 'destroy'
  /** How many answers make the exchange complete (pipelined requests: more than one). */
  expectedResponses: number
  /** Indexes of requests that are HEAD (their answers have no body). */
  headRequests?: number[]
}

/**
 * Sends `exchange` on a connection of its own and waits, at most `deadlineMs`, for the
 * expected answers or the end of the connection.
 */
export async function exchangeOnFreshSocket(endpoint: Endpoint, exchange: RawExchange, deadlineMs: number): Promise<ExchangeResult> {
  const started = performance.now()
  let socket: Socket
  try {
    socket = await openSocket(endpoint)
  } catch (err) {
    return {
      responses: [],
      end: 'connect-failed',
      ms: performance.now() - started,
      detail: (err as NodeJS.ErrnoException).code ?? String(err),
    }
  }
  const heads = new Set(exchange.headRequests ?? [])
  const parser = new ResponseParser((index) => heads.has(index))
  const responses: ParsedResponse[] = []
  let received = 0
  return new Promise<ExchangeResult>((resolve) => {
    let settled = false
    const finish = (end: ExchangeResult['end'], detail?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ responses, end, ms: performance.now() - started, ...(detail !== undefined ? { detail } : {}) })
    }
    const timer = setTimeout(
      () => finish('hang', `${responses.length} of ${exchange.expectedResponses} answers, ${received} bytes, connection still open`),
      deadlineMs,
    )
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length
      try {
        responses.push(...parser.push(chunk))
      } catch (err) {
        finish('malformed', err instanceof MalformedResponse ? err.message : String(err))
        return
      }
      if (responses.length >= exchange.expectedResponses) finish('answered')
    })
    const ended = (end: 'closed' | 'reset'): void => {
      const last = parser.end()
      if (last !== undefined) responses.push(last)
      finish(responses.length >= exchange.expectedResponses ? 'answered' : end)
    }
    socket.on('error', () => ended('reset'))
    socket.on('end', () => ended('closed'))
    socket.on('close', () => ended('closed'))

    void (async () => {
      for (const write of exchange.writes) {
        if (write.delayMs !== undefined && write.delayMs > 0) await new Promise((done) => setTimeout(done, write.delayMs))
        if (settled || socket.destroyed) return
        socket.write(write.bytes)
      }
      if (exchange.finish === 'half-close') socket.end()
      else if (exchange.finish === 'destroy') finish('aborted')
    })()
  })
}
