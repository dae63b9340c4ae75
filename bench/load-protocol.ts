/**
 * Messages between the benchmark driver (bench/run.ts) and its load-generator child
 * (bench/load-generator.ts). Plain data: they cross a process boundary as JSON.
 *
 * @module
 */

/** One HTTP request, ready to send byte for byte (already signed: `host` included). */
export interface WireRequest {
  method: 'POST'
  path: string
  headers: Record<string, string>
  body: string
}

export interface LoadJob {
  type: 'job'
  id: number
  url: string
  connections: number
  warmupSeconds: number
  durationSeconds: number
  /** Every connection cycles through these in order. */
  requests: WireRequest[]
  /**
   * 'keep-alive': bench/socket-replayer.ts, each connection reused for every request. 'per-request': a
   * new connection for each request (node:http), for servers that answer
   * `Connection: close` on every request (moto's Werkzeug does).
   */
  connectionMode: 'keep-alive' | 'per-request'
  /**
   * Who sends a keep-alive load: 'wrk' (bench/wrk-replayer.ts, when the machine has wrk)
   * or 'node' (bench/socket-replayer.ts). A per-request load is always node:http.
   */
  engine: LoadEngine
}

export type LoadEngine = 'wrk' | 'node'

export interface LatencySummary {
  p50: number
  p99: number
  mean: number
  max: number
}

export interface LoadResult {
  /** 2xx answers per second over the measured window (warm-up excluded). */
  requestsPerSecond: number
  /** Of 2xx answers only, in milliseconds, with sub-millisecond precision. */
  latencyMs: LatencySummary
  completed2xx: number
  non2xx: number
  /** Connection errors, timeouts included. */
  errors: number
  timeouts: number
  durationSeconds: number
  statusCodes: Record<string, number>
}

export type LoadGeneratorMessage =
  | { type: 'ready' }
  /** Warm-up over: the measured window starts now. */
  | { type: 'measuring'; id: number }
  | { type: 'result'; id: number; result: LoadResult }
  | { type: 'failed'; id: number; message: string }
