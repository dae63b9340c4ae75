/**
 * The partition's front door, in front of the HTTP gateway: it reads only the first
 * request's header block of each new connection and, when that request names a serving
 * region, hands the whole connection to that region's process (a socket handle over
 * IPC). From then on the client talks to the region directly: the gateway is off the
 * data path, which is what lets a partition serve close to a bare region's throughput.
 *
 * Everything it cannot hand off (health checks, unsigned requests, regions outside the
 * partition or down) goes to the HTTP gateway (gateway.ts), byte for byte as received.
 * A region that later receives a request scoped to another region on a connection it was
 * given forwards it there (api/forward.ts), so mixing regions on one connection works.
 *
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import { readCredentialScopeUnverified } from '../api/auth/sigv4.js'

/** Header blocks larger than this are left to the HTTP gateway, which bounds them itself. */
const MAX_HEAD_BYTES = 32 * 1024
const HEADER_END = Buffer.from('\r\n\r\n')

export interface HandoffOptions {
  /** The HTTP gateway that serves whatever is not handed off (it is never listening itself). */
  fallback: HttpServer
  /** Passes the connection to `region`'s process; false if that is not possible now. */
  handOff(region: string, socket: Socket, head: Buffer): boolean
}

interface RequestHead {
  url: string
  headers: Record<string, string>
}

/** Parses just enough of an HTTP/1.1 request head to read the credential scope. */
function parseHead(head: Buffer): RequestHead | undefined {
  const lines = head.toString('latin1').split('\r\n')
  const requestLine = /^[A-Z]+ (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '')
  if (requestLine === null) return undefined
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    if (line === '') break
    const colon = line.indexOf(':')
    if (colon <= 0) return undefined
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value
  }
  return { url: requestLine[1] ?? '/', headers }
}

/**
 * Stops the socket reading from the kernel and returns whatever it had already read but
 * not delivered. A socket handed to another process takes its file descriptor, and with
 * it the kernel's receive buffer, but not this process's user-space buffer: bytes left
 * there (a request body sent after its headers, say) would be lost, and the region would
 * wait for them for ever. `pause()` alone does not stop a plain socket reading, so the
 * handle is stopped directly (node's own `net` does the same in `pause()` for sockets
 * with an `onread` buffer). The order matters: `read()` itself may start the handle
 * reading again, so the buffer is drained first and the handle stopped after, in the same
 * turn of the event loop (no data is delivered in between); what arrives later stays in
 * the kernel and travels with the descriptor.
 */
function stopReadingAndDrain(socket: Socket): Buffer[] {
  socket.pause()
  const pending: Buffer[] = []
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) pending.push(chunk)
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } })._handle
  if (handle?.readStop !== undefined) {
    handle.reading = false
    handle.readStop()
  }
  return pending
}

export function createHandoffServer(options: HandoffOptions): Server {
  const toGateway = (socket: Socket, head: Buffer): void => {
    socket.pause()
    if (head.length > 0) socket.unshift(head)
    options.fallback.emit('connection', socket)
    socket.resume()
  }

  return createServer({ noDelay: true }, (socket) => {
    let buffered: Buffer = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      const end = buffered.indexOf(HEADER_END)
      if (end < 0 && buffered.length < MAX_HEAD_BYTES) return
      socket.off('data', onData)
      socket.off('error', onError)
      const head = end < 0 ? undefined : parseHead(buffered.subarray(0, end + HEADER_END.length))
      const scope = head === undefined ? undefined : readCredentialScopeUnverified({ url: head.url, headers: head.headers })
      if (scope !== undefined && head?.url !== '/health') {
        const pending = stopReadingAndDrain(socket)
        const everything = pending.length === 0 ? buffered : Buffer.concat([buffered, ...pending])
        if (options.handOff(scope.region, socket, everything)) return
        // Not handed off after all: the gateway serves it, reading where this left off.
        socket.resume()
        toGateway(socket, everything)
        return
      }
      toGateway(socket, buffered)
    }
    const onError = (): void => {
      socket.destroy()
    }
    socket.on('data', onData)
    socket.on('error', onError)
  })
}
