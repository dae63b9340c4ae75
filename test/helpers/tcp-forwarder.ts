/**
 * A TCP forwarder for tests: what a virtual IP, HAProxy or PgBouncer in front of a
 * PostgreSQL primary does during a failover, reduced to its essence. Clients connect to
 * its port; each connection is piped to the current target port on loopback. `retarget`
 * sends new connections elsewhere and ends the ones in flight, as a moved virtual IP or
 * a proxy that follows the new leader does.
 *
 *   const forwarder = await startTcpForwarder(primary.port)
 *   // ... clients use forwarder.port
 *   forwarder.retarget(standby.port)
 *   after(() => forwarder.close())
 *
 * @module
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface TcpForwarder {
  /** The loopback port it listens on (below 32768). */
  readonly port: number
  /** Where new connections go now. */
  readonly target: number
  /** New connections go to `port`; those in flight are ended (destroyed, both sides). */
  retarget(port: number): void
  /** Stops listening and ends every connection. */
  close(): Promise<void>
}

const forwarders = new Set<TcpForwarder>()

/** Closes every forwarder started here; for `after()` hooks. */
export async function closeAllTcpForwarders(): Promise<void> {
  await Promise.all([...forwarders].map((forwarder) => forwarder.close()))
}

function listenOnFreePort(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    let attempts = 0
    const attempt = (): void => {
      const port = 20_000 + Math.floor(Math.random() * 12_000)
      const onError = (err: NodeJS.ErrnoException): void => {
        if (err.code === 'EADDRINUSE' && ++attempts < 50) attempt()
        else reject(err)
      }
      server.once('error', onError)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', onError)
        resolve(port)
      })
    }
    attempt()
  })
}

export async function startTcpForwarder(targetPort: number): Promise<TcpForwarder> {
  let target = targetPort
  const pairs = new Set<[Socket, Socket]>()
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const end = (): void => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    for (const socket of pair) {
      socket.on('error', end)
      socket.on('close', end)
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  const port = await listenOnFreePort(server)
  let closed: Promise<void> | undefined
  const forwarder: TcpForwarder = {
    port,
    get target() {
      return target
    },
    retarget(next) {
      target = next
      for (const [client, upstream] of pairs) {
        client.destroy()
        upstream.destroy()
      }
      pairs.clear()
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const [client, upstream] of pairs) {
          client.destroy()
          upstream.destroy()
        }
        pairs.clear()
        server.close(() => resolve())
      }).finally(() => forwarders.delete(forwarder))
      return closed
    },
  }
  forwarders.add(forwarder)
  return forwarder
}
