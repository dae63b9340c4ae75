/**
 * An Hsm that runs the software HSM in the caller's own thread. For unit tests only:
 * it gives up the separate heap that is the point of the boundary, in exchange for
 * speed and determinism. Regions always use the worker (worker-hsm.ts). It answers the
 * same table of calls (hsm.ts HsmCalls), with the same errors, asynchronously.
 *
 * @module
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import { dispatchHsmCall, hsmOver, type Hsm, type HsmImplementation } from './hsm.js'
import { SoftHsm } from './soft/soft-hsm.js'
import { ReplicationSigningKeys } from './soft/replication-keys.js'

export interface InProcessHsmOptions {
  rskPrivateKey?: KeyObject
  now?: () => number
}

export function inProcessHsmForTests(
  domainKey = createSecretKey(randomBytes(32)),
  domainKeyId = 1,
  options: InProcessHsmOptions = {},
): Hsm {
  const now = options.now ?? Date.now
  const signingKeys = ReplicationSigningKeys.inMemory(
    options.rskPrivateKey === undefined ? { now } : { privateKey: options.rskPrivateKey, now },
  )
  const soft: HsmImplementation = new SoftHsm({ id: domainKeyId, key: domainKey }, signingKeys, { now })
  return hsmOver(
    (name, args) => {
      try {
        return Promise.resolve(dispatchHsmCall(soft, name, args))
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error('hsm failure'))
      }
    },
    () => Promise.resolve(),
  )
}
