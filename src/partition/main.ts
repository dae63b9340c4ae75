/**
 * The local partition, what `npm start` runs: one OS process per region, all behind a
 * single gateway endpoint that routes each request by the region it is signed for.
 *
 *   node dist/src/partition/main.js [--port 4566] [--regions us-east-1,us-west-2,eu-west-1]
 *     [--nodes 1] [--store sqlite|postgres://...] [--data-dir ./.trent]
 *     [--account 111122223333] [--host 127.0.0.1] [--region-port-base <port+1>]
 *     [--allow-test-hooks] [--background-interval-ms N] [--seed FILE] [--accept-any-credentials]
 *
 * Output: stdout carries JSON log lines only, the regions' exactly as they wrote them and
 * the launcher's own, so it can be piped to a log processor. The human-readable banner
 * (credentials, a ready-to-paste AWS CLI command, region ports) goes to stderr, which the
 * regions' stderr also reaches, prefixed with the region name.
 *
 * When started with an IPC channel (forked), the launcher reports its state to its parent
 * with {@link PartitionMessage}s, and stops when that parent goes away.
 *
 * A region runs as `--nodes` node processes sharing the region's data dir and store; the
 * gateway spreads client connections over the ready ones. Nodes are forked with an IPC
 * channel and exit when it closes, so none outlives the launcher, even when the launcher
 * is killed with SIGKILL.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { createConsole } from '../console/console.js'
import { createGateway } from '../gateway/gateway.js'
import { RegionNodes, type NodeEndpoint } from '../gateway/region-nodes.js'
import { createHandoffServer } from '../gateway/handoff.js'
import type { Socket } from 'node:net'
import { createLogger, rateLimited } from '../log/logger.js'
import { ConnectionGuard } from '../http/connection-guard.js'
import { LIMIT_FLAG_OPTIONS, LIMIT_FLAGS_USAGE, limitsAsFlags, limitsFromFlags, type ListenerLimits } from '../http/limits.js'
import { STORE_ENV, isRegionToLauncherMessage, type ConnectionMessage, type LauncherToRegionMessage } from '../wire/region-messages.js'
import { PartitionTrust, ProxySupervisor, ensurePartitionId } from './replication-setup.js'
import { SEED_FAILED_EXIT_CODE, parseSeedFile } from '../wire/seed-file.js'
import { MetricsRequests } from './metrics-requests.js'
import { MetricsGatherer, type MetricsSnapshot, type MetricsSource } from '../metrics/gather.js'
import { createLauncherRegistry } from '../metrics/launcher-metrics.js'
import { PROMETHEUS_CONTENT_TYPE } from '../metrics/names.js'

// ---------------------------------------------------------------------------------------
// The IPC contract with a parent that forked the launcher (tests, tooling).
// ---------------------------------------------------------------------------------------

/** Sent once the gateway listens; regions are not ready yet. */
export interface GatewayListeningMessage {
  type: 'gateway-listening'
  host: string
  port: number
}

/** Sent every time a node of a region (re)starts serving. */
export interface RegionReadyMessage {
  type: 'region-ready'
  region: string
  /** Which node of the region: 0 to `--nodes` − 1. */
  node: number
  port: number
  /** Where the proxy may deliver replication envelopes to this node. */
  replicationPort: number
  pid: number
}

/** Sent when a node's process ends while the partition is not stopping. */
export interface RegionExitMessage {
  type: 'region-exit'
  region: string
  node: number
  pid: number | undefined
  code: number | null
  signal: string | null
  restartInMs: number
}

/** Sent once, the first time every node of every region is serving. */
export interface PartitionReadyMessage {
  type: 'ready'
  host: string
  port: number
  /** Per region: node 0's port and pid (what a one-node partition reported), and every node's. */
  regions: Record<string, { port: number; pid: number; nodes: Array<{ node: number; port: number; pid: number }> }>
}

export type PartitionMessage = GatewayListeningMessage | RegionReadyMessage | RegionExitMessage | PartitionReadyMessage

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

const REGION_PATTERN = /^([a-z]+-){2,3}\d+$/
const DEFAULT_REGIONS = 'us-east-1,us-west-2,eu-west-1'
const CREDENTIALS_PROFILE = 'trent'
/** How long a region gets to stop on SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000
const FIRST_RESTART_DELAY_MS = 250
const MAX_RESTART_DELAY_MS = 10_000
/** A region that stayed up this long before dying starts its backoff afresh. */
const STABLE_UPTIME_MS = 30_000
/** Node processes per region at most: more than this on one host would only compete for its cores. */
const MAX_NODES_PER_REGION = 64

