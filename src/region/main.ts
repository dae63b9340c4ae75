/**
 * One region as an OS process: `node dist/src/region/main.js --region us-east-1 ...`.
 * Started by the local partition launcher (src/partition/) or directly on a host of its
 * own. Reports readiness to a parent over IPC when it has one, and exits when that
 * parent goes away, so no region outlives the partition that started it.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { createLogger } from '../log/logger.js'
import { LIMIT_FLAG_OPTIONS, limitsFromFlags } from '../http/limits.js'
import { MAX_NODE_ID, STORE_ENV, isLauncherToRegionMessage, type RegionToLauncherMessage } from '../wire/region-messages.js'
import { startRegion } from './compose-region.js'
import { describeStore, invalidStore } from './storage-choice.js'
import { configureFailpoints } from '../kms/failpoints.js'
import { SEED_FAILED_EXIT_CODE, parseSeedFile, type SeedKey } from '../wire/seed-file.js'

const REGION_PATTERN = /^([a-z]+-){2,3}\d+$/

function fail(message: string, exitCode = 2): never {
  process.stderr.write(`trent region: ${message}\n`)
  process.exit(exitCode)
}

function portFlag(flag: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) fail(`--${flag} must be a port number (0-65535), not '${text}'`)
  return Number(text)
}

function tellLauncher(message: RegionToLauncherMessage): void {
  process.send?.(message)
}

const { values } = parseArgs({
  options: {
    region: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'replication-port': { type: 'string', default: '0' },
    'replication-host': { type: 'string' },
    ...LIMIT_FLAG_OPTIONS,
    'data-dir': { type: 'string' },
    account: { type: 'string', default: '111122223333' },
    'master-key-file': { type: 'string' },
    'allow-test-hooks': { type: 'boolean', default: false },
    'background-interval-ms': { type: 'string', default: '1000' },
    'proxy-url': { type: 'string' },
    'trust-store': { type: 'string' },
    'reconcile-interval-ms': { type: 'string', default: '30000' },
    'replica-visibility-wait-ms': { type: 'string' },
    identities: { type: 'string' },
    // Which node of the region this process is, when a region runs several (the launcher's
    // --nodes): it only names the node in its logs and its ready message.
    'node-id': { type: 'string' },
    // 'sqlite' (default) or a postgres:// URL (docs/spec/storage.md); PGPASSWORD or
    // ~/.pgpass keep the password off the command line.
    store: { type: 'string' },
    // Other processes (nodes of this region) write the same store.
    'shared-store': { type: 'boolean', default: false },
    // Keys to create at start if missing (docs/spec/seed-file.md).
    seed: { type: 'string' },
    // Development mode: any well-formed SigV4 request is the root user's (docs/security.md).
    'accept-any-credentials': { type: 'boolean', default: false },
  },
  strict: true,
})

const region = values.region ?? fail('--region is required')
if (!REGION_PATTERN.test(region)) fail(`--region ${region} is not a region name`)
const dataDir = values['data-dir'] ?? fail('--data-dir is required')
const accountId = values.account
if (!/^\d{12}$/.test(accountId)) fail('--account must be 12 digits')
const port = portFlag('port', values.port)
// `--store`, or the launcher's TRENT_STORE (region-messages.ts: kept off the command line).
const store = values.store ?? (process.env[STORE_ENV] !== '' ? process.env[STORE_ENV] : undefined)
const storeProblem = invalidStore(store)
if (storeProblem !== undefined) fail(storeProblem)
const replicationPort = portFlag('replication-port', values['replication-port'])
let limits: ReturnType<typeof limitsFromFlags>
try {
  limits = limitsFromFlags(values)
} catch (err) {
  fail(err instanceof Error ? err.message : 'bad limits')
}
const nodeIdText = values['node-id']
if (nodeIdText !== undefined && (!/^\d{1,3}$/.test(nodeIdText) || Number(nodeIdText) > MAX_NODE_ID)) {
  fail(`--node-id must be a number from 0 to ${MAX_NODE_ID}, not '${nodeIdText}'`)
}
const nodeId = nodeIdText === undefined ? undefined : Number(nodeIdText)
const nodeFields = nodeId === undefined ? {} : { nodeId }
const accessKeyId = process.env.TRENT_ACCESS_KEY_ID ?? fail('TRENT_ACCESS_KEY_ID is not set')
const secretAccessKey = process.env.TRENT_SECRET_ACCESS_KEY ?? fail('TRENT_SECRET_ACCESS_KEY is not set')

// A bad seed file is a configuration error: the launcher stops the partition instead of
// restarting the region (SEED_FAILED_EXIT_CODE).
let seed: SeedKey[] | undefined
if (values.seed !== undefined) {
  let text: string
  try {
    text = readFileSync(values.seed, 'utf8')
  } catch (err) {
    fail(`--seed ${values.seed}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, SEED_FAILED_EXIT_CODE)
  }
  try {
    seed = parseSeedFile(text)
  } catch (err) {
    fail(err instanceof Error ? err.message : 'bad seed file', SEED_FAILED_EXIT_CODE)
  }
}

const logger = createLogger(nodeId === undefined ? { region } : { region, node: nodeId })
// The launcher tells each region where the others listen, and may hand it client
// connections (src/gateway/handoff.ts).
const routes = new Map<string, { host: string; port: number }>()
let handedOffConnection: ((socket: Socket, head: Buffer) => void) | undefined
/**
 * Answers the launcher's metrics request (the gateway's GET /metrics gathers every
 * node's). Until the node serves: an empty registry, so the launcher need not wait for
 * its timeout.
 */
