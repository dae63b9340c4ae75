/**
 * `npm run bench:replication` (and the end of `npm run bench`): how fast a multi-Region key
 * replicates, next to what the protocol's P-384 cryptography costs on this machine.
 *
 * One run:
 *   1. the P-384 floor (bench/p384-floor.ts), and the cost of the other things every hop
 *      pays: a durable SQLite commit (WAL, synchronous=FULL: one fsync) on the data
 *      directory's file system, a keep-alive HTTP POST over loopback, a worker-thread
 *      message round trip;
 *   2. a fresh partition, started as a user does (`node dist/src/partition/main.js --port 0
 *      --regions us-east-1,eu-west-1 --data-dir <temp>`, credentials in the environment,
 *      default reconciliation interval, log level info), and N multi-Region primary keys
 *      created in us-east-1;
 *   3. latency: keys replicated to eu-west-1 one at a time; t0 just before ReplicateKey is
 *      written, t1 when a DescribeKey in eu-west-1 first answers `Enabled`, polled on a
 *      keep-alive connection every --poll-interval-ms (1) from half the fastest replication
 *      so far on. On two cores each poll (≈ 0.4–0.9 ms of CPU across processes) takes CPU
 *      from the replication it watches: polling back to back from t0 made 50–70 polls per
 *      replication and raised the p50 by 10–20 ms on this machine; every 1 ms from half
 *      the fastest, ~7 polls (≈ 4 ms of CPU per replication). A replica already Enabled
 *      at its first poll is counted (its latency is then overstated). The proxy's own log
 *      (`envelope delivered`, ms resolution) dates each replica's commit with no polling
 *      involved, and splits each latency into its three hops. Before the next key, the run
 *      waits until the proxy has delivered all 5 envelopes of this replication, so no
 *      replication's tail overlaps the next one;
 *   4. throughput: the next keys replicated at once, at most --concurrency ReplicateKey
 *      calls in flight, timed until the proxy has delivered every MaterialTransfer (each
 *      replica is Enabled once its MaterialTransfer is applied; checked with DescribeKey
 *      afterwards) and until every envelope is delivered; with the CPU each process used
 *      per replication (Linux /proc, bench/cpu-usage.ts);
 *   5. the cost of polling (CPU per DescribeKey in eu-west-1) and, unless --no-trace, a
 *      second fresh partition at log level debug, where the proxy's `envelope stored` and
 *      each region's `replication message` lines time each hop's two halves (send: sign,
 *      POST, proxy fsync; apply: deliver, verify, HSM, commit), set against the floor
 *      and the fsyncs each half pays.
 *
 * It prints the numbers and their ratios to the targets (p50 ≤ 50 ms on loopback, ≥ 30
 * replications/s on two cores) and to the floor, and writes
 * bench/results/replication-latest.json. Every process it starts is stopped, within a
 * time budget.
 *
 *   node dist/bench/replication.js [--latency-keys 100] [--throughput-keys 100]
 *     [--warmup-keys 10] [--concurrency 20] [--poll-interval-ms 1]
 *     [--poll-start-fraction 0.5] [--trace-keys 40] [--no-trace] [--budget-seconds 180]
 *     [--cpu-prof DIR] [--data-dir-base DIR] [--keep-logs] [--out FILE]
 *
 * --cpu-prof DIR writes V8 CPU profiles of every partition process (summarise them with
 * bench/profile-summary.ts); for diagnosis, as profiling slows everything down.
 * --data-dir-base DIR puts the partitions' data there (default the system temp dir):
 * `--data-dir-base /dev/shm` (tmpfs, where fsync costs nothing) against the default
 * measures what the durable commits cost.
 *
 * From `npm run bench` (bench/run.ts imports this module): `--only kms` and `--only nodes`
 * skip this part, `--only replication` runs only this part (with its defaults); this
 * module takes the `--only` flag off the command line before run.ts parses it, and tells
 * run.ts what it was ({@link onlyPart}).
 *
 * @module
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, createServer, request, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { BUSY_MACHINE_CORES, describeMachine } from './report.js'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { cpuBetween, sampleCpu, type CpuSample, type CpuUsage } from './cpu-usage.js'
import { distribution, mean, ms, type Distribution } from './distribution.js'
import type { WireRequest } from './load-protocol.js'
import { floorTable, measureP384Floor, type FloorReport } from './p384-floor.js'
import { startProcess, stopAll, waitForMessage, type ManagedProcess } from './processes.js'
import { createRequestSigner, type Credentials, type RequestSigner } from './signing.js'

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PARTITION_MAIN = join(REPO_ROOT, 'dist/src/partition/main.js')
const DEFAULT_OUT = join(REPO_ROOT, 'bench/results/replication-latest.json')
const PRIMARY = 'us-east-1'
const REPLICA = 'eu-west-1'
/** Bench-only credentials: the partitions are fresh, private to this run, and gone after it. */
const CREDENTIALS: Credentials = { accessKeyId: 'AKIABENCHMARK0000002', secretAccessKey: 'bench-secret-access-key-not-a-real-one' }

/** Issue targets. */
export const LATENCY_P50_TARGET_MS = 50
export const THROUGHPUT_TARGET_PER_SECOND = 30
/** Envelopes per replication: ReplicaCreate, MaterialTransfer to B; AgreementOffer, TransferComplete, SyncAck to A. */
const ENVELOPES_TO_REPLICA = 2
const ENVELOPES_TO_PRIMARY = 3
/** The regions' default (src/region/main.ts): heartbeats start 30 s after a replication. */
const DEFAULT_RECONCILE_INTERVAL_MS = 30_000
/** After Enabled, how long the latency phase waits before asking the proxy whether the tail was delivered. */
const TAIL_PAUSE_MS = 8
/** How often the throughput phase asks the proxy how far it got. */
const THROUGHPUT_POLL_MS = 10

export interface ReplicationSettings {
  warmupKeys: number
  latencyKeys: number
  throughputKeys: number
  concurrency: number
  /**
   * Pause between DescribeKey polls; 0 polls back to back, which on two cores slows the
   * very replication it watches (each poll costs ≈ 0.4–0.9 ms of CPU across processes).
   */
  pollIntervalMs: number
  /**
   * Polling starts this fraction of the fastest replication seen so far after t0 (0: at
   * t0). On two cores every poll takes CPU from the replication it watches; a replica
   * already Enabled at the first poll is counted, as its latency is then overstated.
   */
  pollStartFraction: number
  /** Extra node flags for the partition processes (--cpu-prof …), diagnosis only. */
  nodeFlags: string[]
  /**
   * Where the partitions keep their data (a fresh folder inside it). On tmpfs (/dev/shm)
   * every fsync is free: comparing with a run on disk measures what durability costs.
   */
  dataDirBase: string
  trace: boolean
  traceKeys: number
  budgetSeconds: number
  keepLogs: boolean
  out: string
}

export const DEFAULT_SETTINGS: ReplicationSettings = {
  warmupKeys: 10,
  latencyKeys: 100,
  throughputKeys: 100,
  concurrency: 20,
  pollIntervalMs: 1,
  pollStartFraction: 0.5,
  nodeFlags: [],
  dataDirBase: tmpdir(),
  trace: true,
  traceKeys: 40,
  budgetSeconds: 180,
  keepLogs: false,
  out: DEFAULT_OUT,
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms))
}

/** Epoch milliseconds with sub-millisecond resolution: comparable with the log lines' times. */
function epochNow(): number {
  return performance.timeOrigin + performance.now()
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function say(text = ''): void {
  process.stdout.write(`${text}\n`)
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length)
}

function padLeft(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text
}

function check(met: boolean): string {
  return met ? '✓' : '✗'
}

// ---------------------------------------------------------------------------------------
// HTTP: signed KMS calls through the gateway, the proxy's status
// ---------------------------------------------------------------------------------------

interface Answer {
  status: number
  body: string
}

function send(agent: Agent, port: number, wire: WireRequest): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const headers: Record<string, string> = { ...wire.headers }
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-length'))
      headers['content-length'] = String(Buffer.byteLength(wire.body))
    const req = request(
      { host: '127.0.0.1', port, method: wire.method, path: wire.path, headers, agent, timeout: 15_000 },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')))
    req.end(wire.body)
  })
}

function getJson(agent: Agent, url: string): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        try {
          resolvePromise(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)))
        }
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')))
    req.end()
  })
}

interface ProxyCounts {
  /** Envelopes delivered (answered 2xx) to each region so far. */
  delivered: Record<string, number>
  refused: Record<string, number>
  pending: Record<string, number>
}

/** A running partition and keep-alive clients for it: one pool per region (see gateway/handoff.ts). */
class PartitionClient {
  readonly #agents = new Map<string, Agent>()
  readonly #proxyAgent = new Agent({ keepAlive: true, maxSockets: 2 })
  readonly #signers = new Map<string, RequestSigner>()

