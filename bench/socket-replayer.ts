/**
 * The keep-alive load: each of `connections` sockets sends one pre-encoded request, reads
 * its whole answer, then sends the next (HTTP/1.1, pipelining 1), for a fixed time.
 *
 * Why not an HTTP client library: on a machine whose cores the load shares with the
 * servers it measures, every microsecond the load spends is taken from them. autocannon
 * (the replayer used before) spent about 40 µs of CPU per request; the requests here are
 * bytes encoded once, and an answer is read by finding its head's end and its
 * Content-Length, nothing more. What it checks is what a measurement needs: a well-formed
 * status line, the status of every answer and the exact body length; anything else counts
 * as an error and closes the connection, which is then opened again (after a pause, if it
 * could not even connect).
 *
 * Answers must carry Content-Length (every target here does: Trent, the ceiling, moto's
 * errors); a chunked answer is an error. An answer with `Connection: close` is counted,
 * then the connection is opened again.
 *
 * @module
 */
import { connect, type Socket } from 'node:net'
import type { LoadResult, WireRequest } from './load-protocol.js'

/** What one timed run saw: a LoadResult without the figures made from it afterwards. */
export type ReplayRun = Omit<LoadResult, 'requestsPerSecond' | 'latencyMs'>

export interface ReplayOptions {
  url: URL
  connections: number
  durationSeconds: number
  requests: readonly WireRequest[]
  timeoutSeconds: number
  /** Called with each 2xx answer's latency, in ms (hrtime-based, sub-millisecond). */
  onLatency?: (milliseconds: number) => void
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1')
const MAX_HEAD_BYTES = 16 * 1024
/** After a refused connection: a server that is down is not hammered in a tight loop. */
const RECONNECT_PAUSE_MS = 100
const SWEEP_MS = 250

/** The request as it goes on the wire: request line, headers (with Content-Length), body. */
export function encodeRequest(wire: WireRequest, hostHeader: string): Buffer {
  const body = Buffer.from(wire.body, 'utf8')
  const lines = [`${wire.method} ${wire.path} HTTP/1.1`]
  let hasHost = false
  for (const [name, value] of Object.entries(wire.headers)) {
    const lower = name.toLowerCase()
    if (lower === 'content-length' || lower === 'connection') continue
    if (lower === 'host') hasHost = true
    lines.push(`${name}: ${value}`)
  }
  if (!hasHost) lines.push(`Host: ${hostHeader}`)
  lines.push(`Content-Length: ${body.length}`, 'Connection: keep-alive', '', '')
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body])
}

interface ParsedHead {
  status: number
  contentLength: number
  close: boolean
  headLength: number
}

/** The status, Content-Length and Connection of an answer's head; undefined if malformed. */
export function parseResponseHead(head: string): Omit<ParsedHead, 'headLength'> | undefined {
  const statusMatch = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(head)
  if (statusMatch === null) return undefined
  let contentLength: number | undefined
  let close = false
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'content-length') {
      if (!/^\d{1,9}$/.test(value) || (contentLength !== undefined && contentLength !== Number(value))) return undefined
      contentLength = Number(value)
    } else if (name === 'transfer-encoding') {
      return undefined
    } else if (name === 'connection' && value.toLowerCase() === 'close') {
      close = true
    }
  }
  if (contentLength === undefined) return undefined
  return { status: Number(statusMatch[1]), contentLength, close }
}

export function replay(options: ReplayOptions): Promise<ReplayRun> {
  const run: ReplayRun = { completed2xx: 0, non2xx: 0, errors: 0, timeouts: 0, durationSeconds: 0, statusCodes: {} }
  const host = options.url.hostname
  const port = Number(options.url.port)
  const encoded = options.requests.map((wire) => encodeRequest(wire, options.url.host))
  if (encoded.length === 0) return Promise.reject(new Error('replay: no requests'))
  const started = performance.now()
  const deadline = started + options.durationSeconds * 1000
  const timeoutMs = options.timeoutSeconds * 1000

  /** One connection's loop; resolves when time is up and its last answer is in. */
  function connection(offset: number): Promise<void> {
    return new Promise((done) => {
      let next = offset
      let socket: Socket
      let buffered: Buffer[] = []
      let bufferedBytes = 0
      let head: ParsedHead | undefined
      let sentAt = 0
      let finished = false
      // One sweep per connection instead of a timer per request (a timer per request is a
      // measurable share of this process's CPU): an answer overdue by the timeout is a timeout.
      const sweep = setInterval(() => {
        if (sentAt !== 0 && performance.now() - sentAt > timeoutMs) {
          run.timeouts++
          run.errors++
          sentAt = 0
          socket.destroy()
        }
      }, SWEEP_MS)

      const finish = (): void => {
        if (finished) return
        finished = true
        clearInterval(sweep)
        socket.destroy()
        done()
      }
      const open = (): void => {
        buffered = []
        bufferedBytes = 0
        head = undefined
        let connected = false
        socket = connect({ host, port, noDelay: true })
        socket.on('connect', () => {
          connected = true
          sendNext()
        })
        socket.on('data', onData)
        socket.on('error', () => undefined)
        socket.on('close', () => {
          if (finished) return
          // Closed with an answer outstanding: an error; either way, open again.
          if (sentAt !== 0 || !connected) {
            run.errors++
            sentAt = 0
          }
          if (performance.now() >= deadline) finish()
          else if (connected) open()
          else setTimeout(open, RECONNECT_PAUSE_MS)
        })
      }
      const sendNext = (): void => {
        if (performance.now() >= deadline) {
          finish()
          return
        }
        const request = encoded[next++ % encoded.length] as Buffer
        sentAt = performance.now()
        socket.write(request)
      }
      const fail = (): void => {
        run.errors++
        sentAt = 0
        socket.destroy()
      }
      const onData = (chunk: Buffer): void => {
        if (sentAt === 0) {
          // Bytes nobody asked for: the connection is out of step.
          fail()
          return
        }
        buffered.push(chunk)
        bufferedBytes += chunk.length
        const all = buffered.length === 1 ? chunk : Buffer.concat(buffered, bufferedBytes)
        if (head === undefined) {
          const end = all.indexOf(HEAD_END)
          if (end < 0) {
            if (bufferedBytes > MAX_HEAD_BYTES) fail()
            return
          }
          const parsed = parseResponseHead(all.toString('latin1', 0, end + 2))
          if (parsed === undefined) {
            fail()
            return
          }
          head = { ...parsed, headLength: end + HEAD_END.length }
        }
        const total = head.headLength + head.contentLength
        if (bufferedBytes < total) {
          buffered = [all]
          return
        }
        if (bufferedBytes > total) {
          fail()
          return
        }
        const latency = performance.now() - sentAt
        sentAt = 0
        const { status, close } = head
        head = undefined
        buffered = []
        bufferedBytes = 0
        run.statusCodes[status] = (run.statusCodes[status] ?? 0) + 1
        if (status >= 200 && status < 300) {
          run.completed2xx++
          options.onLatency?.(latency)
        } else {
          run.non2xx++
        }
        if (close) socket.destroy()
        else sendNext()
      }
      open()
    })
  }

  return Promise.all(Array.from({ length: options.connections }, (_, index) => connection(index))).then(() => {
    run.durationSeconds = (performance.now() - started) / 1000
    return run
  })
}
