/**
 * The load generator: a child process of bench/run.ts so that the load's event loop
 * shares no thread with the driver (which only waits) nor with any server under test.
 * Takes one LoadJob at a time over IPC, answers with a LoadResult, exits with its parent.
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { replay, type ReplayRun } from './socket-replayer.js'
import { replayWithWrk } from './wrk-replayer.js'
import type { LatencySummary, LoadGeneratorMessage, LoadJob, LoadResult, WireRequest } from './load-protocol.js'

/**
 * What one timed run saw. Latencies go to the callback as they come, or (wrk, which
 * keeps them in its own histogram) arrive summarised.
 */
type RawRun = ReplayRun & { latencyMs?: LatencySummary }

type LatencySink = (milliseconds: number) => void

const REQUEST_TIMEOUT_SECONDS = 10

function send(message: LoadGeneratorMessage): void {
  process.send?.(message)
}

/** wrk's scripts (one per job) go here; removed when the process exits. */
const scriptDir = mkdtempSync(join(tmpdir(), 'trent-load-'))
process.on('exit', () => rmSync(scriptDir, { recursive: true, force: true }))

function runKeepAlive(job: LoadJob, durationSeconds: number, onLatency?: LatencySink): Promise<RawRun> {
  if (job.engine === 'wrk') {
    return replayWithWrk({
      url: new URL(job.url),
      connections: job.connections,
      durationSeconds,
      requests: job.requests,
      timeoutSeconds: REQUEST_TIMEOUT_SECONDS,
      scriptPath: join(scriptDir, `job-${job.id}.lua`),
    })
  }
  return replay({
    url: new URL(job.url),
    connections: job.connections,
    durationSeconds,
    requests: job.requests,
    timeoutSeconds: REQUEST_TIMEOUT_SECONDS,
    ...(onLatency !== undefined ? { onLatency } : {}),
  })
}

/** One request on a connection of its own; resolves with the status, or undefined on error. */
function sendOnNewConnection(url: URL, wire: WireRequest): Promise<number | 'timeout' | 'error'> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { method: wire.method, headers: wire.headers, agent: false, timeout: REQUEST_TIMEOUT_SECONDS * 1000 },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
        res.on('error', () => resolve('error'))
      },
    )
    req.on('timeout', () => {
      req.destroy()
      resolve('timeout')
    })
    req.on('error', () => resolve('error'))
    req.end(wire.body)
  })
}

/** `job.connections` loops, each sending one request per new connection until time is up. */
async function runPerRequest(job: LoadJob, durationSeconds: number, onLatency?: LatencySink): Promise<RawRun> {
  const run: RawRun = { completed2xx: 0, non2xx: 0, errors: 0, timeouts: 0, durationSeconds: 0, statusCodes: {} }
  const url = new URL(job.url)
  const started = performance.now()
  const deadline = started + durationSeconds * 1000
  async function loop(offset: number): Promise<void> {
    for (let index = offset; performance.now() < deadline; index++) {
      const wire = job.requests[index % job.requests.length]
      if (wire === undefined) return
      const sent = performance.now()
      const outcome = await sendOnNewConnection(url, wire)
      if (outcome === 'timeout') {
        run.timeouts++
        run.errors++
      } else if (outcome === 'error') {
        run.errors++
      } else {
        run.statusCodes[outcome] = (run.statusCodes[outcome] ?? 0) + 1
        if (outcome >= 200 && outcome < 300) {
          run.completed2xx++
          onLatency?.(performance.now() - sent)
        } else {
          run.non2xx++
        }
      }
    }
  }
  await Promise.all(Array.from({ length: job.connections }, (_, connection) => loop(connection)))
  run.durationSeconds = (performance.now() - started) / 1000
  return run
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
  const runner = job.connectionMode === 'keep-alive' ? runKeepAlive : runPerRequest
  // The warm-up lets JITs, connection pools and caches settle; its numbers are dropped.
  if (job.warmupSeconds > 0) await runner(job, job.warmupSeconds)
  send({ type: 'measuring', id: job.id })
  const latencies: number[] = []
  const run = await runner(job, job.durationSeconds, (ms) => latencies.push(ms))
  return {
    requestsPerSecond: run.completed2xx / run.durationSeconds,
    latencyMs: run.latencyMs ?? summarise(latencies),
    completed2xx: run.completed2xx,
    non2xx: run.non2xx,
    errors: run.errors,
    timeouts: run.timeouts,
    durationSeconds: run.durationSeconds,
    statusCodes: run.statusCodes,
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