  constructor(
    readonly gatewayPort: number,
    readonly proxyUrl: string,
  ) {}

  get host(): string {
    return `127.0.0.1:${this.gatewayPort}`
  }

  agent(region: string): Agent {
    let agent = this.#agents.get(region)
    if (agent === undefined) {
      agent = new Agent({ keepAlive: true, maxSockets: 64 })
      this.#agents.set(region, agent)
    }
    return agent
  }

  sign(region: string, operation: string, input: Record<string, unknown>): Promise<WireRequest> {
    let signer = this.#signers.get(region)
    if (signer === undefined) {
      signer = createRequestSigner(region, CREDENTIALS)
      this.#signers.set(region, signer)
    }
    return signer.sign(this.host, operation, input)
  }

  send(region: string, wire: WireRequest): Promise<Answer> {
    return send(this.agent(region), this.gatewayPort, wire)
  }

  async call(region: string, operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = await this.send(region, await this.sign(region, operation, input))
    if (answer.status !== 200) throw new Error(`${operation} in ${region} answered ${answer.status}: ${answer.body.slice(0, 300)}`)
    return JSON.parse(answer.body) as Record<string, unknown>
  }

  async proxyCounts(): Promise<ProxyCounts> {
    const status = (await getJson(this.#proxyAgent, `${this.proxyUrl}/v1/status`)) as {
      destinations?: Record<string, { delivered?: number; refused?: number; pending?: number }>
    }
    const counts: ProxyCounts = { delivered: {}, refused: {}, pending: {} }
    for (const [region, destination] of Object.entries(status.destinations ?? {})) {
      counts.delivered[region] = destination.delivered ?? 0
      counts.refused[region] = destination.refused ?? 0
      counts.pending[region] = destination.pending ?? 0
    }
    return counts
  }

  close(): void {
    for (const agent of this.#agents.values()) agent.destroy()
    this.#proxyAgent.destroy()
  }
}

function keyStateOf(answer: Answer): string | undefined {
  if (answer.status !== 200) return undefined
  const metadata = (JSON.parse(answer.body) as { KeyMetadata?: { KeyState?: unknown } }).KeyMetadata
  return typeof metadata?.KeyState === 'string' ? metadata.KeyState : undefined
}

function isNotFound(answer: Answer): boolean {
  return answer.status === 400 && answer.body.includes('NotFoundException')
}

// ---------------------------------------------------------------------------------------
// The partition
// ---------------------------------------------------------------------------------------

interface Partition {
  managed: ManagedProcess
  client: PartitionClient
  dataDir: string
  regionPids: Record<string, number>
  stop(): Promise<void>
}

interface LauncherReady {
  type: 'ready'
  port: number
  regions: Record<string, { port: number; pid: number }>
}

function isLauncherReady(message: unknown): message is LauncherReady {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ready'
}

/** The launcher prints `trent: replication proxy on <url> (partition …)` to stderr, which is in its log. */
async function proxyUrlFromLog(managed: ManagedProcess, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    let text = ''
    try {
      text = readFileSync(managed.logFile, 'utf8')
    } catch {
      // Not there yet.
    }
    const match = /replication proxy on (http:\/\/[^\s]+)/.exec(text)
    if (match?.[1] !== undefined) return match[1]
    await sleep(50)
  }
  throw new Error(`the launcher never said where its replication proxy listens:\n${managed.logTail()}`)
}

/** Starts `node dist/src/partition/main.js` on free ports (no port can be taken from under it), forked with IPC. */
async function startPartition(
  name: string,
  dataDir: string,
  logDir: string,
  logLevel: 'info' | 'debug',
  nodeFlags: readonly string[] = [],
): Promise<Partition> {
  mkdirSync(dataDir, { recursive: true })
  // The launcher gives its own node flags to the regions and the proxy it forks.
  const args = [...nodeFlags, PARTITION_MAIN, '--port', '0', '--regions', `${PRIMARY},${REPLICA}`, '--data-dir', dataDir]
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TRENT_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    TRENT_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    TRENT_LOG_LEVEL: logLevel,
  }
  const managed = startProcess(name, process.execPath, args, { logDir, env, ipc: true })
  try {
    const ready = await waitForMessage(managed, (message) => (isLauncherReady(message) ? message : undefined), 60_000)
    const proxyUrl = await proxyUrlFromLog(managed, 10_000)
    const client = new PartitionClient(ready.port, proxyUrl)
    const regionPids: Record<string, number> = {}
    for (const [region, info] of Object.entries(ready.regions)) regionPids[region] = info.pid
    return {
      managed,
      client,
      dataDir,
      regionPids,
      async stop() {
        client.close()
        await managed.stop(15_000)
      },
    }
  } catch (err) {
    await managed.stop(5000)
    throw err
  }
}

/** Creates multi-Region primary keys in us-east-1, a few at a time. */
async function createKeys(client: PartitionClient, count: number): Promise<string[]> {
  const keys: string[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++
      const output = await client.call(PRIMARY, 'CreateKey', { MultiRegion: true, Description: 'trent replication bench' })
      const keyId = (output.KeyMetadata as { KeyId?: unknown } | undefined)?.KeyId
      if (typeof keyId !== 'string' || !keyId.startsWith('mrk-'))
        throw new Error(`CreateKey answered no mrk- key id: ${JSON.stringify(output).slice(0, 200)}`)
      keys.push(keyId)
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, count) }, () => worker()))
  return keys
}

/** Waits until the proxy has delivered at least `expected` envelopes to each region; `asked` counts the status queries. */
async function waitForDeliveries(
  client: PartitionClient,
  expected: Record<string, number>,
  timeoutMs: number,
  intervalMs: number,
  asked: { count: number } = { count: 0 },
): Promise<ProxyCounts> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const counts = await client.proxyCounts()
    asked.count++
    if (Object.entries(expected).every(([region, n]) => (counts.delivered[region] ?? 0) >= n)) return counts
    if (performance.now() > deadline) {
      throw new Error(
        `the proxy delivered ${JSON.stringify(counts.delivered)} (refused ${JSON.stringify(counts.refused)}), not ${JSON.stringify(expected)}, within ${timeoutMs} ms`,
      )
    }
    if (intervalMs > 0) await sleep(intervalMs)
  }
}

// ---------------------------------------------------------------------------------------
// Component costs: what every hop pays besides crypto
// ---------------------------------------------------------------------------------------

export interface ComponentCosts {
  /** One SQLite commit in WAL mode with synchronous=FULL (one fsync of the WAL), 2 KiB row, ms. */
  durableCommitMs: Distribution
  /** The same with synchronous=NORMAL (no fsync): what the commit costs without the disk. */
  nonDurableCommitMs: Distribution
  /** A keep-alive HTTP POST of 2 KiB over loopback, fetch client and node:http server in one process, ms. */
  httpPostMs: Distribution
  /** A worker_threads message and its answer, ms. */
  workerRoundTripMs: Distribution
}

function measureCommits(dir: string): { durable: number[]; nonDurable: number[] } {
  const path = join(dir, 'commit-probe.db')
  const db = new Database(path)
  try {
    db.pragma('journal_mode = WAL')
    db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)')
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)')
    const row = Buffer.alloc(2048, 7)
    const run = (sync: 'FULL' | 'NORMAL', count: number): number[] => {
      db.pragma(`synchronous = ${sync}`)
      for (let i = 0; i < 10; i++) insert.run(row)
      const times: number[] = []
      for (let i = 0; i < count; i++) {
        const start = performance.now()
        insert.run(row)
        times.push(performance.now() - start)
      }
      return times
    }
    return { durable: run('FULL', 200), nonDurable: run('NORMAL', 200) }
  } finally {
    db.close()
    rmSync(path, { force: true })
    rmSync(`${path}-wal`, { force: true })
    rmSync(`${path}-shm`, { force: true })
  }
}

