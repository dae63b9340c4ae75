/**
 * A region in the test's own process: the real KMS, API server, SigV4 and validation,
 * with in-memory storage and the in-process HSM. For fast semantic tests; the interop
 * suites run against real partitions.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KMSClient } from '@aws-sdk/client-kms'
import { createApiServer } from '../../src/api/server.js'
import { inProcessHsmForTests } from '../../src/hsm/in-process-hsm.js'
import type { Hsm } from '../../src/hsm/hsm.js'
import { AdjustableClock } from '../../src/kms/clock.js'
import { Kms } from '../../src/kms/kms.js'
import { createLogger } from '../../src/log/logger.js'
import { MemoryStorage } from '../../src/storage/memory-storage.js'
import type { Storage } from '../../src/storage/storage.js'
import { StaticPrincipalDirectory, rootIdentity, type Identity } from '../../src/kms/principals.js'

export const TEST_CREDENTIALS = { accessKeyId: 'AKIDTRENTTEST0000001', secretAccessKey: 'trent-test-secret-access-key-000000000000' }

export interface InProcessRegion {
  region: string
  endpoint: string
  kms: Kms
  clock: AdjustableClock
  /** The region's API server, for tests that watch requests arrive. */
  server: Server
  client(): KMSClient
  /** A client signing with another identity's credentials (see `identities`). */
  clientAs(credentials: { accessKeyId: string; secretAccessKey: string }): KMSClient
  /** The principals the region knows: root, and `identities`; replace them to test a change. */
  principals: StaticPrincipalDirectory
  close(): Promise<void>
}

export async function startInProcessRegion(
  options: { region?: string; storage?: Storage; accountId?: string; hsm?: Hsm; identities?: Identity[]; port?: number } = {},
): Promise<InProcessRegion> {
  const region = options.region ?? 'us-east-1'
  const clock = new AdjustableClock()
  const kms = await Kms.open(
    { region, accountId: options.accountId ?? '111122223333', clock },
    options.hsm ?? inProcessHsmForTests(),
    options.storage ?? new MemoryStorage(),
  )
  const principals = new StaticPrincipalDirectory([
    rootIdentity(kms.partition, kms.accountId, TEST_CREDENTIALS),
    ...(options.identities ?? []),
  ])
  const server = createApiServer({ kms, logger: createLogger({ region }, 'error'), principals })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const clients: KMSClient[] = []
  return {
    region,
    endpoint,
    kms,
    clock,
    server,
    principals,
    client() {
      const client = new KMSClient({ region, endpoint, credentials: TEST_CREDENTIALS, maxAttempts: 1 })
      clients.push(client)
      return client
    },
    clientAs(credentials) {
      const client = new KMSClient({ region, endpoint, credentials, maxAttempts: 1 })
      clients.push(client)
      return client
    },
    async close() {
      for (const c of clients) c.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await kms.close()
    },
  }
}
