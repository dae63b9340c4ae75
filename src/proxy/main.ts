/**
 * The replication relay as its own OS process (docs/spec/replication.md §10):
 *
 *   node dist/src/proxy/main.js --data-dir DIR [--port 0] [--host 127.0.0.1]
 *     [--route us-east-1=http://127.0.0.1:4567 ...] [--routes-file routes.json]
 *     [--backoff-initial-ms 50] [--backoff-max-ms 10000] [--max-in-flight 8]
 *     [--delivery-timeout-ms 10000] [--shutdown-grace-ms 2000]
 *     [--header-timeout-ms N] [--request-timeout-ms N] [--keep-alive-timeout-ms N] [--max-connections N]
 *
 * Envelopes are kept in `<data-dir>/proxy.db`. The routes file (`{"region": "URL"}`) is
 * re-read when it changes and on SIGHUP. Forked with an IPC channel, the proxy sends
 * `{type: 'ready', port}` once listening and exits when its parent goes away. SIGTERM and
 * SIGINT stop it cleanly: it stops accepting, gives deliveries in flight a moment, closes
 * its database and exits 0. Logs are JSON lines on stdout.
 *
 * @module
 */
import { mkdirSync, unwatchFile, watchFile } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createLogger } from '../log/logger.js'
import { LIMIT_FLAG_OPTIONS, limitsFromFlags } from '../http/limits.js'
import { isMetricsRequestMessage } from '../wire/region-messages.js'
import { DEFAULT_BACKOFF } from './backoff.js'
import { createHttpDeliverer, DEFAULT_DELIVERY_TIMEOUT_MS } from './http-deliver.js'
import { createRelay, DEFAULT_MAX_IN_FLIGHT_PER_DESTINATION } from './relay.js'
import { changedRoutes, parseRouteFlag, readRoutesFile, RouteError, routesAsJson } from './routes.js'
import { createProxyServer } from './server.js'
import { SqliteRelayStore } from './sqlite-store.js'
import { ProxyMetrics } from '../metrics/proxy-metrics.js'
import { PROMETHEUS_CONTENT_TYPE } from '../metrics/names.js'

/** How often the routes file is checked for changes (stat polling survives the file being replaced). */
const ROUTES_FILE_POLL_MS = 250
/** On SIGTERM, the process is killed outright if a clean stop takes longer than this. */
const STOP_DEADLINE_MS = 10_000

function fail(message: string): never {
  process.stderr.write(`trent proxy: ${message}\n`)
  process.exit(2)
}

function nonNegativeInteger(flag: string, value: string): number {
  const parsed = Number(value)
  if (!Number.isSafeInteger(parsed) || parsed < 0) fail(`--${flag} must be a non-negative integer`)
  return parsed
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'data-dir': { type: 'string' },
    route: { type: 'string', multiple: true, default: [] },
    'routes-file': { type: 'string' },
    'backoff-initial-ms': { type: 'string', default: String(DEFAULT_BACKOFF.initialMs) },
    'backoff-max-ms': { type: 'string', default: String(DEFAULT_BACKOFF.maxMs) },
    'max-in-flight': { type: 'string', default: String(DEFAULT_MAX_IN_FLIGHT_PER_DESTINATION) },
    'delivery-timeout-ms': { type: 'string', default: String(DEFAULT_DELIVERY_TIMEOUT_MS) },
    'shutdown-grace-ms': { type: 'string', default: '2000' },
    ...LIMIT_FLAG_OPTIONS,
  },
  strict: true,
})

const dataDir = values['data-dir'] ?? fail('--data-dir is required')
const port = nonNegativeInteger('port', values.port)
if (port > 65_535) fail('--port must be at most 65535')
const backoff = {
  initialMs: nonNegativeInteger('backoff-initial-ms', values['backoff-initial-ms']),
  maxMs: nonNegativeInteger('backoff-max-ms', values['backoff-max-ms']),
}
const maxInFlight = nonNegativeInteger('max-in-flight', values['max-in-flight'])
if (maxInFlight === 0) fail('--max-in-flight must be at least 1')
const deliveryTimeoutMs = nonNegativeInteger('delivery-timeout-ms', values['delivery-timeout-ms'])
const shutdownGraceMs = nonNegativeInteger('shutdown-grace-ms', values['shutdown-grace-ms'])
const routesFile = values['routes-file']
let limits: ReturnType<typeof limitsFromFlags>
try {
  limits = limitsFromFlags(values)
} catch (err) {
  fail(err instanceof Error ? err.message : 'bad limits')
}

