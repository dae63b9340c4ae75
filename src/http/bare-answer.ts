/**
 * A bare HTTP/1.1 status and a closed connection: what a listener answers when there is no
 * request to answer properly (malformed HTTP, a request that ran out of time).
 *
 * @module
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'

/** A socket asked to end is destroyed after this, whether or not its peer reads the answer. */
const END_GRACE_MS = 1_000

/** Writes a bare HTTP/1.1 status with no body and closes the connection. */
export function endWithStatus(socket: Duplex, status: number): void {
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  setTimeout(() => socket.destroy(), END_GRACE_MS).unref()
}
