/**
 * Starts a local partition the way a user does (`node dist/src/partition/main.js ...`,
 * a real launcher with one OS process per region), and talks to it.
 *
 *   const partition = await startPartition({ regions: ['us-east-1', 'eu-west-1'] })
 *   const kms = kmsClient(partition, 'eu-west-1')
 *   ...
 *   after(stopAllPartitions)
 *
 * The launcher is spawned with an IPC channel, over which it reports its gateway port,
 * each region node's port and pid (see PartitionMessage in src/partition/main.ts); it stops
 * its regions and exits if this test process goes away. Every partition started here is
 * also stopped by {@link stopAllPartitions}, and killed outright if the test process
 * exits with one still running.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import type { PartitionMessage } from '../../src/partition/main.js'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { startPostgresCluster, type PostgresCluster } from './postgres.js'

// The SDK warns, once per process, that it will drop Node 20 support. That is about
// the SDK's future, not about Trent; keep it out of test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

export const PARTITION_MAIN = fileURLToPath(new URL('../../src/partition/main.js', import.meta.url))
export const CREDENTIALS_PROFILE = 'trent'
const DEFAULT_REGIONS = ['us-east-1', 'eu-west-1'] as const
const DEFAULT_TIMEOUT_MS = 30_000
/** Launcher output kept for diagnostics; older output is dropped. */
const MAX_KEPT_OUTPUT = 1 << 20

export interface AdminCredentials {
  accessKeyId: string
  secretAccessKey: string
}

export interface StartPartitionOptions {
  regions?: readonly string[]
  /** Node processes per region (`--nodes`); by default the launcher's (1). */
  nodes?: number
  /** Reused as is and left in place; by default a fresh temp dir, removed on stop. */
  dataDir?: string
  /** Merged over this process's environment; `undefined` removes a variable. */
  env?: Readonly<Record<string, string | undefined>>
  extraArgs?: readonly string[]
  /** Gateway port; by default a free one (with free ones after it for 'launcher-default'). */
  port?: number
  /**
   * Passed as --region-port-base. Default 0 (each region picks a free port), so that
   * partitions of concurrent test files cannot collide; 'launcher-default' passes
   * nothing and lets the launcher put the regions right after the gateway port.
   */
  regionPortBase?: number | 'launcher-default'
  /** Wait until every region serves (default true); otherwise only until the gateway listens. */
  waitForReady?: boolean
  timeoutMs?: number
  /**
   * Runs the launcher (and so its regions) with at most this many open files (soft and
   * hard limit, through `prlimit`), to show what happens when descriptors run short.
   */
  openFileLimit?: number
}

/** A serving node of a region: its process, KMS port and replication listener's port. */
export interface NodeProcess {
  port: number
  replicationPort: number
  pid: number
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface RunningPartition {
  readonly pid: number
  readonly port: number
  readonly gatewayUrl: string
  readonly dataDir: string
  readonly regions: readonly string[]
  /** The admin credentials the regions accept: from `env` if given there, else DIR/credentials. */
  readonly credentials: AdminCredentials
  /**
   * Live: node 0 of each region, updated whenever it (re)starts serving; a region is
   * absent until its node 0 first serves (with one node per region: the region).
   */
  readonly regionPorts: ReadonlyMap<string, number>
  readonly regionPids: ReadonlyMap<string, number>
  /** Live: every serving node of each region, by node id; a node is absent while it does not serve. */
  readonly regionNodes: ReadonlyMap<string, ReadonlyMap<number, NodeProcess>>
  /** Every region pid this partition ever reported (every node's), restarted ones included. */
  readonly allRegionPids: ReadonlySet<number>
  /** Resolves when the launcher process has exited. */
  readonly exited: Promise<ExitStatus>
  /** What the launcher wrote so far (stdout: JSON log lines; stderr: banner and region stderr). */
  output(): { stdout: string; stderr: string }
  regionUrl(region: string): string
  /** Resolves once every region is serving (the launcher's 'ready' and /health 200). */
  waitUntilReady(timeoutMs?: number): Promise<void>
  /** Resolves with the new pid once `region` (its node 0) serves from a process other than `previousPid`. */
  waitForRegionRestart(region: string, previousPid: number, timeoutMs?: number): Promise<number>
  /** Resolves with the new pid once `node` of `region` serves from a process other than `previousPid`. */
  waitForNodeRestart(region: string, node: number, previousPid: number, timeoutMs?: number): Promise<number>
  /** SIGTERM, wait for the launcher (SIGKILL after a deadline), then remove an owned data dir. */
  stop(): Promise<ExitStatus>
  /** SIGKILL the launcher only, as a crash would; waits for its regions to be gone too. */
  kill9(): Promise<ExitStatus>
}

const running = new Set<RunningPartition>()
const ownedChildren = new Set<ChildProcess>()

// Last resort, when a test forgot (or failed before) stopping: no launcher survives us.
// Its regions follow it on their own (their IPC channel to it closes).
process.on('exit', () => {
  for (const child of ownedChildren) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})

/** Stops every partition still running; meant for `after()` hooks. */
export async function stopAllPartitions(): Promise<void> {
  await Promise.all([...running].map((partition) => partition.stop()))
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function canListen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(undefined))
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

/**
 * A first port of `count` consecutive free ones (the launcher's own layout puts region i
 * on gateway port + 1 + i). Searched below Linux's ephemeral range (32768 and up), where
 * outgoing connections never take a port between our check and the launcher's bind.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * (12_000 - count))
    const servers = await Promise.all(Array.from({ length: count }, (_, index) => canListen(first + index)))
    await Promise.all(servers.map((server) => new Promise((done) => (server === undefined ? done(undefined) : server.close(done)))))
    if (servers.every((server) => server !== undefined)) return first
  }
  throw new Error(`found no ${count} consecutive free ports`)
}

export function createTempDir(prefix = 'trent-partition-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export function removeTempDir(path: string): void {
  rmSync(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Polls `probe` until it returns something other than undefined (or throws something
 * other than... nothing: errors propagate). No timing assertion: the deadline is only
 * there to turn a hang into a readable failure.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(intervalMs)
  }
}

/**
 * Whether a process still runs. A zombie (exited, not yet reaped, as happens under an
 * init that does not reap) answers signal 0 like a live process, so /proc is asked too.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2).charAt(0)
    return state !== 'Z' && state !== 'X'
  } catch (err) {
    // No /proc (not Linux): signal 0 is all we can know.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT'
  }
}

/** Waits until none of `pids` runs; returns those still running at the deadline (empty on success). */
export async function waitForProcessesGone(pids: Iterable<number>, timeoutMs = 15_000): Promise<number[]> {
  const watched = [...pids]
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const alive = watched.filter(isProcessAlive)
    if (alive.length === 0 || Date.now() > deadline) return alive
    await delay(50)
  }
}

