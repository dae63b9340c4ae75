/**
 * The things measured: Trent (a partition started the way a user starts it: one node on
 * its default store, SQLite), Trent as a region of several nodes on PostgreSQL
 * (`trent-pg`: `--nodes N --store postgres://…`, the cluster bench/postgres.ts starts),
 * the ceiling (bench/ceiling-server.ts), the ceiling as several processes behind one port
 * (`ceiling-cluster`: what that many bare processes get out of this machine) and moto
 * (what a user would run instead).
 *
 * @module
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CEILING_KEY_ID, CEILING_MAC_KEY_ID, CEILING_SIGNING_KEY_ID } from './ceiling-key.js'
import { freePortRange, startProcess, waitForHttp, waitForMessage, type ManagedProcess } from './processes.js'
import type { Credentials } from './signing.js'

export type TargetName = 'trent' | 'trent-pg' | 'ceiling' | 'ceiling-cluster' | 'moto'

export interface RunningTarget {
  name: TargetName
  /** Where the load goes: the gateway, or the region port with --direct. */
  url: string
  /** The Host header requests carry (SigV4 signs it). */
  host: string
  /** Each node of the region on its own port, as the gateway's /health lists them (Trent only). */
  nodeUrls?: string[]
  /** For fixtures: the ceiling has fixed keys and cannot create others. */
  existingKeys?: { keyId: string; signingKeyId: string; macKeyId: string }
  /** What exactly was started, for the report. */
  description: string
  /**
   * The target's processes the bench started (each with its descendants), and any
   * process tree of it outside ours (PostgreSQL's postmaster): whose CPU is whose.
   */
  pids: number[]
  stop(): Promise<void>
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PARTITION_MAIN = join(REPO_ROOT, 'dist/src/partition/main.js')
const CEILING_MAIN = fileURLToPath(new URL('./ceiling-server.js', import.meta.url))

const STARTUP_TIMEOUT_MS = 30_000

/** Waits for a process to be ready; one that never gets there is stopped, not left behind. */
async function readyOrStopped<T>(managed: ManagedProcess, ready: () => Promise<T>): Promise<T> {
  try {
    return await ready()
  } catch (err: unknown) {
    await managed.stop()
    throw err
  }
}

export interface TrentOptions {
  region: string
  dataDir: string
  logDir: string
  credentials: Credentials
  /** Load the region port instead of the gateway. */
  direct: boolean
  /**
   * Extra node flags for the launcher, e.g. --cpu-prof (which NODE_OPTIONS refuses). The
   * launcher gives its own flags to the regions it forks, so they reach those too.
   */
  nodeFlags?: string[]
  /** The target's name in the report (default 'trent'). */
  name?: TargetName
  /** `--nodes`: node processes of the region (default 1). */
  nodes?: number
  /** `--store`: the region's store (default the launcher's, SQLite in the data dir). */
  store?: string
  /** How the store is named in the description (a URL is printed as is otherwise). */
  storeDescription?: string
}

function trentEnv(options: TrentOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TRENT_ACCESS_KEY_ID: options.credentials.accessKeyId,
    TRENT_SECRET_ACCESS_KEY: options.credentials.secretAccessKey,
  }
}

export function partitionLauncherBuilt(): boolean {
  return existsSync(PARTITION_MAIN)
}

/**
 * A partition start gets this long to report healthy before it is retried on new ports;
 * a region of several nodes on PostgreSQL (migrations, then its other nodes once node 0
 * serves) twice as long.
 */
const PARTITION_START_TIMEOUT_MS = 15_000
const PARTITION_START_ATTEMPTS = 2

interface Health {
  status?: unknown
  regions?: Record<string, { port?: unknown; nodes?: Array<{ port?: unknown; status?: unknown }> }>
}

function fetchHealth(url: string): Promise<Health | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Health)
        } catch {
          resolve(undefined)
        }
      })
    })
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

/**
 * Polls the gateway's /health until every node of every region serves (`status: ok`):
 * /health answers 200 as soon as one node of each region does, and a region measured
 * with a node still starting would measure fewer nodes than it claims.
 */