async function measureHttp(): Promise<number[]> {
  const server = createServer({ keepAlive: true }, (req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': 19 })
      res.end('{"status":"stored"}')
    })
  })
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/envelopes`
  const body = Buffer.alloc(2048, 97)
  const times: number[] = []
  try {
    for (let i = 0; i < 330; i++) {
      const start = performance.now()
      // As the region's outbox sender posts to the proxy (src/replication/transport.ts).
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      await response.arrayBuffer()
      if (i >= 30) times.push(performance.now() - start)
    }
  } finally {
    server.closeAllConnections()
    await new Promise<void>((closed) => server.close(() => closed()))
  }
  return times
}

async function measureWorker(): Promise<number[]> {
  const worker = new Worker(
    "require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m))",
    {
      eval: true,
    },
  )
  const times: number[] = []
  try {
    const payload = { op: 'signReplication', body: new Uint8Array(1536) }
    for (let i = 0; i < 1100; i++) {
      const start = performance.now()
      await new Promise<void>((answered) => {
        worker.once('message', () => answered())
        worker.postMessage(payload)
      })
      if (i >= 100) times.push(performance.now() - start)
    }
  } finally {
    await worker.terminate()
  }
  return times
}

async function measureComponents(dir: string): Promise<ComponentCosts> {
  const commits = measureCommits(dir)
  return {
    durableCommitMs: distribution(commits.durable),
    nonDurableCommitMs: distribution(commits.nonDurable),
    httpPostMs: distribution(await measureHttp()),
    workerRoundTripMs: distribution(await measureWorker()),
  }
}

// ---------------------------------------------------------------------------------------
// Logs: when the proxy stored and delivered each envelope, when each region applied one
// ---------------------------------------------------------------------------------------

interface LogEvent {
  /** Epoch ms (the log's ISO time, ms resolution). */
  at: number
  kind: 'stored' | 'delivered' | 'applied' | 'request'
  from?: string
  to?: string
  region?: string
  type?: string
  keyId?: string
  target?: string
  ms?: number
  requestId?: string
}

function readLogEvents(path: string): LogEvent[] {
  let content: string
  try {
    content = readFileSync(path, 'utf8')
  } catch {
    return []
  }
  const events: LogEvent[] = []
  for (const line of content.split('\n')) {
    if (!line.startsWith('{')) continue
    let record: Record<string, unknown>
    try {
      record = JSON.parse(line) as Record<string, unknown>
    } catch {
      continue
    }
    const at = typeof record.time === 'string' ? Date.parse(record.time) : Number.NaN
    if (!Number.isFinite(at)) continue
    const text = (name: string): string | undefined => (typeof record[name] === 'string' ? (record[name] as string) : undefined)
    const base: LogEvent = { at, kind: 'stored' }
    const from = text('from')
    const to = text('to')
    const requestId = text('requestId')
    if (from !== undefined) base.from = from
    if (to !== undefined) base.to = to
    if (requestId !== undefined) base.requestId = requestId
    switch (record.msg) {
      case 'envelope stored':
        events.push({ ...base, kind: 'stored' })
        break
      case 'envelope delivered':
        events.push({ ...base, kind: 'delivered' })
        break
      case 'replication message': {
        const event: LogEvent = { ...base, kind: 'applied' }
        const region = text('region')
        const type = text('type')
        const keyId = text('keyId')
        if (region !== undefined) event.region = region
        if (type !== undefined) event.type = type
        if (keyId !== undefined) event.keyId = keyId
        events.push(event)
        break
      }
      case 'request': {
        const event: LogEvent = { ...base, kind: 'request' }
        const target = text('target')
        const region = text('region')
        if (target !== undefined) event.target = target
        if (region !== undefined) event.region = region
        if (typeof record.ms === 'number') event.ms = record.ms
        events.push(event)
        break
      }
      default:
        break
    }
  }
  return events
}

/** One sequential replication: when it started, when Enabled was seen (if polled), when it had settled. */
interface Window {
  keyId: string
  t0: number
  t1?: number
  settled: number
}

export interface HopSplit {
  keys: number
  /** Mean ms from t0 to the proxy's `envelope delivered` of ReplicaCreate (B committed it). */
  replicaCreateAppliedAtB: number
  /** … then to AgreementOffer delivered (A committed its answer, the MaterialTransfer). */
  agreementOfferAppliedAtA: number
  /** … then to MaterialTransfer delivered (B committed: Enabled). */
  materialTransferAppliedAtB: number
  /** … then to the poll that saw Enabled (negative: the poll saw it before the proxy logged the answer). */
  enabledSeenByPoll: number
  /**
   * t0 → the proxy's `envelope delivered` of MaterialTransfer: the latency as the logs date
   * B's commit, independent of polling (1 ms resolution; the log time is truncated, so on
   * average about 0.5 ms early), ms.
   */
  committedMs: Distribution
}

/** The three hops of each sequential replication, from the proxy's info-level `envelope delivered` lines. */
function hopSplit(events: readonly LogEvent[], windows: readonly Window[]): HopSplit | undefined {
  const delivered = events.filter((e) => e.kind === 'delivered')
  const rows: number[][] = []
  for (const window of windows) {
    if (window.t1 === undefined) continue
    const inside = delivered.filter((e) => e.at >= Math.floor(window.t0) && e.at <= window.settled + 1)
    const toB = inside.filter((e) => e.to === REPLICA)
    const toA = inside.filter((e) => e.to === PRIMARY)
    if (toB.length !== ENVELOPES_TO_REPLICA || toA.length !== ENVELOPES_TO_PRIMARY) continue
    const [rc, mt] = toB as [LogEvent, LogEvent]
    const ao = toA[0] as LogEvent
    rows.push([rc.at - window.t0, ao.at - rc.at, mt.at - ao.at, window.t1 - mt.at, mt.at - window.t0])
  }
  if (rows.length === 0) return undefined
  const column = (index: number): number => mean(rows.map((row) => row[index] ?? 0))
  return {
    keys: rows.length,
    replicaCreateAppliedAtB: column(0),
    agreementOfferAppliedAtA: column(1),
    materialTransferAppliedAtB: column(2),
    enabledSeenByPoll: column(3),
    committedMs: distribution(rows.map((row) => row[4] ?? 0)),
  }
}

export interface TraceSegment {
  segment: string
  /** Mean over the traced keys, ms (log times have 1 ms resolution; means are finer). */
  meanMs: number
  p50Ms: number
  /** The crypto of this segment at the floor's cost, ms. */
  cryptoFloorMs: number
  /** Durable commits (fsyncs) in this segment: region commits and proxy stores. */
  fsyncs: number
  /** fsyncs × the measured durable commit (p50), ms. */
  fsyncMs: number
  /** What is left: HTTP, JSON, worker hops, logging, event-loop waits, ms. */
  otherMs: number
  /**
   * For the segments that end with a region applying a message: that region's own
   * handling time of the delivery request (its debug `request` log line: body read to
   * answer, verify, HSM call and commit included), ms. The rest of the segment is the
   * proxy's delivery (pick-up, HTTP, the answer).
   */
  handledInRegionMs?: number
}

export interface TraceReport {
  keys: number
  /** Mean ReplicateKey handling time in us-east-1 as the region logs it (includes its commit), ms. */
  replicateKeyHandlingMs: number
  segments: TraceSegment[]
  totalMeanMs: number
  totalP50Ms: number
}

/** Per-segment crypto and fsyncs of the critical path (bench/p384-floor.ts PROTOCOL_STEPS, spec §6). */
function segmentModel(floor: FloorReport): Array<{ segment: string; cryptoUs: number; fsyncs: number }> {
  const cost = (op: string): number => floor.ops.find((o) => o.op === op)?.microseconds ?? 0
  return [
    { segment: 'A: ReplicateKey commit; HSM signs ReplicaCreate; POST; proxy stores', cryptoUs: cost('sign'), fsyncs: 2 },
    {
      segment: 'proxy → B; B verifies; HSM RAKB keygen; B commits',
      cryptoUs: cost('verify') + cost('keygen') + cost('pointExport'),
      fsyncs: 1,
    },
    { segment: 'B: HSM signs AgreementOffer; POST; proxy stores', cryptoUs: cost('sign'), fsyncs: 1 },
    {
      segment: 'proxy → A; A verifies; HSM wrapForTransfer; A commits',
      cryptoUs:
        cost('verify') +
        cost('tokenOpen') +
        cost('keygen') +
        cost('pointExport') +
        cost('pointImport') +
        cost('ecdh') +
        cost('hkdf') +
        cost('wrap'),
      fsyncs: 1,
    },
    { segment: 'A: HSM signs MaterialTransfer; POST; proxy stores', cryptoUs: cost('sign'), fsyncs: 1 },
    {
      segment: 'proxy → B; B verifies; HSM unwrapTransfer; B commits (Enabled)',
      cryptoUs: cost('verify') + cost('pointImport') + cost('ecdh') + cost('hkdf') + cost('unwrap') + cost('tokenSeal'),
      fsyncs: 1,
    },
  ]
}

/** Splits each traced replication at the proxy's `stored` and the regions' `applied` lines. */
function traceReport(
  events: readonly LogEvent[],
  windows: readonly Window[],
  floor: FloorReport,
  fsyncMs: number,
): TraceReport | undefined {
  const rows: number[][] = []
  const handling: number[] = []
  /** Per applied message (segments 2, 4, 6): the receiving region's handling ms. */
  const applyHandling: number[][] = [[], [], []]
  const requestMs = new Map<string, number>()
  for (const e of events) if (e.kind === 'request' && e.requestId !== undefined && e.ms !== undefined) requestMs.set(e.requestId, e.ms)
  for (const window of windows) {
    const inside = events.filter((e) => e.at >= Math.floor(window.t0) && e.at <= window.settled + 1)
    const stored = (from: string, index: number): LogEvent | undefined =>
      inside.filter((e) => e.kind === 'stored' && e.from === from)[index]
    const applied = (region: string, type: string): LogEvent | undefined =>
      inside.find((e) => e.kind === 'applied' && e.region === region && e.type === type && e.keyId === window.keyId)
    const storedRc = stored(PRIMARY, 0)
    const appliedRc = applied(REPLICA, 'ReplicaCreate')
    const storedAo = stored(REPLICA, 0)
    const appliedAo = applied(PRIMARY, 'AgreementOffer')
    const storedMt = stored(PRIMARY, 1)
    const appliedMt = applied(REPLICA, 'MaterialTransfer')
    if ([storedRc, appliedRc, storedAo, appliedAo, storedMt, appliedMt].some((e) => e === undefined)) continue
    const points = [window.t0, storedRc, appliedRc, storedAo, appliedAo, storedMt, appliedMt].map((p) =>
      typeof p === 'number' ? p : (p as LogEvent).at,
    )
    rows.push(points.slice(1).map((point, index) => point - (points[index] ?? 0)))
    ;[appliedRc, appliedAo, appliedMt].forEach((event, index) => {
      const handled = event?.requestId === undefined ? undefined : requestMs.get(event.requestId)
      if (handled !== undefined) applyHandling[index]?.push(handled)
    })
    const request = inside.find((e) => e.kind === 'request' && e.region === PRIMARY && e.target === 'TrentService.ReplicateKey')
    if (request?.ms !== undefined) handling.push(request.ms)
  }
  if (rows.length === 0) return undefined
  const model = segmentModel(floor)
  const segments = model.map((m, index) => {
    const values = rows.map((row) => row[index] ?? 0)
    const meanMs = mean(values)
    const cryptoFloorMs = m.cryptoUs / 1000
    const fsyncTotal = m.fsyncs * fsyncMs
    const segment: TraceSegment = {
      segment: m.segment,
      meanMs,
      p50Ms: distribution(values).p50,
      cryptoFloorMs,
      fsyncs: m.fsyncs,
      fsyncMs: fsyncTotal,
      otherMs: meanMs - cryptoFloorMs - fsyncTotal,
    }
    const handled = index % 2 === 1 ? applyHandling[(index - 1) / 2] : undefined
    if (handled !== undefined && handled.length > 0) segment.handledInRegionMs = mean(handled)
    return segment
  })
  const totals = rows.map((row) => row.reduce((sum, v) => sum + v, 0))
  return {
    keys: rows.length,
    replicateKeyHandlingMs: mean(handling),
    segments,
    totalMeanMs: mean(totals),
    totalP50Ms: distribution(totals).p50,
  }
}

// ---------------------------------------------------------------------------------------
// The phases
// ---------------------------------------------------------------------------------------

export interface ProcessCost {
  label: string
  /** CPU µs per replication: the whole process. */
  microseconds: number
  /** Its main thread and its busiest other thread (a region's HSM worker). */
  mainThreadMicroseconds: number
  busiestOtherThreadMicroseconds: number
}

function perReplication(usage: CpuUsage, seconds: number, replications: number): ProcessCost[] {
  const per = (cores: number): number => (cores * seconds * 1e6) / replications
  return usage.ours
    .filter((p) => p.cores * seconds > 0.005)
    .map((p) => ({
      label: p.label,
      microseconds: per(p.cores),
      mainThreadMicroseconds: per(p.mainThreadCores),
      busiestOtherThreadMicroseconds: per(p.busiestOtherThreadCores),
    }))
}

export interface LatencyResult {
  /** ReplicateKey written → DescribeKey in eu-west-1 answers Enabled, ms. */
  enabledMs: Distribution
  /** The ReplicateKey call itself (answered Creating), ms. */
  replicateKeyCallMs: Distribution
  polls: {
    perReplication: number
    intervalMs: number
    /** Polls began this fraction of the fastest replication so far after t0. */
    startFraction: number
    /** Replications already Enabled at their first poll: their latency is overstated. */
    enabledAtFirstPoll: number
    /** Proxy status queries per replication while waiting for its tail (after t1, outside the latency). */
    proxyStatusQueriesPerReplication: number
    /** Mean round trip of one DescribeKey poll, ms: Enabled is seen at most this late. */
    roundTripMs: number
  }
  /** From the proxy's info log: where each replication's time went, hop by hop. */
  hops?: HopSplit
  cpuPerReplication: ProcessCost[]
  othersCores: number
}

async function latencyPhase(
  partition: Partition,
  keys: readonly string[],
  settings: ReplicationSettings,
  fastestSoFar = Number.POSITIVE_INFINITY,
): Promise<{ result: LatencyResult; windows: Window[] }> {
  const client = partition.client
  const latencies: number[] = []
  const calls: number[] = []
  const pollTimes: number[] = []
  const windows: Window[] = []
  let polls = 0
  const statusQueries = { count: 0 }
  let enabledAtFirstPoll = 0
  let fastest = fastestSoFar
  let base = await client.proxyCounts()
  const cpuStart = sampleCpu()
  const wallStart = performance.now()
  for (const keyId of keys) {
    // Signed before t0: SigV4 signing is the client's cost, not the service's.
    const replicate = await client.sign(PRIMARY, 'ReplicateKey', { KeyId: keyId, ReplicaRegion: REPLICA })
    const describe = await client.sign(REPLICA, 'DescribeKey', { KeyId: keyId })
    const t0 = epochNow()
    const started = performance.now()
    const answer = await client.send(PRIMARY, replicate)
    calls.push(performance.now() - started)
    if (answer.status !== 200) throw new Error(`ReplicateKey answered ${answer.status}: ${answer.body.slice(0, 300)}`)
    let seenAt: number | undefined
    let firstPoll = true
    const pollFrom = Number.isFinite(fastest) ? started + settings.pollStartFraction * fastest : started
    const wait = pollFrom - performance.now()
    if (wait > 0) await sleep(wait)
    while (seenAt === undefined) {
      const pollStart = performance.now()
      const poll = await client.send(REPLICA, describe)
      const now = performance.now()
      pollTimes.push(now - pollStart)
      polls++
      const state = keyStateOf(poll)
      if (state === 'Enabled' && firstPoll && settings.pollStartFraction > 0) enabledAtFirstPoll++
      firstPoll = false
      if (state === 'Enabled') seenAt = now
      else if (state === undefined && !isNotFound(poll))
        throw new Error(`DescribeKey in ${REPLICA} answered ${poll.status}: ${poll.body.slice(0, 300)}`)
      else if (now - started > 30_000) throw new Error(`${keyId} was not Enabled in ${REPLICA} within 30 s (state ${state ?? 'none'})`)
      else if (settings.pollIntervalMs > 0) await sleep(settings.pollIntervalMs)
    }
    latencies.push(seenAt - started)
    fastest = Math.min(fastest, seenAt - started)
    // The tail (TransferComplete, SyncAck) finishes before the next key starts. It takes a
    // few ms more: ask the proxy after a pause, every 2 ms (each query costs it CPU).
    await sleep(TAIL_PAUSE_MS)
    base = await waitForDeliveries(
      client,
      {
        [PRIMARY]: (base.delivered[PRIMARY] ?? 0) + ENVELOPES_TO_PRIMARY,
        [REPLICA]: (base.delivered[REPLICA] ?? 0) + ENVELOPES_TO_REPLICA,
      },
      10_000,
      2,
      statusQueries,
    )
    windows.push({ keyId, t0, t1: t0 + (seenAt - started), settled: epochNow() })
  }
  const seconds = (performance.now() - wallStart) / 1000
  const usage = cpuBetween(cpuStart, sampleCpu())
  return {
    windows,
    result: {
      enabledMs: distribution(latencies),
      replicateKeyCallMs: distribution(calls),
      polls: {
        perReplication: polls / keys.length,
        intervalMs: settings.pollIntervalMs,
        startFraction: settings.pollStartFraction,
        enabledAtFirstPoll,
        roundTripMs: mean(pollTimes),
        proxyStatusQueriesPerReplication: statusQueries.count / keys.length,
      },
      cpuPerReplication: usage === undefined ? [] : perReplication(usage, seconds, keys.length),
      othersCores: usage?.othersCores ?? 0,
    },
  }
}

export interface ThroughputResult {
  replications: number
  concurrency: number
  /** First ReplicateKey sent → every MaterialTransfer applied (every replica Enabled), s. */
  enabledSeconds: number
  replicationsPerSecond: number
  /** … → every envelope delivered (the primary knows every replica exists), s. */
  settledSeconds: number
  settledReplicationsPerSecond: number
  /** All ReplicateKey calls answered, s after the first was sent. */
  replicateKeyCallsSeconds: number
  replicateKeyCallMs: Distribution
  envelopesPerReplication: number
  refused: number
  /** Replicas DescribeKey did not show Enabled when the proxy counts said they should be. */
  notEnabledAtCheck: number
  cpuPerReplication: ProcessCost[]
  machineBusyCores: number
  othersCores: number
}

async function throughputPhase(partition: Partition, keys: readonly string[], settings: ReplicationSettings): Promise<ThroughputResult> {
  const client = partition.client
  const requests = await Promise.all(keys.map((keyId) => client.sign(PRIMARY, 'ReplicateKey', { KeyId: keyId, ReplicaRegion: REPLICA })))
  const base = await client.proxyCounts()
  const expectedB = (base.delivered[REPLICA] ?? 0) + ENVELOPES_TO_REPLICA * keys.length
  const expectedA = (base.delivered[PRIMARY] ?? 0) + ENVELOPES_TO_PRIMARY * keys.length
  const cpuStart: CpuSample | undefined = sampleCpu()
  const start = performance.now()
  const callTimes: number[] = []
  let next = 0
  let callsDone = 0
  const caller = async (): Promise<void> => {
    while (next < requests.length) {
      const wire = requests[next++] as WireRequest
      const sent = performance.now()
      const answer = await client.send(PRIMARY, wire)
      callTimes.push(performance.now() - sent)
      if (answer.status !== 200) throw new Error(`ReplicateKey answered ${answer.status}: ${answer.body.slice(0, 300)}`)
    }
  }
  const calls = Promise.all(Array.from({ length: Math.min(settings.concurrency, requests.length) }, () => caller())).then(() => {
    callsDone = performance.now()
  })
  let enabledAt: number | undefined
  let settledAt: number | undefined
  let counts = base
  const deadline = start + 120_000
  while (settledAt === undefined) {
    counts = await client.proxyCounts()
    const now = performance.now()
    if (enabledAt === undefined && (counts.delivered[REPLICA] ?? 0) >= expectedB) enabledAt = now
    if (enabledAt !== undefined && (counts.delivered[PRIMARY] ?? 0) >= expectedA) settledAt = now
    else if (now > deadline)
      throw new Error(`throughput: the proxy delivered ${JSON.stringify(counts.delivered)}, not ${expectedA}/${expectedB}, within 120 s`)
    else await sleep(THROUGHPUT_POLL_MS)
  }
  const cpuEnd = sampleCpu()
  await calls
  const settledSeconds = (settledAt - start) / 1000
  const usage = cpuBetween(cpuStart, cpuEnd)
  // The proxy counts say every MaterialTransfer was answered 2xx; DescribeKey says whether each replica is Enabled.
  let notEnabled = 0
  for (const keyId of keys) {
    const state = keyStateOf(await client.send(REPLICA, await client.sign(REPLICA, 'DescribeKey', { KeyId: keyId })))
    if (state !== 'Enabled') notEnabled++
  }
  let enabledSeconds = ((enabledAt ?? settledAt) - start) / 1000
  if (notEnabled > 0) {
    // Some replica was not Enabled when the counts said so: time the run to when it is.
    for (const keyId of keys) {
      const describe = await client.sign(REPLICA, 'DescribeKey', { KeyId: keyId })
      while (keyStateOf(await client.send(REPLICA, describe)) !== 'Enabled') {
        if (performance.now() > deadline) throw new Error(`${keyId} never became Enabled in ${REPLICA}`)
        await sleep(5)
      }
    }
    enabledSeconds = (performance.now() - start) / 1000
  }
  const deliveredDelta =
    (counts.delivered[REPLICA] ?? 0) - (base.delivered[REPLICA] ?? 0) + (counts.delivered[PRIMARY] ?? 0) - (base.delivered[PRIMARY] ?? 0)
  const refused =
    (counts.refused[REPLICA] ?? 0) - (base.refused[REPLICA] ?? 0) + (counts.refused[PRIMARY] ?? 0) - (base.refused[PRIMARY] ?? 0)
  return {
    replications: keys.length,
    concurrency: settings.concurrency,
    enabledSeconds,
    replicationsPerSecond: keys.length / enabledSeconds,
    settledSeconds,
    settledReplicationsPerSecond: keys.length / settledSeconds,
    replicateKeyCallsSeconds: (callsDone - start) / 1000,
    replicateKeyCallMs: distribution(callTimes),
    envelopesPerReplication: deliveredDelta / keys.length,
    refused,
    notEnabledAtCheck: notEnabled,
    cpuPerReplication: usage === undefined ? [] : perReplication(usage, settledSeconds, keys.length),
    machineBusyCores: usage?.machineBusyCores ?? 0,
    othersCores: usage?.othersCores ?? 0,
  }
}

export interface PollCost {
  polls: number
  roundTripMs: number
  /** CPU µs one `GET /v1/status` costs the proxy (the throughput phase asks every THROUGHPUT_POLL_MS). */
  proxyStatusCpuMicroseconds: number
  /** CPU µs per DescribeKey, by process (eu-west-1 answers it, the launcher hands it over, the driver sends it). */
  cpuPerPoll: ProcessCost[]
}

/** What one DescribeKey poll costs: back-to-back polls of an Enabled replica. */
async function pollCost(partition: Partition, keyId: string): Promise<PollCost> {
  const client = partition.client
  const describe = await client.sign(REPLICA, 'DescribeKey', { KeyId: keyId })
  for (let i = 0; i < 50; i++) await client.send(REPLICA, describe)
  const count = 500
  const cpuStart = sampleCpu()
  const start = performance.now()
  for (let i = 0; i < count; i++) await client.send(REPLICA, describe)
  const seconds = (performance.now() - start) / 1000
  const usage = cpuBetween(cpuStart, sampleCpu())
  const statusCalls = 300
  const statusCpuStart = sampleCpu()
  const statusStart = performance.now()
  for (let i = 0; i < statusCalls; i++) await client.proxyCounts()
  const statusSeconds = (performance.now() - statusStart) / 1000
  const statusUsage = cpuBetween(statusCpuStart, sampleCpu())
  const proxyStatus = statusUsage === undefined ? [] : perReplication(statusUsage, statusSeconds, statusCalls)
  return {
    polls: count,
    roundTripMs: (seconds * 1000) / count,
    proxyStatusCpuMicroseconds: proxyStatus.find((p) => p.label === 'proxy/main.js')?.microseconds ?? Number.NaN,
    cpuPerPoll: usage === undefined ? [] : perReplication(usage, seconds, count),
  }
}

/**
 * Sequential replications in a partition logging at debug level. Nothing polls while a
 * replication runs (the logs say when each step happened): the proxy is asked whether all
 * 5 envelopes were delivered only from `quietMs` after t0 on.
 */
async function tracePhase(partition: Partition, keys: readonly string[], quietMs: number): Promise<Window[]> {
  const client = partition.client
  const windows: Window[] = []
  let base = await client.proxyCounts()
  for (const keyId of keys) {
    const replicate = await client.sign(PRIMARY, 'ReplicateKey', { KeyId: keyId, ReplicaRegion: REPLICA })
    const t0 = epochNow()
    const answer = await client.send(PRIMARY, replicate)
    if (answer.status !== 200) throw new Error(`ReplicateKey answered ${answer.status}: ${answer.body.slice(0, 300)}`)
    const wait = t0 + quietMs - epochNow()
    if (wait > 0) await sleep(wait)
    base = await waitForDeliveries(
      client,
      {
        [PRIMARY]: (base.delivered[PRIMARY] ?? 0) + ENVELOPES_TO_PRIMARY,
        [REPLICA]: (base.delivered[REPLICA] ?? 0) + ENVELOPES_TO_REPLICA,
      },
      10_000,
      2,
    )
    windows.push({ keyId, t0, settled: epochNow() })
  }
  return windows
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

export interface ReplicationReport {
  startedAt: string
  finishedAt: string
  source?: { commit: string; dirty: boolean }
  machine: { cpus: number; cpuModel: string; totalMemoryMiB: number; node: string; platform: string; loadAverageAtStart: number[] }
  settings: Omit<ReplicationSettings, 'out' | 'keepLogs' | 'budgetSeconds'> & {
    regions: string[]
    reconcileIntervalMs: number
    logLevel: string
  }
  floor?: FloorReport
  components?: ComponentCosts
  latency?: LatencyResult
  throughput?: ThroughputResult
  polling?: PollCost
  trace?: TraceReport
  targets?: {
    latencyP50Ms: { target: number; value: number; met: boolean }
    replicationsPerSecond: { target: number; value: number; met: boolean }
  }
  ratios?: {
    /** Measured p50 / the serial crypto floor of the critical path. */
    latencyP50ToSerialFloor: number
    /** Measured replications/s / (2 cores / crypto CPU per replication). */
    throughputToTwoCoreFloor: number
    /** Measured CPU per replication (all our processes) / crypto CPU per replication. */
    cpuToCryptoFloor: number
  }
  errors: string[]
}

function sourceRevision(): { commit: string; dirty: boolean } | undefined {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (head.status !== 0) return undefined
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' })
  return { commit: head.stdout.trim(), dirty: status.stdout.trim() !== '' }
}

/** Polling to subtract per replication: DescribeKey polls (every process) and proxy status queries (the proxy). */
interface PollingShare {
  perPoll: Map<string, number>
  polls: number
  proxyStatusMicroseconds: number
  statusQueries: number
}

function pollingShare(label: string, polling: PollingShare): number {
  return (
    (polling.perPoll.get(label) ?? 0) * polling.polls +
    (label === 'proxy/main.js' ? polling.proxyStatusMicroseconds * polling.statusQueries : 0)
  )
}

function processTable(rows: readonly ProcessCost[], unit: string, floor?: FloorReport, polling?: PollingShare): string {
  const lines = [
    `  ${pad('process', 30)}${padLeft(`CPU µs/${unit}`, 16)}${padLeft('main thread', 13)}${padLeft('busiest other', 15)}` +
      `${polling === undefined ? '' : padLeft('less polling', 14)}`,
  ]
  for (const row of rows) {
    if (polling !== undefined) {
      const without = row.microseconds - pollingShare(row.label, polling)
      lines.push(
        `  ${pad(row.label, 30)}${padLeft(row.microseconds.toFixed(0), 16)}${padLeft(row.mainThreadMicroseconds.toFixed(0), 13)}` +
          `${padLeft(row.busiestOtherThreadMicroseconds.toFixed(0), 15)}${padLeft(Math.max(0, without).toFixed(0), 14)}`,
      )
      continue
    }
    let note = ''
    if (floor !== undefined && row.label.startsWith('region ')) {
      const side = row.label.endsWith(PRIMARY) ? 'A' : 'B'
      const hsm = floor.byThread[`${side} hsm`]
      const main = floor.byThread[`${side} main`]
      note = `   crypto floor: HSM ${hsm.toFixed(0)}, main ${main.toFixed(0)} (×${(row.busiestOtherThreadMicroseconds / hsm).toFixed(1)}, ×${(row.mainThreadMicroseconds / main).toFixed(1)})`
    }
    lines.push(
      `  ${pad(row.label, 30)}${padLeft(row.microseconds.toFixed(0), 16)}${padLeft(row.mainThreadMicroseconds.toFixed(0), 13)}` +
        `${padLeft(row.busiestOtherThreadMicroseconds.toFixed(0), 15)}${note}`,
    )
  }
  const total = rows.reduce((sum, row) => sum + row.microseconds, 0)
  const pollingTotal = polling === undefined ? 0 : rows.reduce((sum, row) => sum + pollingShare(row.label, polling), 0)
  lines.push(
    `  ${pad('all our processes', 30)}${padLeft(total.toFixed(0), 16)}` +
      `${polling === undefined ? '' : `${' '.repeat(28)}${padLeft(Math.max(0, total - pollingTotal).toFixed(0), 14)}`}`,
  )
  return lines.join('\n')
}

function printSummary(report: ReplicationReport): void {
  const floor = report.floor
  const latency = report.latency
  const throughput = report.throughput
  say()
  say('## Multi-Region replication: results')
  say()
  if (latency !== undefined) {
    const d = latency.enabledMs
    say(
      `ReplicateKey → Enabled in ${REPLICA} (${d.count} keys one at a time): p50 ${ms(d.p50)} ms, p90 ${ms(d.p90)}, p99 ${ms(d.p99)}, max ${ms(d.max)} ` +
        `(mean ${ms(d.mean)}, min ${ms(d.min)})`,
    )
    say(`  the ReplicateKey call itself (answers Creating): p50 ${ms(latency.replicateKeyCallMs.p50, 2)} ms`)
  }
  if (throughput !== undefined) {
    say(
      `Replications/s (${throughput.replications} keys, ≤ ${throughput.concurrency} ReplicateKey calls in flight): ${throughput.replicationsPerSecond.toFixed(1)}/s ` +
        `to Enabled (${throughput.enabledSeconds.toFixed(2)} s); ${throughput.settledReplicationsPerSecond.toFixed(1)}/s until the primary heard back ` +
        `(${throughput.settledSeconds.toFixed(2)} s); ${throughput.envelopesPerReplication.toFixed(2)} envelopes per replication (expected 5)` +
        `${throughput.refused > 0 ? `, ${throughput.refused} refused` : ''}`,
    )
  }
  if (report.targets !== undefined) {
    const t = report.targets
    say()
    say(`  ${check(t.latencyP50Ms.met)} latency p50 ${ms(t.latencyP50Ms.value)} ms vs target ≤ ${t.latencyP50Ms.target} ms (loopback)`)
    say(
      `  ${check(t.replicationsPerSecond.met)} throughput ${t.replicationsPerSecond.value.toFixed(1)}/s vs target ≥ ${t.replicationsPerSecond.target}/s (on ${cpus().length} cores)`,
    )
  }
  if (floor !== undefined && report.ratios !== undefined) {
    const r = report.ratios
    say()
    say(
      `Against the P-384 floor: latency p50 = ${r.latencyP50ToSerialFloor.toFixed(2)} × the serial crypto floor (${ms(floor.serialLatencyFloorMicroseconds / 1000, 2)} ms); ` +
        `throughput = ${(r.throughputToTwoCoreFloor * 100).toFixed(0)} % of the crypto-bound maximum (${floor.maxReplicationsPerSecondTwoCores.toFixed(0)}/s on 2 cores); ` +
        `CPU per replication = ${r.cpuToCryptoFloor.toFixed(2)} × the crypto (${(floor.totalMicroseconds / 1000).toFixed(1)} ms)`,
    )
  }
  if (throughput !== undefined) {
    say()
    say(
      `CPU per replication under load (throughput phase; /proc; other processes on the machine used ${throughput.othersCores.toFixed(2)} cores` +
        `${throughput.othersCores > BUSY_MACHINE_CORES ? ' ⚠ busy machine: expect low, noisy numbers' : ''}):`,
    )
    say(processTable(throughput.cpuPerReplication, 'repl', floor))
  }
  if (latency !== undefined) {
    say()
    const p = latency.polls
    say(
      `CPU per replication one at a time (latency phase, polling included: ${p.perReplication.toFixed(1)} DescribeKey polls per replication, ` +
        `${p.intervalMs === 0 ? 'back to back' : `every ${p.intervalMs} ms`} from ${p.startFraction > 0 ? `${p.startFraction} × the fastest replication so far` : 't0'}, ` +
        `${ms(p.roundTripMs, 2)} ms each; ${p.enabledAtFirstPoll} of ${latency.enabledMs.count} replicas were already Enabled at the first poll; ` +
        `other processes ${latency.othersCores.toFixed(2)} cores):`,
    )
    const perPoll = new Map((report.polling?.cpuPerPoll ?? []).map((row) => [row.label, row.microseconds]))
    const share: PollingShare | undefined =
      report.polling === undefined
        ? undefined
        : {
            perPoll,
            polls: p.perReplication,
            proxyStatusMicroseconds: report.polling.proxyStatusCpuMicroseconds,
            statusQueries: p.proxyStatusQueriesPerReplication,
          }
    say(processTable(latency.cpuPerReplication, 'repl', undefined, share))
    say(
      `  (less polling: without the DescribeKey polls and the ${p.proxyStatusQueriesPerReplication.toFixed(1)} proxy status queries per replication ` +
        'that wait for its tail, at the costs measured below)',
    )
  }
  if (report.polling !== undefined && latency !== undefined) {
    const region = report.polling.cpuPerPoll.find((p) => p.label === `region ${REPLICA}`)
    const total = report.polling.cpuPerPoll.reduce((sum, p) => sum + p.microseconds, 0)
    say()
    say(
      `Polling cost: one DescribeKey costs ${region?.microseconds.toFixed(0) ?? '?'} CPU µs in ${REPLICA} and ${total.toFixed(0)} µs in all processes ` +
        `(round trip ${ms(report.polling.roundTripMs, 2)} ms); × ${latency.polls.perReplication.toFixed(1)} polls = ` +
        `${((latency.polls.perReplication * total) / 1000).toFixed(1)} ms CPU per measured replication, competing with it for the cores; ` +
        `Enabled is seen at most one round trip late. A proxy status query (the throughput phase's clock, every ${THROUGHPUT_POLL_MS} ms) ` +
        `costs the proxy ${ms(report.polling.proxyStatusCpuMicroseconds, 0)} µs.`,
    )
  }
  if (latency?.hops !== undefined) {
    const h = latency.hops
    say()
    say(
      `Where the latency goes, hop by hop (proxy log 'envelope delivered' = the receiver committed and answered; ${h.keys} keys, 1 ms log resolution, means):`,
    )
    say(`  ReplicateKey → ReplicaCreate applied in ${REPLICA}     ${ms(h.replicaCreateAppliedAtB)} ms`)
    say(`  → AgreementOffer applied in ${PRIMARY} (wrap)          ${ms(h.agreementOfferAppliedAtA)} ms`)
    say(`  → MaterialTransfer applied in ${REPLICA} (Enabled)     ${ms(h.materialTransferAppliedAtB)} ms`)
    say(`  → the poll sees Enabled                               ${ms(h.enabledSeenByPoll)} ms`)
    say(
      `  ReplicateKey → Enabled as the proxy log dates B's commit (no polling involved): p50 ${ms(h.committedMs.p50)} ms, ` +
        `p90 ${ms(h.committedMs.p90)}, p99 ${ms(h.committedMs.p99)}, mean ${ms(h.committedMs.mean)}`,
    )
  }
  if (report.trace !== undefined && report.components !== undefined) {
    const t = report.trace
    const c = report.components
    say()
    say(
      `Critical path in detail (second partition at log level debug, ${t.keys} keys one at a time, no polling; ` +
        `durable commit p50 ${ms(c.durableCommitMs.p50, 2)} ms (mean ${ms(c.durableCommitMs.mean, 2)}, p90 ${ms(c.durableCommitMs.p90, 2)}) vs ${ms(c.nonDurableCommitMs.p50, 3)} ms without fsync; ` +
        `loopback HTTP POST p50 ${ms(c.httpPostMs.p50, 2)} ms; worker round trip p50 ${ms(c.workerRoundTripMs.p50, 3)} ms):`,
    )
    say(
      `  ${pad('segment', 70)}${padLeft('mean ms', 9)}${padLeft('crypto', 8)}${padLeft('fsyncs', 8)}${padLeft('fsync ms', 10)}${padLeft('other', 8)}` +
        `${padLeft('in region', 11)}`,
    )
    for (const s of t.segments) {
      say(
        `  ${pad(s.segment, 70)}${padLeft(ms(s.meanMs, 2), 9)}${padLeft(ms(s.cryptoFloorMs, 2), 8)}${padLeft(String(s.fsyncs), 8)}` +
          `${padLeft(ms(s.fsyncMs, 2), 10)}${padLeft(ms(s.otherMs, 2), 8)}${padLeft(s.handledInRegionMs === undefined ? '' : ms(s.handledInRegionMs, 2), 11)}`,
      )
    }
    const sum = (pick: (s: TraceSegment) => number): number => t.segments.reduce((total, s) => total + pick(s), 0)
    say(
      `  ${pad('ReplicateKey → Enabled (committed in eu-west-1)', 70)}${padLeft(ms(t.totalMeanMs, 2), 9)}${padLeft(
        ms(
          sum((s) => s.cryptoFloorMs),
          2,
        ),
        8,
      )}` +
        `${padLeft(String(sum((s) => s.fsyncs)), 8)}${padLeft(
          ms(
            sum((s) => s.fsyncMs),
            2,
          ),
          10,
        )}${padLeft(
          ms(
            sum((s) => s.otherMs),
            2,
          ),
          8,
        )}`,
    )
    say(
      `  (p50 of the total ${ms(t.totalP50Ms, 2)} ms; 'in region': the receiving region's own handling time of the delivery, from its debug log; ` +
        `us-east-1 logs ReplicateKey handling at ${ms(t.replicateKeyHandlingMs, 2)} ms mean, its commit included)`,
    )
    say(
      '  Off the critical path, per replication: each sender deletes every message it sent in its own durable commit ' +
        '(A 2, B 3), and A commits TransferComplete and SyncAck apart: 16 fsyncs in all (A 6, B 5, proxy 5), each blocking its event loop.',
    )
  }
  if (report.errors.length > 0) {
    say()
    for (const error of report.errors) say(`error: ${error}`)
  }
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