/** The key/value pairs of one profile of an AWS shared-credentials file, or undefined if absent. */
export function readCredentialsProfile(path: string, profile = CREDENTIALS_PROFILE): Map<string, string> | undefined {
  let section: string | undefined
  let found = false
  const values = new Map<string, string>()
  for (const rawLine of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[\s*([^\]]*?)\s*\]$/.exec(line)
    if (header !== null) {
      section = header[1]
      found ||= section === profile
      continue
    }
    const equals = line.indexOf('=')
    if (section === profile && equals > 0) values.set(line.slice(0, equals).trim(), line.slice(equals + 1).trim())
  }
  return found ? values : undefined
}

export function readCredentialsFile(path: string, profile = CREDENTIALS_PROFILE): AdminCredentials {
  const values = readCredentialsProfile(path, profile)
  const accessKeyId = values?.get('aws_access_key_id')
  const secretAccessKey = values?.get('aws_secret_access_key')
  if (accessKeyId === undefined || secretAccessKey === undefined) throw new Error(`${path} has no usable [${profile}] profile`)
  return { accessKeyId, secretAccessKey }
}

export interface PlainResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** One HTTP request on a connection of its own (no pool outliving the partition). */
export function httpRequest(
  url: string,
  { method = 'GET', headers = {}, body }: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Uint8Array } = {},
): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** One node of a region as GET /health reports it. */
export interface NodeHealth {
  node: number
  pid: number | null
  port: number | null
  status: string
  connections: number
  restarts: number
}

export interface HealthReport {
  status: number
  body: { status: string; regions: Record<string, { status: string; port?: number; nodes: NodeHealth[] }>; acceptAnyCredentials?: boolean }
}

export async function getHealth(partition: Pick<RunningPartition, 'gatewayUrl'>): Promise<HealthReport> {
  const response = await httpRequest(`${partition.gatewayUrl}/health`)
  return { status: response.status, body: JSON.parse(response.body) as HealthReport['body'] }
}