const USAGE = `Usage: node dist/src/partition/main.js [options]   (or: npm start -- [options])

  --port N                  gateway port (default 4566; 0 picks a free one)
  --regions a,b,c           regions of the partition (default ${DEFAULT_REGIONS})
  --nodes N                 node processes per region, sharing the region's data dir and
                            store; the gateway spreads connections over them (default 1)
  --store VALUE             every region's store, passed to each node as --store
                            (default: the embedded SQLite file in the region's data dir)
  --data-dir DIR            where every region keeps its data (default ./.trent)
  --account ID              the 12-digit account id (default 111122223333)
  --host HOST               interface to listen on (default 127.0.0.1)
  --region-port-base N      node j of region i listens on N + i*nodes + j, the proxy on
                            N + regions*nodes (default: gateway port + 1; 0 = free ports)
  --allow-test-hooks        enable TrentAdmin test operations in every region
  --background-interval-ms  how often regions run background work (region default)
  --identities FILE         the account's IAM users and their policies (also TRENT_IDENTITIES);
                            read at start and whenever it changes (docs/authorization.md)
  --seed FILE               keys to create at start when missing: ids, material versions,
                            aliases, policies, tags, multi-Region replicas (docs/spec/seed-file.md)
  --accept-any-credentials  development mode: every well-formed SigV4 request is served as the
                            account's root user, whatever its access key and secret (for tests)
  --master-key-file FILE    the master key every region's domain key is sealed under, kept
                            outside the data dir (created on first start; or TRENT_MASTER_KEY).
                            Default: DIR/regions/<region>/master.key, next to what it protects
${LIMIT_FLAGS_USAGE}
Admin credentials come from TRENT_ACCESS_KEY_ID and TRENT_SECRET_ACCESS_KEY, or are
generated once and kept in DIR/credentials (profile [${CREDENTIALS_PROFILE}]).
`

function fail(message: string, exitCode = 2): never {
  process.stderr.write(`trent: ${message}\n`)
  process.exit(exitCode)
}

const OPTIONS = {
  port: { type: 'string', default: '4566' },
  regions: { type: 'string', default: DEFAULT_REGIONS },
  nodes: { type: 'string', default: '1' },
  store: { type: 'string' },
  'data-dir': { type: 'string', default: './.trent' },
  account: { type: 'string', default: '111122223333' },
  host: { type: 'string', default: '127.0.0.1' },
  'region-port-base': { type: 'string' },
  'allow-test-hooks': { type: 'boolean', default: false },
  'background-interval-ms': { type: 'string' },
  'reconcile-interval-ms': { type: 'string' },
  'proxy-port': { type: 'string' },
  identities: { type: 'string' },
  'master-key-file': { type: 'string' },
  seed: { type: 'string' },
  'accept-any-credentials': { type: 'boolean', default: false },
  ...LIMIT_FLAG_OPTIONS,
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options']

function parseCommandLine() {
  try {
    return parseArgs({ options: OPTIONS, strict: true })
  } catch (err) {
    return fail(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`)
  }
}

function parsePort(text: string, flag: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) fail(`${flag} must be a port number (0-65535), not '${text}'`)
  return Number(text)
}

function parseRegions(text: string): string[] {
  const regions = text
    .split(',')
    .map((region) => region.trim())
    .filter((region) => region !== '')
  if (regions.length === 0) fail('--regions names no region')
  for (const region of regions) {
    if (!REGION_PATTERN.test(region)) fail(`--regions: '${region}' is not a region name (like us-east-1)`)
  }
  if (new Set(regions).size !== regions.length) fail('--regions names a region twice')
  return regions
}

function parseNodes(text: string): number {
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > MAX_NODES_PER_REGION) {
    fail(`--nodes must be a whole number from 1 to ${MAX_NODES_PER_REGION} (node processes per region), not '${text}'`)
  }
  return Number(text)
}

interface LauncherConfig {
  gatewayPort: number
  host: string
  regions: string[]
  /** Node processes per region (`--nodes`). */
  nodesPerRegion: number
  /** Passed to every node as `--store`; undefined: the region's default (its embedded SQLite file). */
  store: string | undefined
  /** Absolute, so that the paths printed and passed to regions work from anywhere. */
  dataDir: string
  accountId: string
  /** 0: every node picks a free port; else node j of region i listens on base + i·nodes + j. */
  regionPortBase: number
  allowTestHooks: boolean
  backgroundIntervalMs: string | undefined
  reconcileIntervalMs: string | undefined
  /** 0: a free port. */
  proxyPort: number
  /** The identities file, absolute; every region reads it. */
  identitiesFile: string | undefined
  /** Where the master key is: a file outside the data dir, the environment, or each region's folder. */
  masterKey: { source: 'file'; path: string } | { source: 'environment' } | { source: 'data-dir' }
  /** Timeouts and connection limits of every listener (docs/security.md). */
  limits: ListenerLimits
  /** The seed file, absolute, already checked; every node reads it (docs/spec/seed-file.md). */
  seedFile: string | undefined
  /** Development mode: any well-formed SigV4 request is the root user's. */
  acceptAnyCredentials: boolean
}

function readConfig(): LauncherConfig {
  const { values } = parseCommandLine()
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const gatewayPort = parsePort(values.port, '--port')
  const regions = parseRegions(values.regions)
  const nodesPerRegion = parseNodes(values.nodes)
  const store = values.store
  if (store !== undefined && store.trim() === '') fail('--store names no store')
  const accountId = values.account
  if (!/^\d{12}$/.test(accountId)) fail('--account must be 12 digits')
  // A fixed gateway port puts the regions' nodes right after it, region by region, then
  // the proxy; a free one, anywhere free. With one node per region, region i is on base + i.
  const regionPortBase =
    values['region-port-base'] !== undefined
      ? parsePort(values['region-port-base'], '--region-port-base')
      : gatewayPort === 0
        ? 0
        : gatewayPort + 1
  const nodeCount = regions.length * nodesPerRegion
  if (regionPortBase !== 0 && regionPortBase + nodeCount - 1 > 65_535) {
    fail(`--region-port-base ${regionPortBase} leaves no room for ${regions.length} regions of ${nodesPerRegion} node(s)`)
  }
  const interval = values['background-interval-ms']
  if (interval !== undefined && !/^\d+$/.test(interval)) fail('--background-interval-ms must be a number of milliseconds')
  const reconcile = values['reconcile-interval-ms']
  if (reconcile !== undefined && !/^\d+$/.test(reconcile)) fail('--reconcile-interval-ms must be a number of milliseconds')
  // The proxy goes right after the regions, or anywhere free.
  const identitiesFile = identitiesOption(values.identities ?? process.env.TRENT_IDENTITIES)
  const acceptAnyCredentials = values['accept-any-credentials']
  if (acceptAnyCredentials && identitiesFile !== undefined) {
    fail('--accept-any-credentials serves every request as the root user: it cannot be combined with --identities')
  }
  const proxyPort =
    values['proxy-port'] !== undefined
      ? parsePort(values['proxy-port'], '--proxy-port')
      : regionPortBase === 0
        ? 0
        : regionPortBase + nodeCount
  return {
    gatewayPort,
    host: values.host,
    regions,
    nodesPerRegion,
    store,
    dataDir: resolve(values['data-dir']),
    accountId,
    regionPortBase,
    allowTestHooks: values['allow-test-hooks'],
    backgroundIntervalMs: interval,
    reconcileIntervalMs: reconcile,
    proxyPort,
    identitiesFile,
    masterKey: masterKeyOption(values['master-key-file']),
    limits: limitsOption(values),
    seedFile: seedOption(values.seed, regions),
    acceptAnyCredentials,
  }
}

function masterKeyOption(file: string | undefined): LauncherConfig['masterKey'] {
  const fromEnvironment = process.env.TRENT_MASTER_KEY !== undefined && process.env.TRENT_MASTER_KEY !== ''
  if (file !== undefined && fromEnvironment) fail('give the master key with --master-key-file or TRENT_MASTER_KEY, not both')
  if (file !== undefined) return { source: 'file', path: resolve(file) }
  return fromEnvironment ? { source: 'environment' } : { source: 'data-dir' }
}

function limitsOption(values: Parameters<typeof limitsFromFlags>[0]): ListenerLimits {
  try {
    return limitsFromFlags(values)
  } catch (err) {
    return fail(err instanceof Error ? err.message : 'bad limits')
  }
}

/** Checks the seed file before anything starts: a bad one fails the start, naming the key and the problem. */
function seedOption(file: string | undefined, regions: readonly string[]): string | undefined {
  if (file === undefined) return undefined
  const path = resolve(file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    return fail(`--seed ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot be read'}`)
  }
  try {
    parseSeedFile(text, { regions })
  } catch (err) {
    return fail(err instanceof Error ? err.message : 'bad seed file')
  }
  return path
}

function identitiesOption(file: string | undefined): string | undefined {
  if (file === undefined || file === '') return undefined
  const path = resolve(file)
  if (!existsSync(path)) fail(`--identities ${file}: no such file`)
  return path
}

// ---------------------------------------------------------------------------------------
// Admin credentials
// ---------------------------------------------------------------------------------------

interface AdminCredentials {
  accessKeyId: string
  secretAccessKey: string
}

type CredentialSource = 'environment' | 'stored' | 'generated'

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** 80 random bits as 16 base32 characters, the shape of an AWS access key id's tail. */
function randomBase32(characters: number): string {
  const bytes = randomBytes(Math.ceil((characters * 5) / 8))
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5 && out.length < characters) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31] ?? ''
      bits -= 5
    }
  }
  return out
}