let sendMetrics = (id: number): void => {
  tellLauncher({ type: 'metrics', region, ...nodeFields, id, metrics: [] })
}
process.on('message', (message: unknown, handle: unknown) => {
  if (!isLauncherToRegionMessage(message)) {
    if (handle instanceof Socket) handle.destroy()
    return
  }
  if (message.type === 'metrics-request') {
    sendMetrics(message.id)
  } else if (message.type === 'routes') {
    routes.clear()
    for (const [name, route] of Object.entries(message.routes)) if (name !== region) routes.set(name, route)
  } else if (handle instanceof Socket) {
    if (handedOffConnection === undefined) handle.destroy()
    else handedOffConnection(handle, Buffer.from(message.head, 'base64'))
  }
})
if (values['allow-test-hooks'] && process.env.TRENT_FAILPOINTS !== undefined) {
  configureFailpoints(
    process.env.TRENT_FAILPOINTS.split(',').map((name) => name.trim()),
    dataDir,
  )
}
const running = await startRegion({
  region,
  accountId,
  dataDir,
  ...(nodeId !== undefined ? { node: nodeId } : {}),
  host: values.host,
  port,
  replicationPort,
  ...(values['replication-host'] !== undefined ? { replicationHost: values['replication-host'] } : {}),
  limits,
  credentials: { accessKeyId, secretAccessKey },
  ...(values['master-key-file'] !== undefined ? { masterKeyFile: values['master-key-file'] } : {}),
  allowTestHooks: values['allow-test-hooks'],
  backgroundIntervalMs: Number(values['background-interval-ms']),
  ...(values['proxy-url'] !== undefined ? { proxyUrl: values['proxy-url'] } : {}),
  ...(values['trust-store'] !== undefined ? { trustStoreFile: values['trust-store'] } : {}),
  reconcileIntervalMs: Number(values['reconcile-interval-ms']),
  ...(values['replica-visibility-wait-ms'] !== undefined ? { replicaVisibilityWaitMs: Number(values['replica-visibility-wait-ms']) } : {}),
  ...(values.identities !== undefined ? { identitiesFile: values.identities } : {}),
  ...(store !== undefined ? { store } : {}),
  shared: values['shared-store'],
  ...(seed !== undefined ? { seed } : {}),
  acceptAnyCredentials: values['accept-any-credentials'],
  routeTo: (name) => routes.get(name),
  ...(nodeId !== undefined ? { nodeId } : {}),
  onSigningKeysChanged: (exported) => tellLauncher({ type: 'signing-keys', region, ...nodeFields, rsk: exported }),
  logger,
}).catch((err: unknown) =>
  err instanceof Error && err.name === 'SeedError'
    ? fail(err.message, SEED_FAILED_EXIT_CODE)
    : fail(err instanceof Error ? err.message : 'cannot start'),
)
if (values['accept-any-credentials']) {
  logger.warn(
    'accept-any-credentials is on: every well-formed SigV4 request is served as the root user, whatever its access key and secret; for tests only',
  )
}

sendMetrics = (id) => {
  running.metrics.registry.getMetricsAsJSON().then(
    (snapshot) => tellLauncher({ type: 'metrics', region, ...nodeFields, id, metrics: snapshot }),
    (err: unknown) => {
      // No snapshot: the launcher reports this node as not answering (trent_metrics_source_up 0).
      logger.error('cannot collect metrics', { error: err instanceof Error ? err.message : 'unknown' })
      tellLauncher({ type: 'metrics', region, ...nodeFields, id, metrics: null })
    },
  )
}
handedOffConnection = (socket, head) => {
  // The launcher read the first request's head (and maybe more) off this socket, and the
  // socket may already hold what came after it: put the head back in front, so that the
  // HTTP parser, attached by 'connection', reads everything in order.
  if (head.length > 0) socket.unshift(head)
  running.server.emit('connection', socket)
  socket.resume()
}
logger.info('region ready', {
  port: running.port,
  replicationPort: running.replicationPort,
  store: describeStore({ store, region, dataDir }),
  sharedStore: values['shared-store'],
})
tellLauncher({ type: 'ready', region, ...nodeFields, port: running.port, replicationPort: running.replicationPort, rsk: running.rsk })

let stopping = false
async function stop(reason: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info('region stopping', { reason })
  const timer = setTimeout(() => process.exit(1), 10_000)
  timer.unref()
  await running.close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))
// The IPC channel closes when the parent dies, even by kill -9: never outlive it.
process.on('disconnect', () => void stop('parent gone'))