/** Polls /health until it answers `status`; returns that report. */
export function waitForHealth(
  partition: Pick<RunningPartition, 'gatewayUrl'>,
  status: 200 | 503,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<HealthReport> {
  return waitFor(
    `/health to answer ${status}`,
    async () => {
      const report = await getHealth(partition).catch(() => undefined)
      return report?.status === status ? report : undefined
    },
    { timeoutMs },
  )
}

const clientsByPartition = new WeakMap<RunningPartition, Set<KMSClient>>()

/**
 * An SDK client for `region`, through the gateway unless `config.endpoint` says
 * otherwise. Destroyed when the partition stops.
 */
export function kmsClient(partition: RunningPartition, region: string, config: Partial<KMSClientConfig> = {}): KMSClient {
  // A copy: the SDK annotates the credentials object it is given (with `$source`).
  const client = new KMSClient({ region, endpoint: partition.gatewayUrl, credentials: { ...partition.credentials }, ...config })
  let clients = clientsByPartition.get(partition)
  if (clients === undefined) {
    clients = new Set()
    clientsByPartition.set(partition, clients)
  }
  clients.add(client)
  return client
}

function isPartitionMessage(message: unknown): message is PartitionMessage {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string'
}

function appendCapped(kept: string, more: string): string {
  const joined = kept + more
  return joined.length > MAX_KEPT_OUTPUT ? joined.slice(joined.length - MAX_KEPT_OUTPUT) : joined
}

/**
 * Which kind of partition the tests run against when the test does not say:
 * `TRENT_TEST_NODES` (nodes per region) and `TRENT_TEST_STORE=postgres` (each partition
 * on a PostgreSQL database of its own, in a cluster this process starts). `npm test` runs
 * the interop suites once as a user starts Trent and once so (tools/run-tests.mjs).
 */
function partitionProfile(): { nodes: number | undefined; postgres: boolean } {
  const nodes = process.env.TRENT_TEST_NODES
  return { nodes: nodes === undefined || nodes === '' ? undefined : Number(nodes), postgres: process.env.TRENT_TEST_STORE === 'postgres' }
}

let testCluster: Promise<PostgresCluster> | undefined
/** A partition started again on the same data dir finds its store again. */
const databaseOfDataDir = new Map<string, Promise<string>>()

/** A database of its own in this process's PostgreSQL cluster, for one partition's data dir. */
function postgresDatabaseFor(dataDir: string): Promise<string> {
  let url = databaseOfDataDir.get(dataDir)
  if (url === undefined) {
    url = freshPostgresDatabase()
    databaseOfDataDir.set(dataDir, url)
  }
  return url
}

async function freshPostgresDatabase(): Promise<string> {
  testCluster ??= startPostgresCluster()
  const cluster = await testCluster
  const name = `partition_${randomBytes(6).toString('hex')}`
  const client = new pg.Client({ connectionString: cluster.url })
  await client.connect()
  try {
    await client.query(`CREATE DATABASE ${name}`)
  } finally {
    await client.end()
  }
  return cluster.url.replace(/\/postgres$/, `/${name}`)
}

export async function startPartition(options: StartPartitionOptions = {}): Promise<RunningPartition> {
  const regions = [...(options.regions ?? DEFAULT_REGIONS)]
  const ownsDataDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? createTempDir()
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const regionPortBase = options.regionPortBase ?? 0
  const profile = partitionProfile()
  const nodes = options.nodes ?? profile.nodes
  const nodesPerRegion = nodes ?? 1
  const port = options.port ?? (await freePortRange(regionPortBase === 'launcher-default' ? 1 + regions.length * nodesPerRegion : 1))

  const args = [PARTITION_MAIN, '--port', String(port), '--regions', regions.join(','), '--data-dir', dataDir]
  if (nodes !== undefined) args.push('--nodes', String(nodes))
  if (regionPortBase !== 'launcher-default') args.push('--region-port-base', String(regionPortBase))
  const extraArgs = options.extraArgs ?? []
  if (profile.postgres && !extraArgs.includes('--store')) args.push('--store', await postgresDatabaseFor(dataDir))
  args.push(...extraArgs)

  // Credentials of the surrounding environment must not leak into a partition unasked.
  const env: NodeJS.ProcessEnv = { ...process.env, TRENT_ACCESS_KEY_ID: undefined, TRENT_SECRET_ACCESS_KEY: undefined }
  for (const [name, value] of Object.entries(options.env ?? {})) env[name] = value
  for (const name of Object.keys(env)) if (env[name] === undefined) delete env[name]

  // prlimit execs node in its own place, so the pid and the IPC channel are the launcher's.
  const child =
    options.openFileLimit === undefined
      ? spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
      : spawn('prlimit', [`--nofile=${options.openFileLimit}:${options.openFileLimit}`, process.execPath, ...args], {
          env,
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        })
  ownedChildren.add(child)
  const pid = child.pid
  if (pid === undefined) throw new Error('the launcher could not be spawned')

  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout = appendCapped(stdout, text)))
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr = appendCapped(stderr, text)))
  const output = (): { stdout: string; stderr: string } => ({ stdout, stderr })

  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      ownedChildren.delete(child)
      resolve({ code, signal })
    })
  })
  let exitStatus: ExitStatus | undefined
  void exited.then((status) => (exitStatus = status))

  const regionPorts = new Map<string, number>()
  const regionPids = new Map<string, number>()
  const regionNodes = new Map<string, Map<number, NodeProcess>>(regions.map((region) => [region, new Map()]))
  const allRegionPids = new Set<number>()
  let gatewayListening = false
  let everyRegionReady = false
  child.on('message', (message: unknown) => {
    if (!isPartitionMessage(message)) return
    switch (message.type) {
      case 'gateway-listening':
        gatewayListening = true
        break
      case 'region-ready':
        if (message.node === 0) {
          regionPorts.set(message.region, message.port)
          regionPids.set(message.region, message.pid)
        }
        regionNodes
          .get(message.region)
          ?.set(message.node, { port: message.port, replicationPort: message.replicationPort, pid: message.pid })
        allRegionPids.add(message.pid)
        break
      case 'region-exit': {
        if (message.node === 0 && regionPids.get(message.region) === message.pid) {
          regionPorts.delete(message.region)
          regionPids.delete(message.region)
        }
        const nodes = regionNodes.get(message.region)
        if (nodes !== undefined && nodes.get(message.node)?.pid === message.pid) nodes.delete(message.node)
        break
      }
      case 'ready':
        everyRegionReady = true
        break
    }
  })

  /** Waits for `condition`, failing at once, with the launcher's output, if it exits first. */
  async function waitForLauncher<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms: number): Promise<T> {
    return waitFor(
      what,
      async () => {
        if (exitStatus !== undefined) {
          throw new Error(
            `the launcher exited (code ${exitStatus.code}, signal ${exitStatus.signal}) before ${what}\n` +
              `--- stderr ---\n${stderr}\n--- stdout ---\n${stdout}`,
          )
        }
        return probe()
      },
      { timeoutMs: ms },
    )
  }

  const gatewayUrl = `http://127.0.0.1:${port}`
  let credentials: AdminCredentials | undefined
  let stopped: Promise<ExitStatus> | undefined

  async function stopWith(signal: NodeJS.Signals, deadlineMs: number): Promise<ExitStatus> {
    if (exitStatus === undefined) child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs)
    const status = await exited
    clearTimeout(timer)
    return status
  }

  async function cleanUp(): Promise<void> {
    running.delete(partition)
    for (const client of clientsByPartition.get(partition) ?? []) client.destroy()
    // Regions may outlive a killed launcher by a moment; let them go before removing their files.
    await waitForProcessesGone(allRegionPids)
    if (ownsDataDir) removeTempDir(dataDir)
  }

  const partition: RunningPartition = {
    pid,
    port,
    gatewayUrl,
    dataDir,
    regions,
    get credentials(): AdminCredentials {
      if (credentials === undefined) throw new Error('credentials are known once the gateway listens')
      return { ...credentials }
    },
    regionPorts,
    regionPids,
    regionNodes,
    allRegionPids,
    exited,
    output,
    regionUrl(region) {
      const regionPort = regionPorts.get(region)
      if (regionPort === undefined) throw new Error(`region ${region} is not serving`)
      return `http://127.0.0.1:${regionPort}`
    },
    async waitUntilReady(ms = timeoutMs) {
      await waitForLauncher('every region to be ready', () => (everyRegionReady ? true : undefined), ms)
      await waitForHealth(partition, 200, ms)
    },
    waitForRegionRestart(region, previousPid, ms = timeoutMs) {
      return waitForLauncher(
        `region ${region} to serve again from a new process`,
        () => {
          const current = regionPids.get(region)
          return current !== undefined && current !== previousPid ? current : undefined
        },
        ms,
      )
    },
    waitForNodeRestart(region, node, previousPid, ms = timeoutMs) {
      return waitForLauncher(
        `node ${node} of region ${region} to serve again from a new process`,
        () => {
          const current = regionNodes.get(region)?.get(node)?.pid
          return current !== undefined && current !== previousPid ? current : undefined
        },
        ms,
      )
    },
    stop() {
      stopped ??= (async () => {
        // Beyond the launcher's own 10 s grace for its regions.
        const status = await stopWith('SIGTERM', 20_000)
        await cleanUp()
        return status
      })()
      return stopped
    },
    kill9() {
      stopped ??= (async () => {
        const status = await stopWith('SIGKILL', 5_000)
        await cleanUp()
        return status
      })()
      return stopped
    },
  }
  running.add(partition)

  try {
    await waitForLauncher('the gateway to listen', () => (gatewayListening ? true : undefined), timeoutMs)
    const envKeyId = env.TRENT_ACCESS_KEY_ID
    const envSecret = env.TRENT_SECRET_ACCESS_KEY
    credentials =
      envKeyId !== undefined && envSecret !== undefined
        ? { accessKeyId: envKeyId, secretAccessKey: envSecret }
        : readCredentialsFile(join(dataDir, 'credentials'))
    if (options.waitForReady !== false) await partition.waitUntilReady()
  } catch (err) {
    await partition.stop()
    throw err
  }
  return partition
}