function generateCredentials(): AdminCredentials {
  return {
    accessKeyId: `AKIA${randomBase32(16)}`,
    // 30 random bytes are exactly 40 base64 characters, the length of an AWS secret key.
    secretAccessKey: randomBytes(30).toString('base64'),
  }
}

/** The key/value pairs of one profile of an AWS shared-credentials (INI) file. */
function readProfile(text: string, profile: string): Map<string, string> | undefined {
  let section: string | undefined
  let found = false
  const values = new Map<string, string>()
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[\s*([^\]]*?)\s*\]$/.exec(line)
    if (header !== null) {
      section = header[1]
      if (section === profile) found = true
      continue
    }
    const equals = line.indexOf('=')
    if (section !== profile || equals < 0) continue
    values.set(line.slice(0, equals).trim().toLowerCase(), line.slice(equals + 1).trim())
  }
  return found ? values : undefined
}

function credentialsFileText(credentials: AdminCredentials, region: string, endpoint: string, path: string): string {
  return [
    '# Admin credentials of a Trent local partition, generated on its first start and reused since.',
    `# AWS_SHARED_CREDENTIALS_FILE=${shellQuote(path)} aws --profile ${CREDENTIALS_PROFILE} --endpoint-url ${endpoint} kms list-keys`,
    `[${CREDENTIALS_PROFILE}]`,
    `aws_access_key_id = ${credentials.accessKeyId}`,
    `aws_secret_access_key = ${credentials.secretAccessKey}`,
    `region = ${region}`,
    '',
  ].join('\n')
}

