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
