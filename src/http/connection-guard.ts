/**
 * Keeps a listener's connections within its {@link ListenerLimits}: closes a connection
 * that has been waiting for a request longer than the header timeout or receiving one
 * longer than the request timeout, and, when a new connection would pass the maximum,
 * makes room by closing the one that has waited longest.
 *
 * Node's own HTTP timeouts do not cover everything: a connection that never sends a byte
 * is never timed out, the checks run only every 30 s by default, and connections held by
 * the gateway's front door before they become HTTP are not Node's at all. The guard sees
 * them all, whatever speaks on them.
 *
 * A connection is always in one of three states, and the order in which connections are
 * given up follows them:
 * - `waiting` for a request (new, or idle after an answer): given up first, oldest first.
 *   Timed out after the header timeout: closed if it sent nothing, answered 408 if it sent
 *   part of a request head.
 *   An attacker holding connections open is here; a client between requests is too, and
 *   reconnects (every SDK retries a reset connection).
 * - `receiving` a request: given up next, the one receiving longest first. A real
 *   client's request arrives in milliseconds; the oldest receiver is the slowest sender.
 * - `working`: the request is complete and being answered. Never given up: its work is
 *   under way, and it is bounded by the service itself, not by the client.
 *
 * @module
 */
import type { Socket } from 'node:net'
import type { Logger } from '../log/logger.js'
import { endWithStatus } from './bare-answer.js'
import type { ListenerLimits } from './limits.js'

type ConnectionState = 'waiting' | 'receiving' | 'working'

interface Tracked {
  state: ConnectionState
  /** When the connection entered its state (ms, monotonic). */
  since: number
  /** How long it may stay `waiting`: the header timeout when new, keep-alive after an answer. */
  waitLimitMs: number
  /** `socket.bytesRead` then: more read since, while waiting, is a request begun and not finished. */
  bytesReadSince: number
  /** When the sweep first saw such bytes: the header timeout runs from then. */
  partialSince?: number
}

export interface ConnectionGuardStats {
  connections: number
  /** Connections closed to make room for new ones. */
  displaced: number
  /** New connections refused because every held one was working. */
  refused: number
  /** Connections closed by the header or request timeout. */
  timedOut: number
}

export class ConnectionGuard {
  readonly limits: ListenerLimits
  readonly #logger: Logger
  /** Iteration order is the order of the last state change: the first `waiting` entry has waited longest. */
  readonly #connections = new Map<Socket, Tracked>()
  readonly #sweeper: NodeJS.Timeout
  readonly #stats = { displaced: 0, refused: 0, timedOut: 0 }
  #lastFullWarning = 0

  /** `logger` should be rate-limited: what a client does decides how often it is called. */
  constructor(limits: ListenerLimits, logger: Logger) {
    this.limits = limits
    this.#logger = logger
    const sweepEveryMs = Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4)))
    this.#sweeper = setInterval(() => this.#sweep(), sweepEveryMs)
    this.#sweeper.unref()
  }

  get stats(): ConnectionGuardStats {
    return { connections: this.#connections.size, ...this.#stats }
  }

  /**
   * Takes a new connection in, as `waiting`; false if it was refused (and destroyed). A
   * connection already held is left as it is.
   */
  admit(socket: Socket): boolean {
    if (this.#connections.has(socket)) return true
    if (socket.destroyed) return false
    if (this.#connections.size >= this.limits.maxConnections && !this.#makeRoom()) {
      this.#stats.refused += 1
      this.#warnFull()
      socket.destroy()
      return false
    }
    this.#connections.set(socket, {
      state: 'waiting',
      since: performance.now(),
      waitLimitMs: this.limits.headersTimeoutMs,
      bytesReadSince: socket.bytesRead,
    })
    socket.once('close', () => this.#connections.delete(socket))
    return true
  }

  waiting(socket: Socket): void {
    this.#enter(socket, 'waiting')
  }

  receiving(socket: Socket): void {
    this.#enter(socket, 'receiving')
  }

  working(socket: Socket): void {
    this.#enter(socket, 'working')
  }

  /** Stops watching a connection that is still open: it was handed to another process. */
  release(socket: Socket): void {
    this.#connections.delete(socket)
  }

  close(): void {
    clearInterval(this.#sweeper)
  }

  #enter(socket: Socket, state: ConnectionState): void {
    if (!this.#connections.has(socket)) return
    // Deleted and set again, so that the map's order stays the order of state changes.
    this.#connections.delete(socket)
    // Only an answered connection waits for its next request as long as keep-alive allows.
    const waitLimitMs = state === 'waiting' ? this.limits.keepAliveTimeoutMs : this.limits.headersTimeoutMs
    this.#connections.set(socket, { state, since: performance.now(), waitLimitMs, bytesReadSince: socket.bytesRead })
  }

  #makeRoom(): boolean {
    const victim = this.#first('waiting') ?? this.#first('receiving')
    if (victim === undefined) return false
    this.#connections.delete(victim)
    victim.destroy()
    this.#stats.displaced += 1
    this.#warnFull()
    return true
  }

  #first(state: ConnectionState): Socket | undefined {
    for (const [socket, tracked] of this.#connections) if (tracked.state === state) return socket
    return undefined
  }

  #warnFull(): void {
    const now = performance.now()
    if (now - this.#lastFullWarning < 10_000) return
    this.#lastFullWarning = now
    this.#logger.warn('connection limit reached: closing the connections that waited longest', {
      maxConnections: this.limits.maxConnections,
      displaced: this.#stats.displaced,
      refused: this.#stats.refused,
    })
  }

  #sweep(): void {
    const now = performance.now()
    for (const [socket, tracked] of this.#connections) {
      const age = now - tracked.since
      if (tracked.state === 'waiting') {
        const partial = socket.bytesRead > tracked.bytesReadSince
        if (partial) tracked.partialSince ??= now
        if (tracked.partialSince !== undefined && now - tracked.partialSince > this.limits.headersTimeoutMs) {
          // Part of a request head, and no more for too long: answered, as a request.
          this.#timeOut(socket, true)
        } else if (!partial && age > tracked.waitLimitMs) {
          // Silent for too long: just closed.
          this.#timeOut(socket, false)
        }
      } else if (tracked.state === 'receiving' && age > this.limits.requestTimeoutMs) {
        this.#timeOut(socket, true)
      }
    }
  }

  #timeOut(socket: Socket, answer: boolean): void {
    this.#connections.delete(socket)
    this.#stats.timedOut += 1
    this.#logger.debug('connection timed out', { answered: answer })
    if (answer && socket.writable) {
      endWithStatus(socket, 408)
    } else {
      socket.destroy()
    }
  }
}