/**
 * Environment first: an operator who sets credentials means them, and they are neither
 * printed nor written anywhere. Otherwise the data directory's own, generated once: the
 * file is both where they are kept and what the AWS CLI and SDKs read.
 */
function resolveCredentials(
  credentialsPath: string,
  defaultRegion: string,
  endpoint: string,
): { credentials: AdminCredentials; source: CredentialSource } {
  const envKeyId = process.env.TRENT_ACCESS_KEY_ID
  const envSecret = process.env.TRENT_SECRET_ACCESS_KEY
  if (envKeyId || envSecret) {
    if (!envKeyId || !envSecret) fail('set both TRENT_ACCESS_KEY_ID and TRENT_SECRET_ACCESS_KEY, or neither')
    return { credentials: { accessKeyId: envKeyId, secretAccessKey: envSecret }, source: 'environment' }
  }

  if (existsSync(credentialsPath)) {
    const profile = readProfile(readFileSync(credentialsPath, 'utf8'), CREDENTIALS_PROFILE)
    const accessKeyId = profile?.get('aws_access_key_id')
    const secretAccessKey = profile?.get('aws_secret_access_key')
    // Never replace credentials silently: applications may be configured with them.
    if (!accessKeyId || !secretAccessKey) {
      fail(
        `${credentialsPath} has no [${CREDENTIALS_PROFILE}] profile with aws_access_key_id and aws_secret_access_key; ` +
          'fix it, or delete it to generate new credentials',
      )
    }
    if ((statSync(credentialsPath).mode & 0o077) !== 0) chmodSync(credentialsPath, 0o600)
    return { credentials: { accessKeyId, secretAccessKey }, source: 'stored' }
  }

  const credentials = generateCredentials()
  // Written whole under a temporary name, then renamed: a crash leaves no half file.
  const temporaryPath = `${credentialsPath}.${process.pid}.tmp`
  rmSync(temporaryPath, { force: true })
  writeFileSync(temporaryPath, credentialsFileText(credentials, defaultRegion, endpoint, credentialsPath), {
    mode: 0o600,
    flag: 'wx',
  })
  renameSync(temporaryPath, credentialsPath)
  return { credentials, source: 'generated' }
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

const logger = createLogger({ component: 'partition' })

// A reader that went away (`| head`) must not take the partition down with it.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
  })
}

