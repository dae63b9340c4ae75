/**
 * What the fuzzer fuzzes: a partition it starts itself with the real launcher (the
 * default), or one someone already runs (`--endpoint`). Either way it offers the gateway
 * endpoint, the regions, the credentials, and a crash watch.
 *
 * Crashes of an own partition are seen the way the launcher reports them over IPC: a
 * `region-exit` message drops the region's pid from `regionPids` and a restart brings a
 * new one (test/helpers/partition.ts keeps both maps from those messages); the launcher
 * itself exiting is a crash too. For an endpoint someone else runs, only /health can tell.
 *
 * @module
 */
import { getHealth, startPartition, type RunningPartition } from '../test/helpers/partition.js'
import type { Endpoint } from './http-client.js'
import type { Credentials } from './signer.js'

export interface CrashEvent {
  atMs: number
  what: string
  /** The region's own last words (its stderr, as the launcher relayed it), if any. */
  output: string
}

export interface HealthAnswer {
  status: number
  body: string
}

export interface Target {
  readonly description: string
  readonly url: string
  readonly endpoint: Endpoint
  readonly regions: readonly string[]
  readonly credentials: Credentials
  /** Crashes seen so far (a live list). */
  readonly crashes: readonly CrashEvent[]
  health(): Promise<HealthAnswer>
  /** What the server logged about a request (its 500's detail), where the fuzzer can see the logs. */
  serverLog(requestId: string): string | undefined
  stop(): Promise<void>
}

const CRASH_POLL_MS = 100
/** How much of a dead region's output goes into a finding. */
const LAST_WORDS_LINES = 40

function endpointOf(url: string): Endpoint {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: Number(parsed.port === '' ? 80 : parsed.port) }
}

/** The lines the launcher relayed from `region` (prefixed `[region] `) and its own notes about it. */
function lastWordsOf(partition: RunningPartition, region: string): string {
  const lines = partition
    .output()
    .stderr.split('\n')
    .filter((line) => line.startsWith(`[${region}] `) || (line.startsWith('trent: region ') && line.includes(region)))
  return lines.slice(-LAST_WORDS_LINES).join('\n')
}

/** Starts a partition with the real launcher (test/helpers/partition.ts) and fuzzes that. */
export async function startOwnPartition(regions: readonly string[]): Promise<Target> {
  // Every refused request logs a line at info level; a fuzz run refuses tens of thousands.
  // Errors (a 500's detail, a crash) are still logged.
  return partitionTarget(
    await startPartition({ regions, timeoutMs: 60_000, env: { TRENT_LOG_LEVEL: process.env.TRENT_LOG_LEVEL ?? 'warn' } }),
  )
}

/** A partition started with test/helpers/partition.ts as a target; stopping the target stops it. */
export function partitionTarget(partition: RunningPartition): Target {
  const crashes: CrashEvent[] = []
  const knownPids = new Map(partition.regionPids)
  const reported = new Set<string>()
  let launcherGone = false
  let stopping = false
  void partition.exited.then((status) => {
    launcherGone = true
    if (!stopping)
      crashes.push({
        atMs: Date.now(),
        what: `the launcher exited (code ${status.code}, signal ${status.signal})`,
        output: partition.output().stderr.split('\n').slice(-LAST_WORDS_LINES).join('\n'),
      })
  })
  const watch = setInterval(() => {
    if (stopping || launcherGone) return
    for (const region of partition.regions) {
      const before = knownPids.get(region)
      const now = partition.regionPids.get(region)
      if (now === before) continue
      // Gone (a region-exit message), or serving from another process (a restart we missed the exit of).
      const key = `${region}:${before ?? '?'}`
      if (before !== undefined && !reported.has(key)) {
        reported.add(key)
        crashes.push({
          atMs: Date.now(),
          what: `region ${region} (pid ${before}) exited${now !== undefined ? `; pid ${now} serves now` : ''}`,
          output: lastWordsOf(partition, region),
        })
      }
      if (now !== undefined) knownPids.set(region, now)
    }
  }, CRASH_POLL_MS)
  watch.unref()
  return {
    description: `own partition (launcher pid ${partition.pid}, ${partition.regions.join(', ')}) at ${partition.gatewayUrl}`,
    url: partition.gatewayUrl,
    endpoint: endpointOf(partition.gatewayUrl),
    regions: partition.regions,
    credentials: partition.credentials,
    crashes,
    serverLog(requestId) {
      const lines = partition
        .output()
        .stdout.split('\n')
        .filter((line) => line.includes(requestId))
      return lines.length === 0 ? undefined : lines.slice(0, 3).join('\n')
    },
    async health() {
      const report = await getHealth(partition).catch((err: unknown) => ({ status: 0, body: { error: String(err) } }))
      return { status: report.status, body: JSON.stringify(report.body) }
    },
    async stop() {
      stopping = true
      clearInterval(watch)
      await partition.stop()
    },
  }
}

export async function attachToEndpoint(url: string, regions: readonly string[] | undefined, credentials: Credentials): Promise<Target> {
  const crashes: CrashEvent[] = []
  const health = async (): Promise<HealthAnswer> => {
    try {
      const response = await fetch(new URL('/health', url), { signal: AbortSignal.timeout(10_000) })
      return { status: response.status, body: await response.text() }
    } catch (err) {
      return { status: 0, body: String(err) }
    }
  }
  const first = await health()
  let served = regions
  if (served === undefined) {
    try {
      served = Object.keys((JSON.parse(first.body) as { regions?: Record<string, unknown> }).regions ?? {})
    } catch {
      served = []
    }
    if (served.length === 0) served = ['us-east-1']
  }
  // Someone else's partition: a /health that stops answering 200 is all a crash can look like.
  let healthy = first.status === 200
  const watch = setInterval(() => {
    void health().then((answer) => {
      if (healthy && answer.status !== 200)
        crashes.push({ atMs: Date.now(), what: `/health answered ${answer.status}`, output: answer.body.slice(0, 2000) })
      healthy = answer.status === 200
    })
  }, 2_000)
  watch.unref()
  return {
    description: `the partition at ${url} (${served.join(', ')})`,
    url,
    endpoint: endpointOf(url),
    regions: served,
    credentials,
    crashes,
    health,
    serverLog: () => undefined,
    stop() {
      clearInterval(watch)
      return Promise.resolve()
    },
  }
}
