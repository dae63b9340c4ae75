/**
 * The messages between the local partition's launcher (src/partition/) and the region
 * processes it forks, over their IPC channel: defined once, for both sides, with the
 * checks each side applies to what it receives.
 *
 * @module
 */
import type { RskExport } from './replication-trust.js'

export type { RskExport }

/**
 * Launcher → region, in its environment: the store (`--store`'s value), passed this way
 * so that a password in the URL never shows in `ps`. A region reads it when `--store` is
 * not given. A password can also stay out of the URL altogether: PostgreSQL's own
 * PGPASSWORD and PGPASSFILE are honoured (docs/postgres-ha.md).
 */
export const STORE_ENV = 'TRENT_STORE'

/**
 * Region → launcher: serving; `port` is the KMS API, `replicationPort` where the proxy
 * delivers. `nodeId` names the node of the region (`--node-id`) when it was given one.
 */
export interface RegionReadyMessage {
  type: 'ready'
  region: string
  nodeId?: number
  port: number
  replicationPort: number
  rsk: RskExport
}

/** Region → launcher: the region rotated its signing key; pin the new one everywhere. */
export interface SigningKeysChangedMessage {
  type: 'signing-keys'
  region: string
  nodeId?: number
  rsk: RskExport
}

/**
 * Region → launcher: the answer to a {@link MetricsRequestMessage}, the node's registry as
 * prom-client's `getMetricsAsJSON()` gives it (docs/metrics.md); the launcher checks its
 * shape before merging it.
 */
export interface MetricsMessage {
  type: 'metrics'
  region: string
  nodeId?: number
  id: number
  metrics: unknown
}

export type RegionToLauncherMessage = RegionReadyMessage | SigningKeysChangedMessage | MetricsMessage

/** Launcher → region: where the partition's regions serve their KMS API now. */
export interface RoutesMessage {
  type: 'routes'
  routes: Record<string, { host: string; port: number }>
}

/**
 * Launcher → region, with a socket handle: a client connection, and the bytes the front
 * door already read from it (base64), which come first.
 */
export interface ConnectionMessage {
  type: 'connection'
  head: string
}

/** Launcher → region (and → proxy): send your metrics, answering with this `id`. */
export interface MetricsRequestMessage {
  type: 'metrics-request'
  id: number
}

export type LauncherToRegionMessage = RoutesMessage | ConnectionMessage | MetricsRequestMessage

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65_535
}

/** A node id as `--node-id` takes it: a small non-negative integer. */
export function isNodeId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_NODE_ID
}

/** The highest node id: far more nodes than one host (or one region) would ever run. */
export const MAX_NODE_ID = 999

export function isRegionToLauncherMessage(value: unknown): value is RegionToLauncherMessage {
  if (!isObject(value) || typeof value.region !== 'string') return false
  if (value.nodeId !== undefined && !isNodeId(value.nodeId)) return false
  if (value.type === 'metrics') return isRequestId(value.id)
  if (!isObject(value.rsk)) return false
  if (value.type === 'signing-keys') return true
  return value.type === 'ready' && isPort(value.port) && isPort(value.replicationPort)
}

/** A metrics request's id: the launcher's counter. */
function isRequestId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

export function isMetricsRequestMessage(value: unknown): value is MetricsRequestMessage {
  return isObject(value) && value.type === 'metrics-request' && isRequestId(value.id)
}

export function isLauncherToRegionMessage(value: unknown): value is LauncherToRegionMessage {
  if (!isObject(value)) return false
  if (value.type === 'connection') return typeof value.head === 'string'
  if (value.type === 'metrics-request') return isRequestId(value.id)
  if (value.type !== 'routes' || !isObject(value.routes)) return false
  return Object.values(value.routes).every((route) => isObject(route) && typeof route.host === 'string' && isPort(route.port))
}