function say(text: string): void {
  process.stderr.write(`${text}\n`)
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

/** Where a client reaches what listens on `host`: a wildcard address is reached on loopback. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1'
  if (host === '::') return '::1'
  return host
}

function urlFor(host: string, port: number): string {
  const reachable = reachableHost(host)
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`
}

function notifyParent(message: PartitionMessage): void {
  if (process.connected) process.send?.(message)
}

/** Relays a child's output line by line, so lines of different regions never interleave. */
function relayLines(stream: Readable | null, write: (line: string) => void): Promise<void> {
  if (stream === null) return Promise.resolve()
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  lines.on('line', write)
  return new Promise((done) => lines.once('close', done))
}

// ---------------------------------------------------------------------------------------
// Nodes of regions
// ---------------------------------------------------------------------------------------

const REGION_MAIN = fileURLToPath(new URL('../region/main.js', import.meta.url))
/** Every metrics request the launcher has out, to nodes and the proxy alike. */
const metricsRequests = new MetricsRequests()

function describeExit(code: number | null, signal: string | null): string {
  return signal !== null ? `was killed by ${signal}` : `exited with code ${code ?? 'unknown'}`
}

interface NodeEvents {
  /** A process of the node was forked (`pid` undefined if it could not be spawned). */
  started(node: NodeSupervisor, pid: number | undefined): void
  ready(node: NodeSupervisor, port: number, replicationPort: number, pid: number): void
  /** The node's process ended; `restartInMs` undefined when the partition is stopping. */
  exited(node: NodeSupervisor, restartInMs: number | undefined): void
  /** The region rotated its replication signing key: pin the new one everywhere. */
  signingKeysChanged(region: string): void
  /** The node stopped on a configuration error that a restart cannot fix (a bad seed file). */
  failedForGood(node: NodeSupervisor): void
}

/**
 * Keeps one node of a region running: starts its process, notices when it is serving,
 * and starts it again, with growing delays, whenever it ends while the partition is not
 * stopping. A node that never got ready is retried too: what stopped it (a port in use,
 * a data directory it cannot write) may be fixed without restarting the whole partition.
 */
class NodeSupervisor {
  private child: ChildProcess | undefined
  private outputRelayed: Promise<void> = Promise.resolve()
  private restartTimer: NodeJS.Timeout | undefined
  private consecutiveFailures = 0
  private startedAt = 0
  private stopping = false
  pid: number | undefined
  /** The KMS port, while the current process serves. */
  port: number | undefined
  /** Where the proxy may deliver to this node, while it serves. */
  replicationPort: number | undefined

  constructor(
    readonly region: string,
    readonly node: number,
    /** How many nodes the region has: with one, messages name the region alone, as they always did. */
    private readonly nodesInRegion: number,
    private readonly args: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly events: NodeEvents,
  ) {}

  /** The node as the launcher's messages name it: `region us-east-1` or `region us-east-1 node 1`. */
  get name(): string {
    return this.nodesInRegion === 1 ? `region ${this.region}` : `region ${this.region} node ${this.node}`
  }

  start(): void {
    if (this.stopping) return
    this.startedAt = Date.now()
    const child = fork(REGION_MAIN, this.args, {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // A debugger flag would make every region fight for the launcher's debug port.
      execArgv: process.execArgv.filter((flag) => !flag.startsWith('--inspect')),
    })
    this.child = child
    this.pid = child.pid
    const prefix = this.nodesInRegion === 1 ? `[${this.region}] ` : `[${this.region}/${this.node}] `
    this.outputRelayed = Promise.all([
      relayLines(child.stdout, (line) => process.stdout.write(`${line}\n`)),
      relayLines(child.stderr, (line) => process.stderr.write(`${prefix}${line}\n`)),
    ]).then(() => undefined)

    child.on('message', (message: unknown) => {
      if (!isRegionToLauncherMessage(message) || message.region !== this.region || message.nodeId !== this.node || this.child !== child)
        return
      if (message.type === 'metrics') {
        metricsRequests.settle(message.id, message.metrics)
        return
      }
      if (message.type === 'signing-keys') {
        this.events.signingKeysChanged(this.region)
        return
      }
      this.port = message.port
      this.replicationPort = message.replicationPort
      this.events.ready(this, message.port, message.replicationPort, child.pid ?? 0)
    })
    child.on('error', (err) => {
      logger.error('region process error', { region: this.region, node: this.node, pid: child.pid, error: err.message })
      // A process that could not even be spawned reports no exit.
      if (child.pid === undefined) this.onExit(child, null, null)
    })
    child.on('exit', (code, signal) => this.onExit(child, code, signal))
    this.events.started(this, child.pid)
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return
    this.child = undefined
    const wasServing = this.port !== undefined
    this.port = undefined
    this.replicationPort = undefined
    if (this.stopping) {
      this.events.exited(this, undefined)
      return
    }

    if (code === SEED_FAILED_EXIT_CODE) {
      logger.error('region process stopped on its seed file', { region: this.region, node: this.node, pid: child.pid, code })
      this.events.exited(this, undefined)
      this.events.failedForGood(this)
      return
    }
    if (Date.now() - this.startedAt >= STABLE_UPTIME_MS) this.consecutiveFailures = 0
    const restartInMs = Math.min(FIRST_RESTART_DELAY_MS * 2 ** this.consecutiveFailures, MAX_RESTART_DELAY_MS)
    this.consecutiveFailures += 1
    const what = wasServing ? 'died' : 'failed to start'
    logger.error(`region process ${what}`, { region: this.region, node: this.node, pid: child.pid, code, signal, restartInMs })
    say(`trent: ${this.name} (pid ${child.pid ?? '?'}) ${what}: it ${describeExit(code, signal)}; restarting it in ${restartInMs} ms`)
    this.events.exited(this, restartInMs)
    notifyParent({ type: 'region-exit', region: this.region, node: this.node, pid: child.pid, code, signal, restartInMs })
    // Always after a delay, even the first time: when Ctrl-C reaches the whole process
    // group, a region may exit just before the launcher's own SIGINT handler runs.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined
      this.start()
    }, restartInMs)
  }

  /** SIGTERM, then SIGKILL if the node has not exited within the grace period. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true
    clearTimeout(this.restartTimer)
    const child = this.child
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((done) => {
        const force = setTimeout(() => {
          logger.warn('region did not stop in time; killing it', { region: this.region, node: this.node, pid: child.pid })
          child.kill('SIGKILL')
        }, graceMs)
        child.once('exit', () => {
          clearTimeout(force)
          done()
        })
        child.kill('SIGTERM')
      })
    }
    // Let its last log lines through, unless something else holds its pipes open.
    await Promise.race([this.outputRelayed, new Promise((done) => setTimeout(done, 1_000).unref())])
  }

  kill(): void {
    this.stopping = true
    clearTimeout(this.restartTimer)
    this.child?.kill('SIGKILL')
  }

  /**
   * Passes a client connection to the node's process (src/gateway/handoff.ts); false when
   * its IPC channel is gone, which happens as the process dies, possibly a moment before
   * its exit is reported: the front door then tries another node.
   */
  handOff(socket: Socket, head: Buffer): boolean {
    const child = this.child
    if (child === undefined || !child.connected || this.port === undefined) return false
    const message: ConnectionMessage = { type: 'connection', head: head.toString('base64') }
    child.send(message, socket, (err) => {
      if (err !== null) socket.destroy()
    })
    return true
  }

  /** The node's metrics registry, while its process serves (docs/metrics.md). */
  metrics(): Promise<MetricsSnapshot | undefined> {
    return this.port === undefined ? Promise.resolve(undefined) : metricsRequests.ask(this.child)
  }

  /** Tells the node where the other regions listen. */
  sendRoutes(routes: Record<string, NodeEndpoint>): void {
    const child = this.child
    const message: LauncherToRegionMessage = { type: 'routes', routes }
    if (child !== undefined && child.connected) child.send(message, (err) => void err)
  }
}

// ---------------------------------------------------------------------------------------
// The partition
// ---------------------------------------------------------------------------------------

/** The KMS port of `node` of the `regionIndex`-th region: node j of region i on base + i·nodes + j. */
function nodePort(config: LauncherConfig, regionIndex: number, node: number): number {
  return config.regionPortBase === 0 ? 0 : config.regionPortBase + regionIndex * config.nodesPerRegion + node
}

