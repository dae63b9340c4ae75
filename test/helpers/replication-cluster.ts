/**
 * A partition of real OS processes for replication crash tests: N region processes
 * (each its own data dir, `--proxy-url`, `--allow-test-hooks`, a short reconciliation
 * interval) and one proxy process routing to them, with every region's trust store
 * written the way the launcher writes it (src/partition/replication-setup.ts).
 *
 * Any region, or the proxy, can be killed with SIGKILL and started again on the same
 * data dir and port, so that routes and `--proxy-url` stay valid; a region can be
 * (re)started with failpoints armed (src/kms/failpoints.ts).
 *
 *   const cluster = await startReplicationCluster({ regions: ['us-east-1', 'eu-west-1'] })
 *   try {
 *     const kms = cluster.region('us-east-1').client()
 *     ...
 *     await cluster.region('eu-west-1').restart({ failpoints: ['inbound:before-apply'] })
 *   } finally {
 *     await cluster.close()
 *   }
 *
 * `close()` stops every process and removes the temp dir; a test process that exits
 * with cluster processes still running kills them (and they exit on their own when
 * their IPC channel to this process closes).
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KMSClient } from '@aws-sdk/client-kms'
import type { FailpointName } from '../../src/kms/failpoints.js'
import type { DestinationStatus } from '../../src/proxy/relay.js'
import { TEST_CREDENTIALS } from './in-process-region.js'
import { getJson, startProxyProcess, type ProxyProcess, type RouteMap } from './proxy-process.js'
import { sendRaw } from './signed-http.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const REGION_MAIN = new URL('../../src/region/main.js', import.meta.url)
/** Kept of each process's stdout and stderr, for diagnostics when a test fails. */
const MAX_KEPT_OUTPUT = 64 * 1024
const START_TIMEOUT_MS = 30_000

export type { FailpointName }

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ClusterRegion {
  readonly name: string
  readonly dataDir: string
  /** Fixed for the cluster's life: every incarnation listens here. */
  readonly port: number
  readonly url: string
  /** Whether the current incarnation is alive (started and not yet exited). */
  readonly running: boolean
  /** The current (or last) incarnation's pid. */
  readonly pid: number | undefined
  /** How many times this region was started. */
  readonly starts: number
  /** An SDK client for the current incarnation (destroyed when it dies; ask again after a restart). */
  client(): KMSClient
  /** Starts the region on its data dir and port; `failpoints` arms `TRENT_FAILPOINTS`. */
  start(options?: { failpoints?: readonly FailpointName[] }): Promise<void>
  kill9(): Promise<void>
  /** SIGTERM, and SIGKILL if it takes too long. */
  stop(): Promise<void>
  /** kill -9 (if running), then start again on the same data dir and port. */
  restart(options?: { failpoints?: readonly FailpointName[] }): Promise<void>
  /** Resolves when the current incarnation exits (by itself, a failpoint, or a kill). */
  waitForExit(timeoutMs?: number): Promise<ExitInfo>
  /** The marker file the failpoint leaves in the data dir when it fires. */
  failpointFired(name: FailpointName): boolean
  /** A `TrentAdmin.<operation>` call, SigV4-signed; throws on a non-200 answer. */
  admin(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>>
  /** The tail of what this region's processes wrote, for diagnostics. */
  output(): string
}

export interface ClusterProxy {
  readonly dataDir: string
  readonly port: number
  readonly url: string
  readonly running: boolean
  readonly routes: RouteMap
  start(): Promise<void>
  kill9(): Promise<void>
  stop(): Promise<void>
  restart(): Promise<void>
  /** `GET /v1/status`: per destination region, what is pending, delivered, refused. */
  status(): Promise<{ routes: unknown; destinations: Record<string, DestinationStatus> }>
  /** Points a region's route somewhere else (a dead port, say) while the proxy runs. */
  setRoutes(routes: RouteMap): Promise<void>
}

export interface ReplicationCluster {
  readonly root: string
  readonly partition: string
  readonly regionNames: readonly string[]
  readonly proxy: ClusterProxy
  region(name: string): ClusterRegion
  /** Writes every region's trust store from every region's published `rsk-public.json`. */
  writeTrustStores(): void
  /** Stops every process (SIGKILL: nothing here needs a clean stop) and removes the temp dir. */
  close(): Promise<void>
}

export interface ReplicationClusterOptions {
  regions: readonly string[]
  /** Failpoints armed at the first start, per region. */
  failpoints?: Readonly<Record<string, readonly FailpointName[]>>
  /** Default 300 ms, so that repairs are quick. */
  reconcileIntervalMs?: number
  /** Proxy redelivery backoff; default 10 ms doubling to 200 ms. */
  proxyBackoff?: { initialMs: number; maxMs: number }
  /** More proxy flags, e.g. `['--max-in-flight', '1']` for strictly ordered delivery per region. */
  proxyExtraArgs?: readonly string[]
}

// ---------------------------------------------------------------------------------------
// Process bookkeeping: nothing outlives the test process.

const liveChildren = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of liveChildren) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

