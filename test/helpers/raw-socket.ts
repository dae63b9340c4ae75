/**
 * Raw TCP clients for tests that must behave as no HTTP client would: send nothing, send
 * half a request, trickle a body, speak TLS or HTTP/0.9 to an HTTP port.
 */
import { connect, type Socket } from 'node:net'

export interface RawConnection {
  socket: Socket
  /** Resolves when the server closed the connection (or it failed): never rejects. */
  closed: Promise<void>
  isClosed(): boolean
  /** Everything the server sent so far, as latin1 text. */
  received(): string
}

export function openRaw(port: number, firstBytes?: string | Uint8Array, host = '127.0.0.1'): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host })
    const chunks: Buffer[] = []
    let closed = false
    const closedPromise = new Promise<void>((done) => {
      socket.on('close', () => {
        closed = true
        done()
      })
    })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    // A reset by the server is one way of closing; the test looks at `closed`, not at errors.
    socket.on('error', () => undefined)
    socket.once('connect', () => {
      if (firstBytes !== undefined) socket.write(firstBytes)
      resolve({
        socket,
        closed: closedPromise,
        isClosed: () => closed,
        received: () => Buffer.concat(chunks).toString('latin1'),
      })
    })
    socket.once('error', (err) => {
      if (!socket.connecting) return
      reject(err)
    })
  })
}

/** Waits for `connection` to be closed by the server; throws after `timeoutMs`. */
export async function closedWithin(connection: RawConnection, timeoutMs: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      connection.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: the server did not close the connection within ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** The first bytes of a TLS 1.2 ClientHello: what an https:// client sends to an http port. */
export const TLS_CLIENT_HELLO = Buffer.from(
  '16030100a5010000a10303' +
    '00'.repeat(32) +
    '000020c02bc02fc02cc030cca9cca8c009c013c00ac014009c009d002f0035c012000a01000058000000140012000000' +
    '00'.repeat(20),
  'hex',
)