function nodeArgs(config: LauncherConfig, region: string, regionIndex: number, node: number, proxyUrl: string): string[] {
  const args = [
    '--region',
    region,
    '--node-id',
    String(node),
    '--port',
    String(nodePort(config, regionIndex, node)),
    '--host',
    config.host,
    // Every node of a region shares its folder: sealed domain key, signing keys, trust store
    // and, with the embedded store, the one SQLite file.
    '--data-dir',
    join(config.dataDir, 'regions', region),
    '--account',
    config.accountId,
  ]
  // The store goes to the nodes in their environment (TRENT_STORE, childEnv), not on their
  // command line, where `ps` would show any password its URL carries.
  // Several writers of one store: each node must follow what the others commit.
  if (config.nodesPerRegion > 1) args.push('--shared-store')
  if (config.allowTestHooks) args.push('--allow-test-hooks')
  if (config.backgroundIntervalMs !== undefined) args.push('--background-interval-ms', config.backgroundIntervalMs)
  if (config.reconcileIntervalMs !== undefined) args.push('--reconcile-interval-ms', config.reconcileIntervalMs)
  if (config.identitiesFile !== undefined) args.push('--identities', config.identitiesFile)
  if (config.seedFile !== undefined) args.push('--seed', config.seedFile)
  if (config.acceptAnyCredentials) args.push('--accept-any-credentials')
  if (config.masterKey.source === 'file') args.push('--master-key-file', config.masterKey.path)
  args.push(...limitsAsFlags(config.limits))
  args.push('--proxy-url', proxyUrl)
  return args
}

/** The store as the banner shows it: a password in a URL is not printed. */
function describeStore(store: string | undefined): string {
  if (store === undefined) return 'SQLite, regions/<region>/trent.db'
  try {
    const url = new URL(store)
    if (url.password !== '') url.password = '***'
    return url.href
  } catch {
    return store
  }
}

/** Where the master key is, and what that means for whoever holds a copy of the data dir. */
function describeMasterKey(config: LauncherConfig): string {
  switch (config.masterKey.source) {
    case 'file':
      return config.masterKey.path
    case 'environment':
      return 'from TRENT_MASTER_KEY'
    case 'data-dir':
      return (
        `in the data dir (regions/<region>/master.key), next to the keys it protects: a copy of\n` +
        `                 ${config.dataDir} alone yields every key. Keep it elsewhere with\n` +
        `                 --master-key-file FILE or TRENT_MASTER_KEY (docs/security.md)`
      )
  }
}

function printBanner(
  config: LauncherConfig,
  gatewayUrl: string,
  credentialsPath: string,
  credentials: AdminCredentials,
  source: CredentialSource,
): void {
  const firstRegion = config.regions[0] ?? 'us-east-1'
  const lines = [
    '',
    'Trent local partition',
    `  gateway        ${gatewayUrl}  (routes each request to the region it is signed for)`,
    `  console        ${gatewayUrl}/console/  (sign in with an access key)`,
    `  regions        ${config.regions.join(', ')}${config.nodesPerRegion > 1 ? ` (${config.nodesPerRegion} nodes each)` : ''}`,
    `  account        ${config.accountId}`,
    `  data           ${config.dataDir}`,
    `  store          ${describeStore(config.store)}`,
    `  master key     ${describeMasterKey(config)}`,
  ]
  if (config.seedFile !== undefined)
    lines.push(`  seed           ${config.seedFile} (missing keys are created at start; existing ones are left as they are)`)
  if (config.acceptAnyCredentials) {
    lines.push(
      `  ANY CREDENTIALS --accept-any-credentials is on: every well-formed SigV4 request is served as`,
      `                 the account's root user, whatever its access key and secret. For tests only.`,
    )
  }
  if (source === 'environment') {
    lines.push(
      `  credentials    from TRENT_ACCESS_KEY_ID / TRENT_SECRET_ACCESS_KEY (access key id ${credentials.accessKeyId})`,
      '',
      'Try it:',
      `  AWS_ACCESS_KEY_ID="$TRENT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$TRENT_SECRET_ACCESS_KEY" ` +
        `aws --endpoint-url ${gatewayUrl} --region ${firstRegion} kms list-keys`,
    )
  } else {
    lines.push(
      `  credentials    ${source === 'generated' ? 'generated now' : 'reused'}, in ${credentialsPath} (profile [${CREDENTIALS_PROFILE}])`,
      `    aws_access_key_id     = ${credentials.accessKeyId}`,
      `    aws_secret_access_key = ${credentials.secretAccessKey}`,
      '',
      'Try it:',
      `  AWS_SHARED_CREDENTIALS_FILE=${shellQuote(credentialsPath)} aws --profile ${CREDENTIALS_PROFILE} ` +
        `--endpoint-url ${gatewayUrl} --region ${firstRegion} kms list-keys`,
    )
  }
  lines.push('')
  say(lines.join('\n'))
}