async function waitForEveryNode(managed: ManagedProcess, url: string, timeoutMs: number): Promise<Health> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (!managed.isRunning) throw new Error(`${managed.name} exited early:\n${managed.logTail()}`)
    const health = await fetchHealth(url)
    if (health?.status === 'ok') return health
    if (Date.now() > deadline)
      throw new Error(`${managed.name}: not every node serves within ${timeoutMs} ms (${JSON.stringify(health)}):\n${managed.logTail()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * Starts the partition exactly as a user does (`node dist/src/partition/main.js --port P
 * --regions R --data-dir D [--nodes N --store URL]`, credentials in the environment) and
 * waits for its gateway's /health to report every node serving. With `direct`, the load
 * then goes to the region's own port (node 0's), as /health reports it, skipping the gateway.
 *
 * The launcher puts the region's nodes on P+1.. and its replication proxy after them; on a machine where
 * other test suites take ports all the time, one of them can be gone by the time the
 * launcher binds it, and the region then fails to start forever. Hence a second attempt
 * on fresh ports.
 */
export async function startTrentPartition(options: TrentOptions): Promise<RunningTarget> {
  // Run inside the data dir: what node flags make V8 write to the working directory
  // (--perf-basic-prof's isolate logs) is then removed with the rest of the run.
  mkdirSync(options.dataDir, { recursive: true })
  const name = options.name ?? 'trent'
  const nodes = options.nodes ?? 1
  const startTimeoutMs = nodes > 1 || options.store !== undefined ? 2 * PARTITION_START_TIMEOUT_MS : PARTITION_START_TIMEOUT_MS
  for (let attempt = 1; ; attempt++) {
    // The gateway, the region's nodes, the replication proxy.
    const gatewayPort = await freePortRange(2 + nodes)
    const args = [
      ...(options.nodeFlags ?? []),
      PARTITION_MAIN,
      '--port',
      String(gatewayPort),
      '--regions',
      options.region,
      '--data-dir',
      options.dataDir,
    ]
    if (nodes > 1) args.push('--nodes', String(nodes))
    if (options.store !== undefined) args.push('--store', options.store)
    const partition = startProcess(`${name}-partition`, process.execPath, args, {
      logDir: options.logDir,
      env: trentEnv(options),
      cwd: options.dataDir,
    })
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`
    let health: Health
    try {
      await readyOrStopped(partition, () => waitForHttp(partition, `${gatewayUrl}/health`, startTimeoutMs, 200))
      health = await readyOrStopped(partition, () => waitForEveryNode(partition, `${gatewayUrl}/health`, startTimeoutMs))
    } catch (err: unknown) {
      if (attempt >= PARTITION_START_ATTEMPTS) throw err
      continue
    }
    const regionHealth = health.regions?.[options.region]
    const regionPort = regionHealth?.port
    if (typeof regionPort !== 'number') {
      await partition.stop()
      throw new Error(`the gateway's /health does not report the port of ${options.region}`)
    }
    const nodePorts = (regionHealth?.nodes ?? []).map((node) => node.port).filter((port) => typeof port === 'number')
    const port = options.direct ? regionPort : gatewayPort
    const where = nodes > 1 ? `${options.region}: ${nodes} nodes :${nodePorts.join(', :')}` : `${options.region} :${regionPort}`
    const store = options.storeDescription ?? options.store ?? 'SQLite'
    return {
      name,
      url: `http://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
      nodeUrls: nodePorts.map((nodePort) => `http://127.0.0.1:${String(nodePort)}`),
      description:
        `partition (gateway :${gatewayPort}, ${where}; store ${store}); ` +
        `load sent to ${options.direct ? 'the region directly' : 'the gateway'}`,
      pids: partition.child.pid === undefined ? [] : [partition.child.pid],
      // Generous: with --cpu-prof every process writes its profile on the way out.
      stop: () => partition.stop(15_000),
    }
  }
}

function isReady(message: unknown): message is { type: 'ready'; port: number } {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ready'
}

/** The ceiling server; with `processes` above 1, that many behind one port (`ceiling-cluster`). */
export async function startCeiling(logDir: string, processes = 1): Promise<RunningTarget> {
  // Below the ephemeral range, like every port of the bench (processes.ts freePortRange).
  const args = [CEILING_MAIN, String(await freePortRange(1)), ...(processes > 1 ? ['--processes', String(processes)] : [])]
  const ceiling = startProcess(processes > 1 ? 'ceiling-cluster' : 'ceiling', process.execPath, args, { logDir, ipc: true })
  const port = await readyOrStopped(ceiling, () =>
    waitForMessage(ceiling, (message) => (isReady(message) ? message.port : undefined), STARTUP_TIMEOUT_MS),
  )
  return {
    name: processes > 1 ? 'ceiling-cluster' : 'ceiling',
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    existingKeys: { keyId: CEILING_KEY_ID, signingKeyId: CEILING_SIGNING_KEY_ID, macKeyId: CEILING_MAC_KEY_ID },
    description:
      processes > 1
        ? `${processes} bare node:http servers behind :${port} (node:cluster, round robin), same crypto and keys, no auth/lookup/validation/HSM hop/gateway`
        : `bare node:http server :${port}, same crypto, no auth/lookup/validation/HSM hop/gateway`,
    pids: ceiling.child.pid === undefined ? [] : [ceiling.child.pid],
    stop: () => ceiling.stop(),
  }
}

/** moto's version, or why it cannot run here. */
export function probeMoto(): { version: string } | { unavailable: string } {
  const probe = spawnSync('python3', ['-c', 'import moto.server, moto; print(moto.__version__)'], { encoding: 'utf8', timeout: 20_000 })
  if (probe.error !== undefined) return { unavailable: `python3 cannot be started (${probe.error.message})` }
  if (probe.status !== 0) return { unavailable: `python3 cannot import moto.server: ${probe.stderr.trim().split('\n').pop() ?? ''}` }
  return { version: probe.stdout.trim() }
}

export async function startMoto(logDir: string, version: string): Promise<RunningTarget> {
  const port = await freePortRange(1)
  const moto = startProcess('moto', 'python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { logDir })
  await readyOrStopped(moto, () => waitForHttp(moto, `http://127.0.0.1:${port}/moto-api/`, STARTUP_TIMEOUT_MS, 200))
  return {
    name: 'moto',
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    description: `moto ${version} server :${port} (python3 -m moto.server)`,
    pids: moto.child.pid === undefined ? [] : [moto.child.pid],
    stop: () => moto.stop(),
  }
}
