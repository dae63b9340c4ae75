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

export interface RegionConfig {
  region: string
  accountId: string
  /** This region's own folder: database, sealed domain key, master key file. */
  dataDir: string
  host: string
  /** 0 picks a free port. */
  port: number
  credentials: { accessKeyId: string; secretAccessKey: string }
  /** Where the master key lives when TRENT_MASTER_KEY is not set; created if absent. */
  masterKeyFile?: string
  /** Enables TrentAdmin.AdvanceClock: for tests only. */
  allowTestHooks: boolean
  backgroundIntervalMs: number
  logger: Logger
}

export interface RunningRegion {
  port: number
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
  })
  const storage = new SqliteStorage(join(config.dataDir, 'trent.db'))
  const clock = new AdjustableClock()
  const kms = await Kms.open({ region: config.region, accountId: config.accountId, clock }, hsm, storage)
  const background = startBackgroundWork(kms, config.logger, config.backgroundIntervalMs)

  const adminOperations = new Map<string, Operation>()
  if (config.allowTestHooks) {
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

  const server = createApiServer({
    kms,
    logger: config.logger,
    adminOperations,
    lookupSecret: (id) => (id === config.credentials.accessKeyId ? config.credentials.secretAccessKey : undefined),
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
    server,
    kms,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
      await background.stop()
      await kms.close()
    },
  }
}