async function main(): Promise<void> {
  const config = readConfig()
  mkdirSync(join(config.dataDir, 'regions'), { recursive: true, mode: 0o700 })

  // Credentials before anything listens: a broken credentials file fails with nothing to undo.
  const credentialsPath = join(config.dataDir, 'credentials')
  const configuredUrl = config.gatewayPort === 0 ? '<gateway URL>' : urlFor(config.host, config.gatewayPort)
  const { credentials, source } = resolveCredentials(credentialsPath, config.regions[0] ?? 'us-east-1', configuredUrl)

  const nodes = new RegionNodes(config.regions, config.nodesPerRegion)
  const gatewayLogger = logger.child({ component: 'gateway' })
  // One budget for every client connection the launcher holds: those the front door is
  // still reading, and those the HTTP gateway serves itself.
  const guard = new ConnectionGuard(config.limits, rateLimited(gatewayLogger))
  // The web console (/console/) calls the regions through the partition's own KMS
  // endpoint, known once the front door listens.
  const endpoint: { url?: URL } = {}
  const webConsole = createConsole({
    regions: () => config.regions,
    kmsEndpoint: () => endpoint.url,
    logger: logger.child({ component: 'console' }),
  })
  /** Every region's nodes, by node id. */
  const supervisors = new Map<string, NodeSupervisor[]>()
  const everyNode = (): NodeSupervisor[] => [...supervisors.values()].flat()
  // GET /metrics: the launcher's own view of its nodes, merged with what each node and
  // the proxy count themselves (docs/metrics.md).
  const launcherRegistry = createLauncherRegistry(() =>
    Object.entries(nodes.health().regions).flatMap(([region, health]) =>
      health.nodes.map((node) => ({
        region,
        node: node.node,
        ready: node.status === 'ready',
        connections: node.connections,
        restarts: node.restarts,
      })),
    ),
  )
  const gatherer = new MetricsGatherer(launcherRegistry)
  // The relay between regions (started once the gateway listens); its metrics are gathered too.
  const proxy = new ProxySupervisor(
    join(config.dataDir, 'proxy'),
    config.host,
    config.proxyPort,
    logger.child({ component: 'proxy' }),
    limitsAsFlags(config.limits),
    metricsRequests,
  )
  const gatherMetrics = async (): Promise<{ contentType: string; body: string }> => {
    const sources: MetricsSource[] = everyNode().map((supervisor) => ({
      labels: { source: 'region', region: supervisor.region, node: String(supervisor.node) },
      snapshot: () => supervisor.metrics(),
    }))
    sources.push({ labels: { source: 'proxy' }, snapshot: () => proxy.metrics() })
    return { contentType: PROMETHEUS_CONTENT_TYPE, body: await gatherer.gather(sources) }
  }
  const gateway = createGateway({
    nodes,
    logger: gatewayLogger,
    guard,
    acceptAnyCredentials: config.acceptAnyCredentials,
    pages: webConsole,
    metrics: gatherMetrics,
  })
  // The front door hands each connection to a ready node of its region, and only what it
  // cannot hand off reaches the HTTP gateway, which therefore never listens itself.
  const front = createHandoffServer({
    fallback: gateway,
    guard,
    nodes,
    handOff: (region, node, socket, head) => supervisors.get(region)?.[node]?.handOff(socket, head) ?? false,
  })
  // Listen before starting any region: a port in use fails at once, with nothing to undo.
  await new Promise<void>((listening) => {
    front.once('error', (err: NodeJS.ErrnoException) => {
      fail(`the gateway cannot listen on ${config.host}:${config.gatewayPort}: ${err.code ?? err.message}`, 1)
    })
    front.listen(config.gatewayPort, config.host, () => listening())
  })
  front.on('error', (err) => logger.error('gateway error', { error: err.message }))
  const gatewayPort = (front.address() as AddressInfo).port
  const gatewayUrl = urlFor(config.host, gatewayPort)
  endpoint.url = new URL(gatewayUrl)
  notifyParent({ type: 'gateway-listening', host: config.host, port: gatewayPort })

  printBanner(config, gatewayUrl, credentialsPath, credentials, source)
  logger.info('gateway listening', { port: gatewayPort, host: config.host, credentials: source, nodesPerRegion: config.nodesPerRegion })
  if (config.acceptAnyCredentials) {
    logger.warn(
      'accept-any-credentials is on: every well-formed SigV4 request is served as the root user, whatever its access key and secret; for tests only',
    )
  }

  // Multi-Region keys: a partition id, the relay between regions, and pinned signing keys.
  const partitionId = ensurePartitionId(config.dataDir)
  const regionDirs = new Map(config.regions.map((region) => [region, join(config.dataDir, 'regions', region)]))
  const trust = new PartitionTrust(partitionId, regionDirs)
  trust.refresh()
  await proxy
    .start()
    .catch((err: unknown) => fail(`the replication proxy cannot start: ${err instanceof Error ? err.message : String(err)}`, 1))
  say(`trent: replication proxy on ${proxy.url} (partition ${partitionId})`)

  let stopping = false
  let everyNodeReadyOnce = false
  const regionHost = reachableHost(config.host)

  /**
   * Where other regions reach each region's KMS API (requests forwarded across regions,
   * api/forward.ts): its lowest-numbered ready node, so that the route moves only when
   * that node stops serving.
   */
  const broadcastRoutes = (): void => {
    const routes: Record<string, NodeEndpoint> = {}
    for (const region of config.regions) {
      const first = nodes.firstReady(region)
      if (first !== undefined) routes[region] = first.endpoint
    }
    for (const supervisor of everyNode()) supervisor.sendRoutes(routes)
  }

  /**
   * The proxy delivers a region's envelopes to one node's replication listener, and stays
   * with it while it serves: a destination's session key (RAKB) lives in the HSM of the
   * node that opened the session, so the messages of one session should reach the same
   * node. When that node stops serving, the route moves to another ready node at once (a
   * session then in flight fails and is retried by reconciliation). With no node ready,
   * the route is left as it was: the proxy keeps what it cannot deliver and retries.
   */
  const replicationNode = new Map<string, number>()
  const routeReplication = (region: string): void => {
    const current = replicationNode.get(region)
    if (current !== undefined && nodes.isReady(region, current)) return
    replicationNode.delete(region)
    const first = nodes.firstReady(region)
    const replicationPort = first === undefined ? undefined : supervisors.get(region)?.[first.node]?.replicationPort
    if (first === undefined || replicationPort === undefined) return
    replicationNode.set(region, first.node)
    proxy.setRoute(region, urlFor(regionHost, replicationPort))
    logger.info('replication route', { region, node: first.node, replicationPort })
  }

  /**
   * On a first start, node 0 of a region creates the region's files (master key, sealed
   * domain key, first replication signing key, database schema); the other nodes start
   * once it has served or failed, so that they find those files instead of racing to
   * create their own (docs/architecture.md, "Nodes in the launcher and the gateway").
   */
  const followersStarted = new Set<string>()
  const startFollowers = (region: string): void => {
    if (followersStarted.has(region) || stopping) return
    followersStarted.add(region)
    for (const supervisor of supervisors.get(region)?.slice(1) ?? []) supervisor.start()
  }

  const events: NodeEvents = {
    started(supervisor, pid) {
      nodes.starting(supervisor.region, supervisor.node, pid ?? null)
    },
    ready(supervisor, port, replicationPort, pid) {
      const { region, node } = supervisor
      if (stopping) return
      nodes.ready(region, node, pid, { host: regionHost, port })
      // A node publishes the region's signing keys before it reports ready: pin them everywhere.
      trust.refresh()
      routeReplication(region)
      broadcastRoutes()
      say(`trent: ${supervisor.name} ready on ${urlFor(config.host, port)} (pid ${pid})`)
      logger.info('region serving', { region, node, port, replicationPort, pid })
      notifyParent({ type: 'region-ready', region, node, port, replicationPort, pid })
      startFollowers(region)
      if (!everyNodeReadyOnce && nodes.everyNodeReady()) {
        everyNodeReadyOnce = true
        const regions: PartitionReadyMessage['regions'] = {}
        for (const [name, regionNodes] of supervisors) {
          const nodeList = regionNodes.map((s) => ({ node: s.node, port: s.port ?? 0, pid: s.pid ?? 0 }))
          regions[name] = { port: nodeList[0]?.port ?? 0, pid: nodeList[0]?.pid ?? 0, nodes: nodeList }
        }
        say(`trent: every region is ready; send requests to ${gatewayUrl}`)
        logger.info('partition ready', { port: gatewayPort })
        notifyParent({ type: 'ready', host: config.host, port: gatewayPort, regions })
      }
    },
    exited(supervisor, restartInMs) {
      const { region, node } = supervisor
      // Out of the routing table first: no connection is handed to it from now on.
      if (restartInMs === undefined) nodes.stopping(region, node)
      else nodes.restarting(region, node)
      if (stopping) return
      routeReplication(region)
      broadcastRoutes()
      startFollowers(region)
    },
    signingKeysChanged(region) {
      trust.refresh()
      logger.info('replication signing keys pinned again', { region })
    },
    failedForGood(supervisor) {
      say(`trent: ${supervisor.name} cannot create the keys of the seed file (its message is above); stopping`)
      void shutdown('seed file', 1)
    },
  }

  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TRENT_ACCESS_KEY_ID: credentials.accessKeyId,
    TRENT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    ...(config.store !== undefined ? { [STORE_ENV]: config.store } : {}),
  }
  config.regions.forEach((region, regionIndex) => {
    supervisors.set(
      region,
      Array.from(
        { length: config.nodesPerRegion },
        (_, node) =>
          new NodeSupervisor(region, node, config.nodesPerRegion, nodeArgs(config, region, regionIndex, node, proxy.url), childEnv, events),
      ),
    )
  })

  async function shutdown(reason: string, exitCode = 0): Promise<void> {
    if (stopping) {
      // Asked twice: the user is not willing to wait.
      say('trent: stopping now')
      for (const supervisor of everyNode()) supervisor.kill()
      proxy.kill()
      process.exit(1)
    }
    stopping = true
    say(`trent: stopping (${reason})`)
    logger.info('partition stopping', { reason })
    for (const supervisor of everyNode()) nodes.stopping(supervisor.region, supervisor.node)
    front.close()
    gateway.close()
    webConsole.close()
    await Promise.all(everyNode().map((supervisor) => supervisor.stop(STOP_GRACE_MS)))
    await proxy.stop()
    gateway.closeAllConnections()
    logger.info('partition stopped')
    process.exit(exitCode)
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  // Started by a tool over IPC: never outlive it.
  process.on('disconnect', () => void shutdown('parent gone'))

  // Node 0 of every region now; the others once it has served (startFollowers).
  for (const regionNodes of supervisors.values()) regionNodes[0]?.start()
}

await main()
