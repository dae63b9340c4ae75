/**
 * A region's real HSM worker thread for a test, with a master key and a sealed domain key
 * of its own in `dir` (created on first use).
 */
import { join } from 'node:path'
import { startWorkerHsm, type WorkerHsm } from '../../src/hsm/worker-hsm.js'

export function startTestWorkerHsm(dir: string, region = 'us-east-1'): Promise<WorkerHsm> {
  return startWorkerHsm({
    region,
    // Never set: the master key comes from the file, made on first use.
    masterKeyEnv: 'TRENT_TEST_UNSET_MASTER_KEY',
    masterKeyFile: join(dir, 'master.key'),
    createMasterKey: true,
    sealedDomainKeyFile: join(dir, 'domain-key.sealed'),
    keyDir: dir,
  })
}
