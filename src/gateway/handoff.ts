/**
 * The partition's front door, in front of the HTTP gateway: it reads only the first
 * request's header block of each new connection and, when that request names a serving
 * region, hands the whole connection to one of that region's ready nodes (a process; a
 * socket handle over IPC), picked round-robin (region-nodes.ts). From then on the client
 * talks to that node directly: the gateway is off the data path, which is what lets a
 * partition serve close to a bare region's throughput. Spreading is therefore per
 * connection: every request of a keep-alive connection goes to the node it was handed to.
 *
 * Everything it cannot hand off (health checks, unsigned requests, regions outside the
 * partition or with no node serving) goes to the HTTP gateway (gateway.ts), byte for byte
 * as received.
 * A region that later receives a request scoped to another region on a connection it was
 * given forwards it there (api/forward.ts), so mixing regions on one connection works.
 *
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import { readCredentialScopeUnverified } from '../api/auth/sigv4.js'
import type { ConnectionGuard } from '../http/connection-guard.js'
import { endWithStatus } from '../http/bare-answer.js'
import type { RegionNodes } from './region-nodes.js'

/** Header blocks larger than this are left to the HTTP gateway, which bounds them itself. */
const MAX_HEAD_BYTES = 32 * 1024
const HEADER_END = Buffer.from('\r\n\r\n')
const LF = 0x0a
const CR = 0x0d
/** An HTTP/1.x request line; anything else (HTTP/0.9, HTTP/2's preface, a TLS ClientHello) is not served. */
const REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/1\.[01]$/

export interface HandoffOptions {
  /** The HTTP gateway that serves whatever is not handed off (it is never listening itself). */
  fallback: HttpServer
  /** Every node of every region, and which are ready: where connections may go. */
  nodes: RegionNodes
  /**
   * Passes the connection to the process of `node` of `region`; false if that is not
   * possible now (its process just ended, say), and then the next ready node is tried.
   */
  handOff(region: string, node: number, socket: Socket, head: Buffer): boolean
  /**
   * The launcher's connection budget, shared with the HTTP gateway: it times out
   * connections that send no request and makes room when there are too many.
   */
  guard: ConnectionGuard
}

/**
 * Decides, as the bytes of a connection's first request head arrive, whether they can
 * still become an HTTP/1.x request head. Decided as early as possible, so that a client
 * speaking something else gets its 400 at once instead of waiting for a blank line that
 * will never come: the first byte must start a method, the request line must be HTTP/1.x,
 * and every line must end in CRLF (a bare LF is refused, as Node's own parser refuses it).
 * Each call looks only at the bytes that arrived since the last one, so a head sent a byte
 * at a time costs a linear scan in all.
 */
class HeadScanner {
  #checked = 0
  #firstLineEnd = -1

  couldBeHttp1(head: Buffer): boolean {
    const first = head[0]
    if (first === undefined) return true
    if (first < 0x41 || first > 0x5a) return false
    const from = this.#checked
    this.#checked = head.length
    if (this.#firstLineEnd < 0) {
      this.#firstLineEnd = head.indexOf(LF, from)
      if (this.#firstLineEnd < 0) return true
      if (head[this.#firstLineEnd - 1] !== CR) return false
      if (!REQUEST_LINE.test(head.toString('latin1', 0, this.#firstLineEnd - 1))) return false
    }
    for (let at = head.indexOf(LF, Math.max(this.#firstLineEnd + 1, from)); at >= 0; at = head.indexOf(LF, at + 1)) {
      if (head[at - 1] !== CR) return false
    }
    return true
  }
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
  const { nodes } = options
  /** Hands the connection to a ready node of `region`, each tried at most once; false if none took it. */
  const handToNode = (region: string, socket: Socket, head: Buffer): boolean => {
    for (let tries = nodes.readyCount(region); tries > 0; tries--) {
      const picked = nodes.pick(region)
      if (picked === undefined) return false
      if (options.handOff(region, picked.node, socket, head)) {
        nodes.countConnection(region, picked.node)
        return true
      }
    }
    return false
  }

  const toGateway = (socket: Socket, head: Buffer): void => {
    socket.pause()
    if (head.length > 0) socket.unshift(head)
    options.fallback.emit('connection', socket)
    socket.resume()
  }

  const { guard } = options
  return createServer({ noDelay: true }, (socket) => {
    if (!guard.admit(socket)) return
    const scanner = new HeadScanner()
    let buffered: Buffer = Buffer.alloc(0)
    // Grown by doubling: a head that arrives a few bytes at a time is copied O(n) in all.
    let storage: Buffer | undefined
    const onData = (chunk: Buffer): void => {
      const checkedBefore = buffered.length
      if (checkedBefore === 0) buffered = chunk
      else {
        if (storage === undefined || storage.length < checkedBefore + chunk.length) {
          const grown = Buffer.allocUnsafe(Math.max(2 * (checkedBefore + chunk.length), 1024))
          buffered.copy(grown)
          storage = grown
        }
        chunk.copy(storage, checkedBefore)
        buffered = storage.subarray(0, checkedBefore + chunk.length)
      }
      const end = buffered.indexOf(HEADER_END, Math.max(0, checkedBefore - HEADER_END.length))
      const headBytes = end < 0 ? buffered : buffered.subarray(0, end + HEADER_END.length)
      if (!scanner.couldBeHttp1(headBytes)) {
        socket.off('data', onData)
        endWithStatus(socket, 400)
        return
      }
      if (end < 0 && buffered.length < MAX_HEAD_BYTES) return
      socket.off('data', onData)
      socket.off('error', onError)
      const head = end < 0 ? undefined : parseHead(headBytes)
      const scope = head === undefined ? undefined : readCredentialScopeUnverified({ url: head.url, headers: head.headers })
      if (scope !== undefined && head?.url !== '/health') {
        const pending = stopReadingAndDrain(socket)
        const everything = pending.length === 0 ? buffered : Buffer.concat([buffered, ...pending])
        if (handToNode(scope.region, socket, everything)) {
          // The region's process has the connection now, and watches it itself.
          guard.release(socket)
          return
        }
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
