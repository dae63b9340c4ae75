/**
 * The console's sessions, in this process's memory only: a session id (the cookie), the
 * session's CSRF token and, once signed in, the user's access key. The secret access key
 * is kept nowhere else: not in a cookie, a URL, a log line or a file; a restart of the
 * launcher signs everyone out.
 *
 * A browser gets an anonymous session with its first page load, so that the sign-in
 * form too is protected by a CSRF token (against login CSRF). Signing in replaces that
 * session with a new one, with a new id and a new token (against session fixation).
 *
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'

export interface ConsoleCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
}

export interface Session {
  readonly id: string
  readonly csrfToken: string
  readonly credentials: ConsoleCredentials | undefined
  readonly createdAt: number
  lastUsedAt: number
}

export interface SessionLimits {
  /** A signed-in session unused this long ends. */
  idleMs: number
  /** A signed-in session ends this long after sign-in, used or not. */
  absoluteMs: number
  /** An anonymous session (a page load that never signed in) ends this long after it began. */
  anonymousMs: number
  /** Sessions of each kind kept at most; the oldest goes first. */
  maxSessions: number
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  idleMs: 30 * 60_000,
  absoluteMs: 12 * 60 * 60_000,
  anonymousMs: 60 * 60_000,
  maxSessions: 10_000,
}

/** 256 random bits, URL-safe: unguessable ids and tokens. */
function randomId(): string {
  return randomBytes(32).toString('base64url')
}

/** Compares two tokens in time that does not depend on where they differ. */
export function sameToken(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8')
  const b = Buffer.from(given, 'utf8')
  return a.length === b.length && timingSafeEqual(a, b)
}

export class SessionStore {
  // Two maps, each in creation order: a flood of anonymous page loads can evict only
  // anonymous sessions, never a signed-in user's.
  readonly #anonymous = new Map<string, Session>()
  readonly #signedIn = new Map<string, Session>()
  readonly #limits: SessionLimits
  readonly #now: () => number

  constructor(limits: SessionLimits = DEFAULT_SESSION_LIMITS, now: () => number = Date.now) {
    this.#limits = limits
    this.#now = now
  }

  /** The live session with this id, its use recorded; undefined if there is none (or it expired). */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined
    const now = this.#now()
    const anonymous = this.#anonymous.get(id)
    if (anonymous !== undefined) {
      if (now - anonymous.createdAt <= this.#limits.anonymousMs) return anonymous
      this.#anonymous.delete(id)
      return undefined
    }
    const session = this.#signedIn.get(id)
    if (session === undefined) return undefined
    if (now - session.lastUsedAt > this.#limits.idleMs || now - session.createdAt > this.#limits.absoluteMs) {
      this.#signedIn.delete(id)
      return undefined
    }
    session.lastUsedAt = now
    return session
  }

  createAnonymous(): Session {
    return this.#add(this.#anonymous, undefined)
  }

  /** Ends `previous` (if any) and starts a signed-in session with a new id and token. */
  signIn(previous: Session | undefined, credentials: ConsoleCredentials): Session {
    if (previous !== undefined) this.end(previous)
    return this.#add(this.#signedIn, credentials)
  }

  end(session: Session): void {
    this.#anonymous.delete(session.id)
    this.#signedIn.delete(session.id)
  }

  /** How many sessions are signed in (for tests and the log). */
  get signedInCount(): number {
    return this.#signedIn.size
  }

  #add(map: Map<string, Session>, credentials: ConsoleCredentials | undefined): Session {
    const now = this.#now()
    while (map.size >= this.#limits.maxSessions) {
      const oldest = map.keys().next().value
      if (oldest === undefined) break
      map.delete(oldest)
    }
    const session: Session = { id: randomId(), csrfToken: randomId(), credentials, createdAt: now, lastUsedAt: now }
    map.set(session.id, session)
    return session
  }
}
