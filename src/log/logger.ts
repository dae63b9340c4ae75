/**
 * Structured JSON-lines logging. A log line carries identifiers, names and numbers;
 * callers never pass request bodies, plaintexts, data keys or key material, and the
 * logger drops any field whose name says it could hold one, as a second line of defence.
 *
 * @module
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/** Field names that must never reach a log line, whatever a caller passes. */
const FORBIDDEN_FIELDS = /plaintext|ciphertext|token|secret|material|password|blob|body/i

export type LogFields = Record<string, string | number | boolean | undefined | null>

export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  child(fields: LogFields): Logger
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  return value !== undefined && value in LEVELS ? (value as LogLevel) : fallback
}

export function createLogger(
  base: LogFields = {},
  level: LogLevel = parseLogLevel(process.env.TRENT_LOG_LEVEL),
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const threshold = LEVELS[level]
  const emit = (lineLevel: LogLevel, message: string, fields?: LogFields): void => {
    if (LEVELS[lineLevel] < threshold) return
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: lineLevel, msg: message }
    for (const source of [base, fields ?? {}]) {
      for (const [name, value] of Object.entries(source)) {
        if (value !== undefined && !FORBIDDEN_FIELDS.test(name)) record[name] = value
      }
    }
    write(`${JSON.stringify(record)}\n`)
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, level, write),
  }
}

export interface RateLimit {
  /** Lines of one message allowed in a burst. */
  burst: number
  /** Lines of one message allowed per second once the burst is spent. */
  perSecond: number
}

/** What a client alone can make a listener log: a burst of 20 lines per message, then 2 a second. */
export const CLIENT_TRIGGERED_LOG_RATE: RateLimit = { burst: 20, perSecond: 2 }

/**
 * A logger whose lines are rate-limited per message text, for what clients can trigger
 * before they are authenticated (malformed requests, refused signatures, dropped
 * connections): without a limit, anyone who can reach a port decides how much Trent logs.
 * Each message has a token bucket; lines past it are counted, and the next line that gets
 * through says how many of its kind were left out (`suppressed`).
 */
export function rateLimited(logger: Logger, limit: RateLimit = CLIENT_TRIGGERED_LOG_RATE): Logger {
  const buckets = new Map<string, { tokens: number; refilledAt: number; suppressed: number }>()
  const admit = (message: string): number | undefined => {
    const now = performance.now()
    let bucket = buckets.get(message)
    if (bucket === undefined) {
      // Bounded: the message texts are the callers' constants, but a caller might not be careful.
      if (buckets.size >= 1_000) buckets.clear()
      bucket = { tokens: limit.burst, refilledAt: now, suppressed: 0 }
      buckets.set(message, bucket)
    }
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * limit.perSecond)
    bucket.refilledAt = now
    if (bucket.tokens < 1) {
      bucket.suppressed += 1
      return undefined
    }
    bucket.tokens -= 1
    const suppressed = bucket.suppressed
    bucket.suppressed = 0
    return suppressed
  }
  const limited =
    (write: (message: string, fields?: LogFields) => void) =>
    (message: string, fields?: LogFields): void => {
      const suppressed = admit(message)
      if (suppressed === undefined) return
      write(message, suppressed > 0 ? { ...fields, suppressed } : fields)
    }
  return {
    debug: limited(logger.debug),
    info: limited(logger.info),
    warn: limited(logger.warn),
    error: limited(logger.error),
    child: (fields) => rateLimited(logger.child(fields), limit),
  }
}
