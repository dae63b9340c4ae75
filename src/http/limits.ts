/**
 * The limits every Trent listener enforces on its clients (gateway, front door, region
 * API, region replication endpoint, proxy): how long a client may take to send a request,
 * how long an idle connection is kept, and how many connections are held at once. They
 * are what keeps a listener serving well-behaved clients while someone opens thousands
 * of connections and sends nothing, or trickles a body a byte at a time.
 * docs/security.md §"Limits and timeouts" lists them, with their flags.
 *
 * @module
 */
import { readFileSync } from 'node:fs'

export interface ListenerLimits {
  /**
   * A request's header block must be complete this long after the connection opened or
   * the previous answer was sent; a connection that sends nothing is closed after it.
   */
  readonly headersTimeoutMs: number
  /** A whole request, headers and body, must have arrived this long after it began. */
  readonly requestTimeoutMs: number
  /** An idle keep-alive connection (one that was answered) is closed after this long. */
  readonly keepAliveTimeoutMs: number
  /**
   * At most this many client connections are held; a new one past it displaces the
   * longest-idle connection (or, failing that, the slowest sender), never one whose
   * request is being worked on.
   */
  readonly maxConnections: number
}

const MAX_CONNECTIONS_CEILING = 4_096
const MAX_CONNECTIONS_FLOOR = 64

/**
 * The process's limit on open files, where it can be read (Linux's /proc; Node has
 * already raised the soft limit to the hard one at start).
 */
function openFileLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return match?.[1] === undefined ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

/**
 * 4,096 connections, or half the process's file descriptors if that is fewer: a listener
 * must never be the thing that runs its process out of descriptors, which would stop it
 * opening its database, its logs, or a connection to another region.
 */
function defaultMaxConnections(): number {
  const files = openFileLimit()
  if (files === undefined) return MAX_CONNECTIONS_CEILING
  return Math.max(MAX_CONNECTIONS_FLOOR, Math.min(MAX_CONNECTIONS_CEILING, Math.floor(files / 2)))
}

/**
 * Requests to KMS are small (the largest member, a key policy, is 32 KiB) and sent at
 * once by every SDK, so ten seconds for a header block and thirty for a whole request
 * are generous to real clients and short for an attacker. An answered connection is kept
 * a minute, as AWS's load balancers keep idle ones: the AWS SDKs keep idle sockets without
 * a timeout of their own, so a short keep-alive makes a client send on a socket the server
 * is closing (a reset, a failed call where retries are off). Idle connections cost little:
 * they are the first closed when a listener is full. The gateway's and the proxy's own
 * pools idle out after 4 s, far below.
 */
export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 60_000,
  maxConnections: defaultMaxConnections(),
}

/** The replication endpoint's clients are the proxy's delivery pool: a few connections. */
export const REPLICATION_LISTENER_LIMITS: ListenerLimits = {
  ...DEFAULT_LISTENER_LIMITS,
  maxConnections: Math.min(256, DEFAULT_LISTENER_LIMITS.maxConnections),
}

/** The command-line flags that set each limit, shared by every entry point. */
export const LIMIT_FLAGS = {
  'header-timeout-ms': 'headersTimeoutMs',
  'request-timeout-ms': 'requestTimeoutMs',
  'keep-alive-timeout-ms': 'keepAliveTimeoutMs',
  'max-connections': 'maxConnections',
} as const satisfies Record<string, keyof ListenerLimits>

export type LimitFlag = keyof typeof LIMIT_FLAGS

/** parseArgs options for the limit flags. */
export const LIMIT_FLAG_OPTIONS = {
  'header-timeout-ms': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  'keep-alive-timeout-ms': { type: 'string' },
  'max-connections': { type: 'string' },
} as const satisfies Record<LimitFlag, { type: 'string' }>

export const LIMIT_FLAGS_USAGE = `  --header-timeout-ms N     a request's headers must arrive within N ms (default ${DEFAULT_LISTENER_LIMITS.headersTimeoutMs})
  --request-timeout-ms N    a whole request must arrive within N ms (default ${DEFAULT_LISTENER_LIMITS.requestTimeoutMs})
  --keep-alive-timeout-ms N idle connections are closed after N ms (default ${DEFAULT_LISTENER_LIMITS.keepAliveTimeoutMs})
  --max-connections N       client connections held at once per listener (default: ${MAX_CONNECTIONS_CEILING},
                            or half the open-file limit if that is lower; here ${DEFAULT_LISTENER_LIMITS.maxConnections})
`

/**
 * The limits the flags ask for, over `base`. Throws a RangeError naming the flag for a
 * value that is not a positive integer.
 */
export function limitsFromFlags(
  values: Partial<Record<LimitFlag, string | undefined>>,
  base: ListenerLimits = DEFAULT_LISTENER_LIMITS,
): ListenerLimits {
  const limits: Record<keyof ListenerLimits, number> = { ...base }
  for (const [flag, field] of Object.entries(LIMIT_FLAGS) as Array<[LimitFlag, keyof ListenerLimits]>) {
    const text = values[flag]
    if (text === undefined) continue
    const value = Number(text)
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`--${flag} must be a positive integer, not '${text}'`)
    limits[field] = value
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) throw new RangeError('--header-timeout-ms must not exceed --request-timeout-ms')
  return limits
}

/** The same limits as command-line arguments, for a process that starts another. */
export function limitsAsFlags(limits: ListenerLimits): string[] {
  return (Object.entries(LIMIT_FLAGS) as Array<[LimitFlag, keyof ListenerLimits]>).flatMap(([flag, field]) => [
    `--${flag}`,
    String(limits[field]),
  ])
}
