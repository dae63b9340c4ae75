/**
 * The composition root of a region: the only place that knows every concrete part
 * (HSM worker, storage, KMS, HTTP front end, background work) and wires them.
 *
 * @module
 */
import { existsSync, mkdirSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createApiServer } from '../api/server.js'
import { createReplicationEndpoint } from '../api/replication-endpoint.js'
import { REPLICATION_LISTENER_LIMITS, type ListenerLimits } from '../http/limits.js'
import { RSK_EXPORT_FILE, TRUST_STORE_FILE, formatTrustDocument, type RskExport } from '../wire/replication-trust.js'
import { startWorkerHsm } from '../hsm/worker-hsm.js'
import { AdjustableClock } from '../kms/clock.js'
import { startBackgroundWork } from '../kms/background.js'
import { holdRegionLease, SOLE_WRITER_LEASE } from '../kms/lease.js'
import { Kms } from '../kms/kms.js'
import type { AdminOperation } from '../kms/operation.js'
import type { Logger } from '../log/logger.js'
import { createRegionStorage } from './storage-choice.js'
import { KmsError } from '../wire/errors.js'
import { FileTrustStore } from '../replication/trust-store.js'
import { HttpTransport } from '../replication/transport.js'
import { startOutboxSender } from '../kms/multi-region/sender.js'
import { reconcile } from '../kms/multi-region/reconcile.js'
import { describeReplication } from '../kms/admin/describe-replication.js'
import { writeFileSync, renameSync } from 'node:fs'
import { loadPrincipals } from './identities.js'
import { rootIdentity } from '../kms/principals.js'
import { seedKeys, type Seeding } from '../kms/seed.js'
import type { SeedKey } from '../wire/seed-file.js'
import { RegionMetrics } from '../metrics/region-metrics.js'
import { keysByState, replicationLag } from '../kms/multi-region/lag.js'
import { FileAuditTrail, type CommittedIntent } from '../audit/trail.js'
import type { Storage } from '../storage/storage.js'

export interface RegionConfig {
  region: string
  accountId: string
  /** This region's own folder: database, sealed domain key, master key file. */
  dataDir: string
  /** Where its state is kept: `sqlite` (default, `<dataDir>/trent.db`) or a postgres:// URL (region/storage-choice.ts). */
  store?: string
  /** Other nodes of the region write the same store. */
  shared?: boolean
  /** Which node of the region this is (the launcher's --nodes; default 0): names its audit chain. */
  node?: number
  host: string
  /** 0 picks a free port. */
  port: number
  /** Where the replication listener binds (default: `host`): only the proxy needs to reach it. */
  replicationHost?: string
  /** The replication listener's port; 0 picks a free one. */
  replicationPort: number
  /** Timeouts and connection limit of the KMS API listener (docs/security.md). */
  limits?: ListenerLimits
  credentials: { accessKeyId: string; secretAccessKey: string }
  /** The account's IAM users and their policies (docs/authorization.md §1); without it, root only. */
  identitiesFile?: string
  /**
   * Where the master key lives when TRENT_MASTER_KEY is not set (default: `master.key` in
   * `dataDir`); created on the region's first start if absent.
   */
  masterKeyFile?: string
  /** Enables TrentAdmin.AdvanceClock: for tests only. */
  allowTestHooks: boolean
  backgroundIntervalMs: number
  /** The replication proxy; without one, multi-Region keys stay in this region. */
  proxyUrl?: string
  /** The partition's pinned signing keys; default `<dataDir>/trust-store.json`. */
  trustStoreFile?: string
  /** How often reconciliation runs (docs/spec/replication.md#reconciliation). */
  reconcileIntervalMs: number
  /** ReplicateKey's wait for the replica region to show the replica (default 2000 ms; 0: none). */
  replicaVisibilityWaitMs?: number
  /** Called after the region's signing keys changed (rotation), so they can be pinned elsewhere. */
  onSigningKeysChanged?: (exported: RskExport) => void
  /** The seed file's keys (docs/spec/seed-file.md): those of this region that are missing are created at start. */
  seed?: readonly SeedKey[]
  /**
   * Development mode (`--accept-any-credentials`): every well-formed SigV4 request is
   * served as the account's root user, whatever its access key and secret.
   */
  acceptAnyCredentials?: boolean
  /** The partition's other regions, for requests scoped to them (see api/forward.ts). */
  routeTo?: (region: string) => { host: string; port: number } | undefined
  /** Which node of the region this is (the launcher's `--nodes`), for the metrics' `node` label. */
  nodeId?: number
  logger: Logger
}