function exitOf(child: ChildProcess): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

function keepTail(buffer: { text: string }, chunk: Buffer | string, prefix: string): void {
  const lines = chunk
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `${prefix}${l}\n`)
    .join('')
  buffer.text = (buffer.text + lines).slice(-MAX_KEPT_OUTPUT)
  if (process.env.TRENT_TEST_VERBOSE === '1') process.stderr.write(lines)
}

// ---------------------------------------------------------------------------------------
// Ports: fixed for the cluster's life, below Linux's ephemeral range (32768 and up) so
// that no outgoing connection takes one between a kill and the restart that rebinds it.

const handedOut = new Set<number>()

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

async function reservePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (handedOut.has(port)) continue
    handedOut.add(port)
    if (await canListen(port)) return port
  }
  throw new Error('found no free port')
}

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, text)
  renameSync(temporary, path)
}

// ---------------------------------------------------------------------------------------

function createRegion(
  name: string,
  dataDir: string,
  port: number,
  replicationPort: number,
  proxyUrl: string,
  reconcileIntervalMs: number,
): ClusterRegion {
  let child: ChildProcess | undefined
  let exited: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null })
  let client: KMSClient | undefined
  let starts = 0
  const output = { text: '' }
  const url = `http://127.0.0.1:${port}`
  const isRunning = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null

  function dropClient(): void {
    client?.destroy()
    client = undefined
  }

  const region: ClusterRegion = {
    name,
    dataDir,
    port,
    url,
    get running() {
      return isRunning()
    },
    get pid() {
      return child?.pid
    },
    get starts() {
      return starts
    },
    client() {
      client ??= new KMSClient({ region: name, endpoint: url, credentials: TEST_CREDENTIALS, maxAttempts: 1 })
      return client
    },
    async start(options = {}) {
      if (isRunning()) throw new Error(`${name} is already running`)
      dropClient()
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TRENT_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
        TRENT_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        TRENT_LOG_LEVEL: process.env.TRENT_LOG_LEVEL ?? 'warn',
      }
      delete env.TRENT_FAILPOINTS
      if (options.failpoints !== undefined && options.failpoints.length > 0) env.TRENT_FAILPOINTS = options.failpoints.join(',')
      starts += 1
      const incarnation = starts
      const next = fork(
        REGION_MAIN,
        [
          '--region',
          name,
          '--data-dir',
          dataDir,
          '--port',
          String(port),
          '--replication-port',
          String(replicationPort),
          '--proxy-url',
          proxyUrl,
          '--allow-test-hooks',
          '--reconcile-interval-ms',
          String(reconcileIntervalMs),
        ],
        {
          env,
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
          execArgv: process.execArgv.filter((flag) => !flag.startsWith('--inspect') && !flag.startsWith('--test')),
        },
      )
      child = next
      liveChildren.add(next)
      exited = exitOf(next)
      void exited.then((info) => {
        liveChildren.delete(next)
        keepTail(output, `[exit code=${String(info.code)} signal=${String(info.signal)}]`, `[${name}#${incarnation}] `)
      })
      next.stdout?.on('data', (chunk: Buffer) => keepTail(output, chunk, `[${name}#${incarnation}] `))
      next.stderr?.on('data', (chunk: Buffer) => keepTail(output, chunk, `[${name}#${incarnation} stderr] `))
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} did not become ready\n${output.text}`)), START_TIMEOUT_MS)
        next.once('exit', (code, signal) => {
          clearTimeout(timer)
          reject(new Error(`${name} exited before it was ready (code ${String(code)}, signal ${String(signal)})\n${output.text}`))
        })
        next.on('message', (message: { type?: string }) => {
          if (message.type === 'ready') {
            clearTimeout(timer)
            resolve()
          }
        })
      })
    },
    async kill9() {
      dropClient()
      if (child === undefined) return
      if (isRunning()) child.kill('SIGKILL')
      await exited
    },
    async stop() {
      dropClient()
      if (child === undefined || !isRunning()) return
      const stopping = child
      const force = setTimeout(() => stopping.kill('SIGKILL'), 10_000)
      stopping.kill('SIGTERM')
      await exited
      clearTimeout(force)
    },
    async restart(options = {}) {
      await region.kill9()
      await region.start(options)
    },
    async waitForExit(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} did not exit within ${timeoutMs} ms\n${output.text}`)), timeoutMs)
      })
      try {
        const info = await Promise.race([exited, timeout])
        dropClient()
        return info
      } finally {
        clearTimeout(timer)
      }
    },
    failpointFired(failpointName) {
      return existsSync(join(dataDir, `failpoint-${failpointName.replaceAll(':', '_')}.fired`))
    },
    async admin(operation, input) {
      const response = await sendRaw({ endpoint: url, region: name, target: `TrentAdmin.${operation}`, body: JSON.stringify(input) })
      if (response.status !== 200 || response.json === undefined)
        throw new Error(`TrentAdmin.${operation} in ${name}: ${response.status} ${response.body}`)
      return response.json
    },
    output() {
      return output.text
    },
  }
  return region
}

