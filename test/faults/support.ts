/**
 * What the fault tests (test/faults/*.test.ts) share: reading the nodes' JSON log lines
 * off the launcher's stdout (which node served a request, who holds the region's lease),
 * clients pinned to one node, and deadlines that turn a hang into a failure.
 *
 * No timing assertions anywhere: a deadline here only bounds how long a test may wait.
 */
import assert from 'node:assert/strict'
import { KMSServiceException, type KMSClient } from '@aws-sdk/client-kms'
import { kmsClient, waitFor, type RunningPartition } from '../helpers/partition.js'

/** One JSON log line of a node (or of the launcher), as far as these tests read it. */
interface LogLine {
  time?: string
  level?: string
  msg?: string
  region?: string
  node?: number
  requestId?: string
  [field: string]: unknown
}

/**
 * Every JSON log line the launcher relayed so far, in order. The partition helper keeps
 * the last MiB of output only: compare lines by their `time`, not by their position.
 */
export function logLines(partition: RunningPartition): LogLine[] {
  const lines: LogLine[] = []
  for (const text of partition.output().stdout.split('\n')) {
    if (!text.startsWith('{')) continue
    try {
      lines.push(JSON.parse(text) as LogLine)
    } catch {
      // a line cut by the output cap
    }
  }
  return lines
}

/**
 * Request id → the node that served it, from the nodes' log lines that name a request id:
 * `request` (a success, logged at debug level: start the partition with
 * TRENT_LOG_LEVEL=debug), `request failed`, `store unavailable`, `internal error`.
 */
export function servedRequests(partition: RunningPartition): Map<string, { region: string; node: number }> {
  const served = new Map<string, { region: string; node: number }>()
  for (const line of logLines(partition)) {
    if (typeof line.requestId === 'string' && typeof line.region === 'string' && typeof line.node === 'number') {
      served.set(line.requestId, { region: line.region, node: line.node })
    }
  }
  return served
}

/** Waits until every one of `requestIds` was logged by a node; returns who served each. */
export async function nodesThatServed(
  partition: RunningPartition,
  requestIds: readonly string[],
  timeoutMs = 60_000,
): Promise<Map<string, { region: string; node: number }>> {
  return waitFor(
    `the nodes' logs to show ${requestIds.length} requests`,
    () => {
      const served = servedRequests(partition)
      return requestIds.every((id) => served.has(id)) ? served : undefined
    },
    { timeoutMs },
  )
}

export interface LeaseEvent {
  /** When the node logged it (epoch ms, from the line's `time`): compare with Date.now() taken before an action. */
  at: number
  region: string
  node: number
  taken: boolean
}

/** Every "took/lost the region lease" line of `region`, in log order. */
export function leaseEvents(partition: RunningPartition, region: string): LeaseEvent[] {
  const events: LeaseEvent[] = []
  for (const line of logLines(partition)) {
    if (line.region !== region || typeof line.node !== 'number' || typeof line.msg !== 'string') continue
    const at = Date.parse(line.time ?? '')
    if (line.msg.startsWith('took the region lease')) events.push({ at, region, node: line.node, taken: true })
    else if (line.msg.startsWith('lost the region lease')) events.push({ at, region, node: line.node, taken: false })
  }
  return events
}

/** An SDK client (default settings) that talks to one node's own port, bypassing the gateway. */
export function nodeClient(partition: RunningPartition, region: string, node: number): KMSClient {
  const port = partition.regionNodes.get(region)?.get(node)?.port
  assert.ok(port !== undefined, `node ${node} of ${region} serves`)
  return kmsClient(partition, region, { endpoint: `http://127.0.0.1:${port}` })
}

/** The pids of every serving node of `region`, by node id. */
export function nodePids(partition: RunningPartition, region: string): Map<number, number> {
  return new Map([...(partition.regionNodes.get(region) ?? new Map())].map(([node, serving]) => [node, serving.pid]))
}

/** Polls `call` until it stops failing with NotFoundException (a node that has not caught up yet). */
export async function onceFound<T>(what: string, call: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  return waitFor(
    what,
    async () => {
      try {
        return await call()
      } catch (err) {
        if (err instanceof KMSServiceException && err.name === 'NotFoundException') return undefined
        throw err
      }
    },
    { timeoutMs },
  )
}

/** Polls `call` until it succeeds, whatever it fails with meanwhile; on timeout, says what it last failed with. */
export async function eventually<T>(what: string, call: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  let last: unknown
  try {
    return await waitFor(
      what,
      async () => {
        try {
          return await call()
        } catch (err) {
          last = err
          return undefined
        }
      },
      { timeoutMs, intervalMs: 250 },
    )
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last failure: ${describeError(last)}`, { cause: err })
  }
}

/** Settles `promise`, or fails after `ms` (a hang made into a failure, not a timing assertion). */
export async function settleWithin<T>(
  what: string,
  promise: Promise<T>,
  ms: number,
): Promise<PromiseSettledResult<T> & { elapsedMs: number }> {
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (a hang)`)), ms)
  })
  try {
    const value = await Promise.race([promise, deadline])
    return { status: 'fulfilled', value, elapsedMs: Date.now() - started }
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(`${what}: no answer within`)) throw err
    return { status: 'rejected', reason: err, elapsedMs: Date.now() - started }
  } finally {
    clearTimeout(timer)
  }
}

export function describeError(err: unknown): string {
  if (err === undefined) return 'none'
  if (err instanceof KMSServiceException)
    return `${err.name} (HTTP ${err.$metadata.httpStatusCode ?? '?'}, ${err.$metadata.attempts ?? '?'} attempts): ${err.message}`
  if (err instanceof Error)
    return `${err.name}: ${err.message}${(err as { code?: unknown }).code !== undefined ? ` (${String((err as { code?: unknown }).code)})` : ''}`
  return String(err)
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
