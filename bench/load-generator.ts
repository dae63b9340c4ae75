/**
 * The load generator: a child process of bench/run.ts so that autocannon's event loop
 * shares no thread with the driver (which only waits) nor with any server under test.
 * Takes one LoadJob at a time over IPC, answers with a LoadResult, exits with its parent.
 *
 * @module
 */
import autocannon from 'autocannon'
import type { LatencySummary, LoadGeneratorMessage, LoadJob, LoadResult } from './load-protocol.js'

function send(message: LoadGeneratorMessage): void {
  process.send?.(message)
}

function runOnce(job: LoadJob, durationSeconds: number, onLatency?: (ms: number) => void): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: durationSeconds,
        pipelining: 1,
        timeout: 10,
        excludeErrorStats: true,
        // autocannon mutates the request objects it is given (it caches encoded buffers on
        // them): give every run its own copies.
        requests: job.requests.map((request) => ({ ...request, headers: { ...request.headers } })),
      },
      (err, result) => (err !== null ? reject(err) : resolve(result)),
    )
    if (onLatency !== undefined) {
      // autocannon's own latency histogram keeps whole milliseconds; a server that answers
      // in 2.4 ms would read 2. The 'response' event carries the hrtime-based duration.
      instance.on('response', (_client: unknown, statusCode: number, _resBytes: number, responseTime: number) => {
        if (statusCode >= 200 && statusCode < 300) onLatency(responseTime)
      })
    }
  })
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)
  return sorted[Math.max(0, index)] ?? Number.NaN
}

function summarise(latencies: number[]): LatencySummary {
  const sorted = Float64Array.from(latencies).sort()
  let total = 0
  for (const value of sorted) total += value
  return {
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    mean: sorted.length === 0 ? Number.NaN : total / sorted.length,
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN),
  }
}

async function runJob(job: LoadJob): Promise<LoadResult> {
  // The warm-up lets the server's JIT, connection pool and caches settle; its numbers are dropped.
  if (job.warmupSeconds > 0) await runOnce(job, job.warmupSeconds)
  const latencies: number[] = []
  const result = await runOnce(job, job.durationSeconds, (ms) => latencies.push(ms))
  const statusCodes: Record<string, number> = {}
  for (const [code, stats] of Object.entries(result.statusCodeStats)) statusCodes[code] = stats.count
  return {
    requestsPerSecond: result['2xx'] / result.duration,
    latencyMs: summarise(latencies),
    completed2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationSeconds: result.duration,
    statusCodes,
  }
}

// Jobs run one after another: two at once would measure each other.
let queue: Promise<void> = Promise.resolve()
process.on('message', (message: LoadJob) => {
  if (message.type !== 'job') return
  queue = queue.then(async () => {
    try {
      send({ type: 'result', id: message.id, result: await runJob(message) })
    } catch (err: unknown) {
      send({ type: 'failed', id: message.id, message: err instanceof Error ? err.message : String(err) })
    }
  })
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