function createProxy(
  dataDir: string,
  port: number,
  routes: RouteMap,
  backoff: { initialMs: number; maxMs: number },
  extraArgs: readonly string[],
): ClusterProxy {
  let current: ProxyProcess | undefined
  let currentRoutes = { ...routes }
  const url = `http://127.0.0.1:${port}`
  const isRunning = (): boolean => current !== undefined && current.child.exitCode === null && current.child.signalCode === null
  const proxy: ClusterProxy = {
    dataDir,
    port,
    url,
    get running() {
      return isRunning()
    },
    get routes() {
      return { ...currentRoutes }
    },
    async start() {
      if (isRunning()) throw new Error('the proxy is already running')
      current = await startProxyProcess({ dataDir, routes: currentRoutes, port, backoff, extraArgs: [...extraArgs] })
      liveChildren.add(current.child)
      const child = current.child
      void exitOf(child).then(() => liveChildren.delete(child))
    },
    async kill9() {
      if (current !== undefined) await current.kill9()
    },
    async stop() {
      if (current !== undefined && isRunning()) await current.stop()
    },
    async restart() {
      await proxy.kill9()
      await proxy.start()
    },
    async status() {
      return (await getJson(`${url}/v1/status`)) as { routes: unknown; destinations: Record<string, DestinationStatus> }
    },
    async setRoutes(next) {
      currentRoutes = { ...next }
      if (current === undefined || !isRunning()) throw new Error('the proxy is not running')
      await current.setRoutes(currentRoutes)
    },
  }
  return proxy
}

export async function startReplicationCluster(options: ReplicationClusterOptions): Promise<ReplicationCluster> {
  const root = mkdtempSync(join(tmpdir(), 'trent-replication-'))
  const partition = `trent-${randomBytes(8).toString('hex')}`
  const regions = new Map<string, ClusterRegion>()
  let proxy: ClusterProxy | undefined
  let closed = false

  const cluster: ReplicationCluster = {
    root,
    partition,
    regionNames: [...options.regions],
    get proxy() {
      if (proxy === undefined) throw new Error('the cluster has no proxy yet')
      return proxy
    },
    region(name) {
      const region = regions.get(name)
      if (region === undefined) throw new Error(`no region ${name} in this cluster`)
      return region
    },
    writeTrustStores() {
      const pinned: Record<string, Array<{ id: string; publicKey: string; status: 'active' }>> = {}
      for (const region of regions.values()) {
        const path = join(region.dataDir, 'rsk-public.json')
        if (!existsSync(path)) continue
        const exported = JSON.parse(readFileSync(path, 'utf8')) as { keys: Array<{ id: string; publicKey: string }> }
        pinned[region.name] = exported.keys.map((k) => ({ id: k.id, publicKey: k.publicKey, status: 'active' }))
      }
      const text = `${JSON.stringify({ partition, regions: pinned }, null, 2)}\n`
      for (const region of regions.values()) {
        const path = join(region.dataDir, 'trust-store.json')
        if (existsSync(path) && readFileSync(path, 'utf8') === text) continue
        writeAtomically(path, text)
      }
    },
    async close() {
      if (closed) return
      closed = true
      await Promise.all([...regions.values()].map((r) => r.kill9().catch(() => undefined)))
      await proxy?.kill9().catch(() => undefined)
      rmSync(root, { recursive: true, force: true })
    },
  }

  try {
    const proxyDir = join(root, 'proxy')
    mkdirSync(proxyDir, { recursive: true })
    const proxyPort = await reservePort()
    const proxyUrl = `http://127.0.0.1:${proxyPort}`
    const routes: RouteMap = {}
    for (const name of options.regions) {
      const dataDir = join(root, name)
      mkdirSync(dataDir, { recursive: true, mode: 0o700 })
      const port = await reservePort()
      // The proxy delivers to the region's replication listener, not its KMS port.
      const replicationPort = await reservePort()
      routes[name] = `http://127.0.0.1:${replicationPort}`
      regions.set(name, createRegion(name, dataDir, port, replicationPort, proxyUrl, options.reconcileIntervalMs ?? 300))
    }
    proxy = createProxy(proxyDir, proxyPort, routes, options.proxyBackoff ?? { initialMs: 10, maxMs: 200 }, options.proxyExtraArgs ?? [])
    await proxy.start()
    await Promise.all(
      options.regions.map((name) => {
        const failpoints = options.failpoints?.[name]
        return cluster.region(name).start(failpoints === undefined ? {} : { failpoints })
      }),
    )
    // Every region that ran has published its signing keys: pin them everywhere.
    cluster.writeTrustStores()
    return cluster
  } catch (err) {
    await cluster.close()
    throw err
  }
}
