/**
 * The composition root of a region: the only place that knows every concrete part
 * (HSM worker, SQLite storage, KMS, HTTP front end, background work) and wires them.
 *
 * @module
 */
import { mkdirSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createApiServer } from '../api/server.js'
import { WorkerHsm } from '../hsm/worker-hsm.js'
import { AdjustableClock } from '../kms/clock.js'
import { startBackgroundWork } from '../kms/background.js'
import { Kms } from '../kms/kms.js'
import type { Operation } from '../kms/operation.js'
import type { Logger } from '../log/logger.js'
import { SqliteStorage } from '../storage/sqlite-storage.js'
import { KmsError } from '../wire/errors.js'
import { FileTrustStore } from '../replication/trust-store.js'
import { HttpTransport } from '../replication/transport.js'
import { startOutboxSender } from '../kms/multi-region/sender.js'
import { forgetSessions, reconcile } from '../kms/multi-region/reconcile.js'
import { describeReplication } from '../kms/admin/describe-replication.js'
import { writeFileSync, renameSync } from 'node:fs'
import { loadPrincipals } from './identities.js'

export interface RegionConfig {
  region: string
  accountId: string
  /** This region's own folder: database, sealed domain key, master key file. */
  dataDir: string
  host: string
  /** 0 picks a free port. */
  port: number
  credentials: { accessKeyId: string; secretAccessKey: string }
  /** The account's IAM users and their policies (docs/authorization.md §1); without it, root only. */
  identitiesFile?: string
  /** Where the master key lives when TRENT_MASTER_KEY is not set; created if absent. */
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
  /** Called after the region's signing keys changed (rotation), so they can be pinned elsewhere. */
  onSigningKeysChanged?: (exported: RskExport) => void
  /** The partition's other regions, for requests scoped to them (see api/forward.ts). */
  routeTo?: (region: string) => { host: string; port: number } | undefined
  logger: Logger
}

/** A region's replication signing public keys, as `trent rsk export` and the launcher share them. */
export interface RskExport {
  region: string
  keys: Array<{ id: string; publicKey: string; createdAt: number }>
}

export interface RunningRegion {
  port: number
  rsk: RskExport
  server: Server
  kms: Kms
  close(): Promise<void>
}

export async function startRegion(config: RegionConfig): Promise<RunningRegion> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const hsm = await WorkerHsm.start({
    region: config.region,
    masterKeyEnv: 'TRENT_MASTER_KEY',
    masterKeyFile: config.masterKeyFile ?? join(config.dataDir, 'master.key'),
    createMasterKey: config.masterKeyFile === undefined,
    sealedDomainKeyFile: join(config.dataDir, 'domain-key.sealed'),
    keyDir: config.dataDir,
  })
  const storage = new SqliteStorage(join(config.dataDir, 'trent.db'))
  const clock = new AdjustableClock()
  const kms = await Kms.open({ region: config.region, accountId: config.accountId, clock }, hsm, storage)
  kms.peers = new FileTrustStore(config.trustStoreFile ?? join(config.dataDir, 'trust-store.json'))
  await forgetSessions(kms)
  const background = startBackgroundWork(kms, config.logger, config.backgroundIntervalMs)

  // Publish the signing public keys beside the data, for the launcher and `trent rsk export`.
  const publishSigningKeys = async (): Promise<RskExport> => {
    const exported: RskExport = {
      region: config.region,
      keys: (await hsm.replicationSigningKeys()).map((k) => ({ id: k.id, publicKey: Buffer.from(k.publicKey).toString('base64'), createdAt: k.createdAt })),
    }
    const rskFile = join(config.dataDir, 'rsk-public.json')
    writeFileSync(`${rskFile}.tmp`, `${JSON.stringify(exported, null, 2)}\n`)
    renameSync(`${rskFile}.tmp`, rskFile)
    return exported
  }
  const rsk = await publishSigningKeys()

  const sender = config.proxyUrl === undefined ? undefined : startOutboxSender(kms, new HttpTransport(config.proxyUrl), config.logger)
  const reconcileOptions = { resendAfterMs: config.reconcileIntervalMs }
  let reconciling: Promise<void> = Promise.resolve()
  const runReconcile = (): Promise<void> => {
    reconciling = reconciling
      .then(() => reconcile(kms, reconcileOptions))
      .catch((err: unknown) => config.logger.error('reconciliation failed', { error: err instanceof Error ? err.message : 'unknown' }))
    return reconciling
  }
  const reconcileTimer = setInterval(() => void runReconcile(), config.reconcileIntervalMs)
  reconcileTimer.unref()
  void runReconcile()

  const adminOperations = new Map<string, Operation>([[describeReplication.name, describeReplication]])
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
  const server = createApiServer({
    kms,
    logger: config.logger,
    adminOperations,
    principals: principals.directory,
    ...(config.routeTo !== undefined ? { routeTo: config.routeTo } : {}),
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    rsk,
    server,
    kms,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
      principals.close()
      clearInterval(reconcileTimer)
      await reconciling
      await sender?.stop()
      await background.stop()
      await kms.close()
    },
  }
}
