/**
 * The part of autocannon 8's programmatic API the benchmark uses. autocannon ships no
 * types; this declares only what bench/load-generator.ts calls, as the README documents it.
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  namespace autocannon {
    interface Request {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string | Buffer
    }

    interface Options {
      url: string
      connections?: number
      /** Seconds. */
      duration?: number
      pipelining?: number
      /** Seconds before a request counts as a timeout. */
      timeout?: number
      method?: string
      headers?: Record<string, string>
      body?: string | Buffer
      /** Each connection walks this array in order and starts again at its end. */
      requests?: Request[]
      /** Disables latency tracking of non-2xx answers, so errors do not flatter latency. */
      excludeErrorStats?: boolean
    }

    /** hdr-histogram-percentiles-obj: the fields read here. */
    interface Histogram {
      average: number
      mean: number
      stddev: number
      min: number
      max: number
      p50: number
      p99: number
    }

    interface Result {
      duration: number
      errors: number
      timeouts: number
      non2xx: number
      '2xx': number
      latency: Histogram
      requests: Histogram
      statusCodeStats: Record<string, { count: number }>
    }

    interface Instance extends EventEmitter {
      stop(): void
      on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): this
      on(event: 'done', listener: (result: Result) => void): this
      on(event: string, listener: (...args: unknown[]) => void): this
    }
  }

  function autocannon(options: autocannon.Options, callback: (err: Error | null, result: autocannon.Result) => void): autocannon.Instance

  export = autocannon
}