let interrupted = false

/** Runs the whole replication benchmark; returns the exit code (1 if something failed, not if a target was missed). */
export async function runReplicationBench(settings: ReplicationSettings = DEFAULT_SETTINGS): Promise<number> {
  mkdirSync(settings.dataDirBase, { recursive: true })
  const workDir = mkdtempSync(join(settings.dataDirBase, 'trent-bench-replication-'))
  const logDir = join(workDir, 'logs')
  mkdirSync(logDir)
  let keepWorkDir = settings.keepLogs
  const removeWorkDir = (): void => {
    if (!keepWorkDir) rmSync(workDir, { recursive: true, force: true })
  }
  // An interrupt or process.exit anywhere (run.ts's own handlers included) leaves no temp dir.
  process.once('exit', removeWorkDir)
  const partitions: Partition[] = []
  const budget = setTimeout(() => {
    process.stderr.write(
      `bench: the replication benchmark exceeded its time budget of ${settings.budgetSeconds} s; stopping everything (logs kept in ${logDir})\n`,
    )
    keepWorkDir = true
    void stopAll().then(() => process.exit(1))
  }, settings.budgetSeconds * 1000)
  budget.unref()

  const report: ReplicationReport = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    machine: describeMachine(),
    settings: {
      warmupKeys: settings.warmupKeys,
      latencyKeys: settings.latencyKeys,
      throughputKeys: settings.throughputKeys,
      concurrency: settings.concurrency,
      pollIntervalMs: settings.pollIntervalMs,
      pollStartFraction: settings.pollStartFraction,
      nodeFlags: settings.nodeFlags,
      dataDirBase: settings.dataDirBase,
      trace: settings.trace,
      traceKeys: settings.traceKeys,
      regions: [PRIMARY, REPLICA],
      reconcileIntervalMs: DEFAULT_RECONCILE_INTERVAL_MS,
      logLevel: 'info',
    },
    errors: [],
  }
  const revision = sourceRevision()
  if (revision !== undefined) report.source = revision

  say()
  say(
    `bench replication: ${PRIMARY} → ${REPLICA}; ${settings.warmupKeys} warm-up, ${settings.latencyKeys} one at a time, ` +
      `${settings.throughputKeys} at once (≤ ${settings.concurrency} calls in flight)${settings.trace ? `, ${settings.traceKeys} traced` : ''}; ` +
      `data and logs in ${workDir}; time budget ${settings.budgetSeconds} s`,
  )
  try {
    if (!partitionBuilt()) throw new Error('dist/src/partition/main.js does not exist: build the project first (npm run build)')
    // On a quiet machine first: the floor and the component costs.
    const floor = measureP384Floor()
    report.floor = floor
    say()
    say(floorTable(floor))
    report.components = await measureComponents(workDir)
    const c = report.components
    say(
      `other costs every hop pays here: durable SQLite commit (WAL, synchronous=FULL) p50 ${ms(c.durableCommitMs.p50, 2)} ms, mean ${ms(c.durableCommitMs.mean, 2)}, ` +
        `p90 ${ms(c.durableCommitMs.p90, 2)} (without fsync ${ms(c.nonDurableCommitMs.p50, 3)}); loopback keep-alive POST (fetch → node:http) p50 ${ms(c.httpPostMs.p50, 2)} ms; ` +
        `worker_threads round trip p50 ${ms(c.workerRoundTripMs.p50, 3)} ms`,
    )
    if (interrupted) return 130

    const total = settings.warmupKeys + settings.latencyKeys + settings.throughputKeys
    const partition = await startPartition('replication-partition', join(workDir, 'partition'), logDir, 'info', settings.nodeFlags)
    partitions.push(partition)
    say(
      `partition: gateway :${partition.client.gatewayPort}, proxy ${partition.client.proxyUrl}, regions ${JSON.stringify(partition.regionPids)} (pids)`,
    )
    const keys = await createKeys(partition.client, total)
    const warmup = keys.slice(0, settings.warmupKeys)
    const latencyKeys = keys.slice(settings.warmupKeys, settings.warmupKeys + settings.latencyKeys)
    const throughputKeys = keys.slice(settings.warmupKeys + settings.latencyKeys)
    say(`created ${keys.length} multi-Region keys in ${PRIMARY}`)

    const warm = warmup.length > 0 ? await latencyPhase(partition, warmup, settings) : undefined
    if (interrupted) return 130
    const latency = await latencyPhase(partition, latencyKeys, settings, warm?.result.enabledMs.min)
    report.latency = latency.result
    say(`latency: p50 ${ms(latency.result.enabledMs.p50)} ms, p99 ${ms(latency.result.enabledMs.p99)} ms over ${latencyKeys.length} keys`)
    if (interrupted) return 130
    if (throughputKeys.length > 0) {
      report.throughput = await throughputPhase(partition, throughputKeys, settings)
      say(`throughput: ${report.throughput.replicationsPerSecond.toFixed(1)} replications/s to Enabled`)
    }
    const pollKey = latencyKeys[0] ?? warmup[0]
    if (pollKey !== undefined) report.polling = await pollCost(partition, pollKey)
    await partition.stop()
    partitions.splice(partitions.indexOf(partition), 1)
    // Stopped: the launcher's log is complete.
    const hops = hopSplit(readLogEvents(partition.managed.logFile), latency.windows)
    if (hops !== undefined && report.latency !== undefined) report.latency.hops = hops

    if (settings.trace && settings.traceKeys > 0 && !interrupted) {
      const traced = await startPartition(
        'replication-trace-partition',
        join(workDir, 'trace-partition'),
        logDir,
        'debug',
        settings.nodeFlags,
      )
      partitions.push(traced)
      const traceKeys = await createKeys(traced.client, settings.traceKeys + 5)
      // Quiet until the replication has most likely settled (Enabled, then TransferComplete and SyncAck).
      const quietMs = 1.3 * latency.result.enabledMs.p90 + 20
      await tracePhase(traced, traceKeys.slice(0, 5), quietMs)
      const windows = await tracePhase(traced, traceKeys.slice(5), quietMs)
      await traced.stop()
      partitions.splice(partitions.indexOf(traced), 1)
      const trace = traceReport(readLogEvents(traced.managed.logFile), windows, floor, report.components.durableCommitMs.p50)
      if (trace !== undefined) report.trace = trace
      else report.errors.push('trace: no traced replication had all its log lines')
    }

    if (report.latency !== undefined && report.throughput !== undefined) {
      const p50 = report.latency.enabledMs.p50
      const rate = report.throughput.replicationsPerSecond
      report.targets = {
        latencyP50Ms: { target: LATENCY_P50_TARGET_MS, value: p50, met: p50 <= LATENCY_P50_TARGET_MS },
        replicationsPerSecond: { target: THROUGHPUT_TARGET_PER_SECOND, value: rate, met: rate >= THROUGHPUT_TARGET_PER_SECOND },
      }
      const cpuTotal = report.throughput.cpuPerReplication.reduce((sum, p) => sum + p.microseconds, 0)
      report.ratios = {
        latencyP50ToSerialFloor: p50 / (floor.serialLatencyFloorMicroseconds / 1000),
        throughputToTwoCoreFloor: rate / floor.maxReplicationsPerSecondTwoCores,
        cpuToCryptoFloor: cpuTotal / floor.totalMicroseconds,
      }
    }
  } catch (err) {
    if (!interrupted) {
      report.errors.push(errorText(err))
      keepWorkDir = true
    }
  } finally {
    await Promise.all(partitions.map((p) => p.stop()))
    clearTimeout(budget)
  }
  if (interrupted) return 130
  report.finishedAt = new Date().toISOString()
  printSummary(report)
  mkdirSync(dirname(settings.out), { recursive: true })
  writeFileSync(settings.out, `${JSON.stringify(report, null, 2)}\n`)
  say()
  say(`raw results: ${settings.out}`)
  if (keepWorkDir) say(`logs kept in ${logDir}`)
  removeWorkDir()
  return report.errors.length > 0 ? 1 : 0
}