let flagRoutes: Map<string, URL>
let routes: Map<string, URL>
try {
  flagRoutes = new Map(values.route.map(parseRouteFlag))
  routes = new Map([...flagRoutes, ...(routesFile === undefined ? [] : readRoutesFile(routesFile))])
} catch (err) {
  fail(err instanceof RouteError ? err.message : 'cannot read the routes')
}

const logger = createLogger({ service: 'proxy' })
mkdirSync(dataDir, { recursive: true })
const store = new SqliteRelayStore(join(dataDir, 'proxy.db'))
const deliverer = createHttpDeliverer({
  routeFor: (region) => routes.get(region),
  timeoutMs: deliveryTimeoutMs,
  maxSocketsPerRegion: maxInFlight,
})
// Queue depths are read from the relay's status when scraped (one store query per scrape).
const metrics = new ProxyMetrics(() => relay.status(routes.keys()))
const relay = createRelay({
  store,
  deliver: deliverer.deliver,
  logger,
  backoff,
  maxInFlightPerDestination: maxInFlight,
  isKnownDestination: (region) => routes.has(region),
  metrics,
})

function reloadRoutes(trigger: string): void {
  if (routesFile === undefined) return
  try {
    const next = new Map([...flagRoutes, ...readRoutesFile(routesFile)])
    const changed = changedRoutes(routes, next)
    routes = next
    logger.info('routes loaded', { trigger, regions: routes.size, changed: changed.join(',') })
    // A changed route usually means the region restarted: try it now, not after the backoff.
    for (const region of changed) relay.retryNow(region)
  } catch (err) {
    // A half-written or broken file keeps the routes in force.
    logger.error('routes file rejected, keeping the current routes', { trigger, error: err instanceof Error ? err.message : 'unknown' })
  }
}

const server = createProxyServer({
  relay,
  logger,
  routes: () => routes,
  limits,
  metrics: async () => ({ contentType: PROMETHEUS_CONTENT_TYPE, body: await metrics.registry.metrics() }),
})
// The launcher gathers the proxy's metrics over IPC for the gateway's GET /metrics.
process.on('message', (message: unknown) => {
  if (!isMetricsRequestMessage(message)) return
  metrics.registry.getMetricsAsJSON().then(
    (snapshot) => process.send?.({ type: 'metrics', id: message.id, metrics: snapshot }),
    (err: unknown) => {
      logger.error('cannot collect metrics', { error: err instanceof Error ? err.message : 'unknown' })
      process.send?.({ type: 'metrics', id: message.id, metrics: null })
    },
  )
})
await new Promise<void>((resolve, reject) => {
  server.once('error', reject)
  server.listen(port, values.host, () => resolve())
}).catch((err: unknown) => fail(err instanceof Error ? err.message : 'cannot listen'))
const listeningPort = (server.address() as AddressInfo).port

if (routesFile !== undefined) {
  watchFile(routesFile, { interval: ROUTES_FILE_POLL_MS, persistent: false }, (current, previous) => {
    if (current.ino !== previous.ino || current.mtimeMs !== previous.mtimeMs || current.size !== previous.size) reloadRoutes('file changed')
  })
}
process.on('SIGHUP', () => reloadRoutes('SIGHUP'))

logger.info('proxy ready', { host: values.host, port: listeningPort, routes: JSON.stringify(routesAsJson(routes)) })
process.send?.({ type: 'ready', port: listeningPort })

let stopping = false
async function stop(reason: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info('proxy stopping', { reason })
  setTimeout(() => process.exit(1), STOP_DEADLINE_MS).unref()
  if (routesFile !== undefined) unwatchFile(routesFile)
  const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeIdleConnections()
  await relay.close({ graceMs: shutdownGraceMs })
  deliverer.close()
  // Connections still busy after the deliveries' grace are cut: every answer they could
  // still give is 503 anyway.
  server.closeAllConnections()
  await serverClosed
  store.close()
  logger.info('proxy stopped', { reason })
  process.exit(0)
}
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))
// The IPC channel closes when the parent dies, even by kill -9: never outlive it.
process.on('disconnect', () => void stop('parent gone'))