export interface RunningRegion {
  port: number
  replicationPort: number
  rsk: RskExport
  server: Server
  kms: Kms
  /** The node's metrics (docs/metrics.md), also served on its KMS port at GET /metrics. */
  metrics: RegionMetrics
  close(): Promise<void>
}

/**
 * Long enough for a ReplicaCreate to cross the proxy and be applied (tens of milliseconds
 * on one host), short enough that a ReplicateKey towards an unreachable region still
 * answers promptly.
 */
const DEFAULT_REPLICA_VISIBILITY_WAIT_MS = 2000

export async function startRegion(config: RegionConfig): Promise<RunningRegion> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const sealedDomainKeyFile = join(config.dataDir, 'domain-key.sealed')
  const hsm = await startWorkerHsm({
    region: config.region,
    masterKeyEnv: 'TRENT_MASTER_KEY',
    masterKeyFile: config.masterKeyFile ?? join(config.dataDir, 'master.key'),
    // Only on a first start: a master key made now could not unseal a domain key sealed
    // before, so a missing file then is an error (a wrong path, a lost key), said as such.
    createMasterKey: !existsSync(sealedDomainKeyFile),
    sealedDomainKeyFile,
    keyDir: config.dataDir,
  })
  const storage = await createRegionStorage({
    store: config.store,
    region: config.region,
    dataDir: config.dataDir,
    shared: config.shared,
  }).catch(async (err: unknown) => {
    await hsm.close()
    throw err
  })
  const clock = new AdjustableClock()
  const kms = await Kms.open({ region: config.region, accountId: config.accountId, clock }, hsm, storage)
  // One chain per node, in the region's data dir (docs/spec/audit-trail.md §1).
  const auditTrail = new FileAuditTrail({
    regionDir: config.dataDir,
    region: config.region,
    node: config.node ?? 0,
    now: () => clock.now(),
  })
  kms.audit = auditTrail
  // Records of changes this node committed but did not write before it stopped (docs/spec/audit-trail.md §4).
  const recovered = await auditTrail.recoverIntents(await recentAuditIntents(storage, kms.position))
  if (recovered > 0) config.logger.warn('audit records recovered from the change log', { records: recovered })
  kms.peers = new FileTrustStore(config.trustStoreFile ?? join(config.dataDir, TRUST_STORE_FILE))
  kms.replicaVisibilityWaitMs = config.replicaVisibilityWaitMs ?? DEFAULT_REPLICA_VISIBILITY_WAIT_MS
  // The region's background work runs on one node at a time (kms/lease.ts).
  const lease = storage.shared
    ? await holdRegionLease(storage, {
        onChange: (held) => config.logger.info(held ? 'took the region lease: doing its background work' : 'lost the region lease'),
      })
    : SOLE_WRITER_LEASE
  const background = startBackgroundWork(kms, config.logger, config.backgroundIntervalMs, lease)

  // Publish the signing public keys beside the data, for the launcher and `trent rsk export`.
  const publishSigningKeys = async (): Promise<RskExport> => {
    const exported: RskExport = {
      region: config.region,
      keys: (await hsm.replicationSigningKeys()).map((k) => ({
        id: k.id,
        publicKey: Buffer.from(k.publicKey).toString('base64'),
        createdAt: k.createdAt,
      })),
    }
    const rskFile = join(config.dataDir, RSK_EXPORT_FILE)
    // A temporary name of this process's own: the nodes of a region publish into one folder.
    const temporary = `${rskFile}.${process.pid}.tmp`
    writeFileSync(temporary, formatTrustDocument(exported))
    renameSync(temporary, rskFile)
    return exported
  }
  const rsk = await publishSigningKeys()

  const sender =
    config.proxyUrl === undefined ? undefined : startOutboxSender(kms, new HttpTransport(config.proxyUrl), config.logger, lease)
  const reconcileOptions = { resendAfterMs: config.reconcileIntervalMs }
  let reconciling: Promise<void> = Promise.resolve()
  const runReconcile = (): Promise<void> => {
    reconciling = reconciling
      .then(() => reconcile(kms, reconcileOptions))
      .catch((err: unknown) => config.logger.error('reconciliation failed', { error: err instanceof Error ? err.message : 'unknown' }))
    return reconciling
  }
  const reconcileTimer = setInterval(() => {
    if (lease.held) void runReconcile()
  }, config.reconcileIntervalMs)
  reconcileTimer.unref()
  if (lease.held) void runReconcile()
  lease.onTaken(() => void runReconcile())

  // Before the region serves: its seeded keys exist when it reports ready. What needs the
  // other regions (replicating multi-Region keys, a replica's aliases) goes on after.
  let seeding: Seeding | undefined
  if (config.seed !== undefined && config.seed.length > 0) {
    const root = rootIdentity(kms.partition, config.accountId, config.credentials).caller
    seeding = await seedKeys(kms, config.seed, root, config.logger).catch(async (err: unknown) => {
      clearInterval(reconcileTimer)
      await lease.stop()
      await sender?.stop()
      await background.stop()
      await kms.close()
      throw err
    })
  }

  const adminOperations = new Map<string, AdminOperation>([[describeReplication.name, describeReplication]])
  // docs/spec/replication.md §3.2, "Rotating an RSK": the new key signs from now on; it
  // must be pinned in the other regions (the local launcher does it on `onSigningKeysChanged`).
  adminOperations.set('RotateReplicationSigningKey', {
    name: 'RotateReplicationSigningKey',
    async handle() {
      const created = await hsm.rotateReplicationSigningKey()
      const exported = await publishSigningKeys()
      config.onSigningKeysChanged?.(exported)
      return { Region: config.region, KeyId: created.id, SigningKeys: exported.keys.map((k) => k.id) }
    },
  })
  if (config.allowTestHooks) {
    adminOperations.set('Reconcile', {
      name: 'Reconcile',
      async handle() {
        await runReconcile()
        await sender?.flush()
        return {}
      },
    })
    adminOperations.set('AdvanceClock', {
      name: 'AdvanceClock',
      async handle(_kms, input) {
        const seconds = input.Seconds
        if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
          throw new KmsError('ValidationException', 'Seconds must be a non-negative number.')
        }
        clock.advance(seconds * 1000)
        await background.runNow()
        return { Now: clock.now() / 1000 }
      },
    })
  }

  const principals = loadPrincipals({
    partition: kms.partition,
    accountId: config.accountId,
    credentials: config.credentials,
    ...(config.identitiesFile !== undefined ? { file: config.identitiesFile } : {}),
    logger: config.logger,
  })
  const metrics = new RegionMetrics({
    region: config.region,
    ...(config.nodeId !== undefined ? { node: config.nodeId } : {}),
    sources: { hsmInFlight: () => hsm.inFlight(), keysByState: () => keysByState(kms), replicationLag: () => replicationLag(kms) },
  })
  const server = createApiServer({
    kms,
    logger: config.logger,
    metrics,
    adminOperations,
    principals: principals.directory,
    ...(config.acceptAnyCredentials === true
      ? { acceptAnyCredentials: rootIdentity(kms.partition, config.accountId, config.credentials).caller }
      : {}),
    ...(config.routeTo !== undefined ? { routeTo: config.routeTo } : {}),
    ...(config.limits !== undefined ? { limits: config.limits } : {}),
  })
  const replicationServer = createReplicationEndpoint({
    kms,
    logger: config.logger,
    // The same timeouts; fewer connections: its only client is the proxy's delivery pool.
    limits: {
      ...(config.limits ?? REPLICATION_LISTENER_LIMITS),
      maxConnections: Math.min(REPLICATION_LISTENER_LIMITS.maxConnections, (config.limits ?? REPLICATION_LISTENER_LIMITS).maxConnections),
    },
  })
  const port = await listen(server, config.port, config.host)
  const replicationPort = await listen(replicationServer, config.replicationPort, config.replicationHost ?? config.host)
  return {
    port,
    replicationPort,
    rsk,
    server,
    kms,
    metrics,
    async close() {
      await Promise.all(
        [server, replicationServer].map(
          (listener) =>
            new Promise<void>((resolve) => {
              listener.close(() => resolve())
              listener.closeIdleConnections()
            }),
        ),
      )
      principals.close()
      seeding?.stop()
      clearInterval(reconcileTimer)
      await lease.stop()
      await reconciling
      await sender?.stop()
      await background.stop()
      await kms.close()
      await auditTrail.close()
    },
  }
}

/**
 * How far back in the change log a node looks for changes it committed without writing
 * their records: far more than the changes one node can have in flight when it dies.
 */
const AUDIT_RECOVERY_WINDOW = 1000

/** The auditIntent writes of the last changes the store still keeps, oldest first. */
async function recentAuditIntents(storage: Storage, position: number): Promise<CommittedIntent[]> {
  for (let window = AUDIT_RECOVERY_WINDOW; window >= 1; window = Math.floor(window / 2)) {
    const changes = await storage.changesSince(Math.max(0, position - window))
    if (changes === undefined) continue
    return changes.flatMap((change) =>
      change.writes.flatMap((w) => (w.kind === 'auditIntent' ? [{ node: w.node, eventId: w.eventId, record: w.record }] : [])),
    )
  }
  return []
}

/** Listens and resolves with the port, or rejects with the listen error (a port in use, say). */
function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}