function partitionBuilt(): boolean {
  try {
    readFileSync(PARTITION_MAIN)
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------
// Entry points: on its own, and as the end of `npm run bench`
// ---------------------------------------------------------------------------------------

function positiveInteger(value: string, flag: string, allowZero = false): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < (allowZero ? 0 : 1)) {
    process.stderr.write(`bench: ${flag} must be a ${allowZero ? 'non-negative' : 'positive'} integer\n`)
    process.exit(2)
  }
  return parsed
}

function fraction(value: string, flag: string): number {
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed < 0 || parsed >= 1) {
    process.stderr.write(`bench: ${flag} must be a number in [0, 1)\n`)
    process.exit(2)
  }
  return parsed
}

function settingsFromCommandLine(args: string[]): ReplicationSettings {
  let values
  try {
    values = parseArgs({
      args,
      options: {
        'warmup-keys': { type: 'string', default: String(DEFAULT_SETTINGS.warmupKeys) },
        'latency-keys': { type: 'string', default: String(DEFAULT_SETTINGS.latencyKeys) },
        'throughput-keys': { type: 'string', default: String(DEFAULT_SETTINGS.throughputKeys) },
        concurrency: { type: 'string', default: String(DEFAULT_SETTINGS.concurrency) },
        'poll-interval-ms': { type: 'string', default: String(DEFAULT_SETTINGS.pollIntervalMs) },
        'poll-start-fraction': { type: 'string', default: String(DEFAULT_SETTINGS.pollStartFraction) },
        'cpu-prof': { type: 'string' },
        'data-dir-base': { type: 'string' },
        'trace-keys': { type: 'string', default: String(DEFAULT_SETTINGS.traceKeys) },
        'no-trace': { type: 'boolean', default: false },
        'budget-seconds': { type: 'string', default: String(DEFAULT_SETTINGS.budgetSeconds) },
        'keep-logs': { type: 'boolean', default: false },
        out: { type: 'string' },
      },
      strict: true,
    }).values
  } catch (err) {
    process.stderr.write(`bench: ${errorText(err)}\n`)
    process.exit(2)
  }
  return {
    warmupKeys: positiveInteger(values['warmup-keys'], '--warmup-keys', true),
    latencyKeys: positiveInteger(values['latency-keys'], '--latency-keys'),
    throughputKeys: positiveInteger(values['throughput-keys'], '--throughput-keys', true),
    concurrency: positiveInteger(values.concurrency, '--concurrency'),
    pollIntervalMs: positiveInteger(values['poll-interval-ms'], '--poll-interval-ms', true),
    pollStartFraction: fraction(values['poll-start-fraction'], '--poll-start-fraction'),
    nodeFlags: values['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof'])}`],
    dataDirBase: resolve(values['data-dir-base'] ?? DEFAULT_SETTINGS.dataDirBase),
    trace: !values['no-trace'],
    traceKeys: positiveInteger(values['trace-keys'], '--trace-keys', true),
    budgetSeconds: positiveInteger(values['budget-seconds'], '--budget-seconds'),
    keepLogs: values['keep-logs'],
    out: resolve(values.out ?? DEFAULT_OUT),
  }
}

/**
 * Takes `--only X` (or `--only=X`) off process.argv, so that run.ts's strict parser never
 * sees it; undefined when absent.
 */
function takeOnlyFlag(): OnlyPart | undefined {
  const argv = process.argv
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    let value: string | undefined
    if (arg === '--only') {
      value = argv[i + 1]
      argv.splice(i, 2)
    } else if (arg.startsWith('--only=')) {
      value = arg.slice('--only='.length)
      argv.splice(i, 1)
    } else continue
    if (value !== 'kms' && value !== 'replication' && value !== 'nodes') {
      process.stderr.write(`bench: --only must be kms, nodes or replication, not ${value ?? '(nothing)'}\n`)
      process.exit(2)
    }
    return value
  }
  return undefined
}

function stopOnSignals(): void {
  const stop = (code: number): void => {
    interrupted = true
    process.stderr.write('bench: interrupted; stopping everything\n')
    void stopAll().then(() => process.exit(code))
  }
  process.once('SIGINT', () => stop(130))
  process.once('SIGTERM', () => stop(143))
}

/** `npm run bench -- --only X`: which part alone (kms: the KMS operations; nodes: issue 11's region of several nodes). */
export type OnlyPart = 'kms' | 'nodes' | 'replication'

const entry = process.argv[1] === undefined ? '' : resolve(process.argv[1])
const ranDirectly = entry === fileURLToPath(import.meta.url)
const ranByRunTs = entry === fileURLToPath(new URL('./run.js', import.meta.url))
/** The `--only` part run.ts was asked for, taken off its command line here. */
export const onlyPart: OnlyPart | undefined = ranByRunTs ? takeOnlyFlag() : undefined
const replicationWanted = onlyPart === undefined || onlyPart === 'replication'

if (ranByRunTs) {
  if (onlyPart === 'replication') {
    // run.ts's own body (flags, time budget, signal handlers) never runs: this exits first.
    stopOnSignals()
    const code = await runReplicationBench(DEFAULT_SETTINGS)
    await stopAll()
    process.exit(code)
  }
  // run.ts stops everything and exits on a signal; this part must then not start, or stop where it is.
  process.once('SIGINT', () => (interrupted = true))
  process.once('SIGTERM', () => (interrupted = true))
}

/**
 * The end of `npm run bench` (bench/run.ts): runs this benchmark after the KMS one, unless
 * `--only kms|nodes` or the run was interrupted; returns the worse of the two exit codes.
 */
export async function replicationAfterKms(kmsCode: number): Promise<number> {
  if (!replicationWanted || interrupted || kmsCode > 1) return kmsCode
  const code = await runReplicationBench(DEFAULT_SETTINGS)
  return Math.max(kmsCode, code)
}

if (ranDirectly) {
  const settings = settingsFromCommandLine(process.argv.slice(2))
  stopOnSignals()
  const code = await runReplicationBench(settings)
  await stopAll()
  process.exit(code)
}
