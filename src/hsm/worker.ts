/**
 * Entry point of the HSM worker thread: the HSM boundary of one region.
 *
 * The worker has its own V8 heap. It reads the master key and the sealed domain key
 * itself, so neither ever enters the region's main heap, and it answers only the
 * narrow request set of the Hsm port (see hsm.ts). Message shapes: worker-protocol.ts.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { HsmError, dispatchHsmCall, isHsmCall, type HsmImplementation } from './hsm.js'
import { SoftHsm } from './soft/soft-hsm.js'
import { loadMasterKey, loadOrCreateDomainKey } from './soft/domain-key.js'
import { ReplicationSigningKeys } from './soft/replication-keys.js'
import type { HsmRequest, HsmResponse, HsmWorkerConfig } from './worker-protocol.js'
import { exactBytes } from './internal/exact-bytes.js'

const port = parentPort
if (port === null) throw new Error('hsm/worker.ts must run as a worker thread')

function errorOf(err: unknown): { code: string; message: string } {
  if (err instanceof HsmError) return { code: err.code, message: err.message }
  // Argument errors come from the a* checks and carry only labels, never values.
  if (err instanceof TypeError || err instanceof RangeError) return { code: 'BAD_REQUEST', message: err.message }
  return { code: 'BAD_REQUEST', message: 'hsm: unexpected failure' }
}

function start(config: HsmWorkerConfig): SoftHsm {
  const envKey = process.env[config.masterKeyEnv]
  const masterKey = loadMasterKey(
    envKey !== undefined && envKey !== '' ? { base64: envKey } : { file: config.masterKeyFile, create: config.createMasterKey },
  )
  const domainKey = loadOrCreateDomainKey(masterKey, config.sealedDomainKeyFile, config.region)
  if (typeof config.keyDir !== 'string' || config.keyDir === '') throw new Error('hsm: keyDir is not configured')
  // The RSKs are sealed under the domain key, so they load only once it is unsealed.
  const signingKeys = ReplicationSigningKeys.loadOrCreate({ keyDir: config.keyDir, domainKey, region: config.region })
  return new SoftHsm(domainKey, signingKeys)
}

let hsm: HsmImplementation
try {
  hsm = start(workerData as HsmWorkerConfig)
  port.postMessage({ ready: true })
} catch (err) {
  port.postMessage({ ready: false, message: err instanceof Error ? err.message : 'hsm: cannot start' })
  process.exit(1)
}

type Result = Extract<HsmResponse, { ok: true }>['result']

function handle(request: HsmRequest): Result | Promise<Result> {
  // Only the port's own calls: a message naming anything else is refused, not looked up.
  if (!isHsmCall(request.op) || !Array.isArray(request.args)) throw new HsmError('BAD_REQUEST', 'hsm: unknown call')
  return dispatchHsmCall(hsm, request.op, request.args) as Result | Promise<Result>
}

function answer(request: HsmRequest): HsmResponse | Promise<HsmResponse> {
  try {
    const result = handle(request)
    if (result instanceof Promise) {
      return result.then(
        (value): HsmResponse => ({ id: request.id, ok: true, result: exactBytes(value) }),
        (err: unknown): HsmResponse => ({ id: request.id, ok: false, error: errorOf(err) }),
      )
    }
    // Only the result's own bytes leave the HSM thread (internal/exact-bytes.ts).
    return { id: request.id, ok: true, result: exactBytes(result) }
  } catch (err) {
    return { id: request.id, ok: false, error: errorOf(err) }
  }
}

// Requests come in batches (see worker-hsm.ts): one message each way per batch, because the
// cost of crossing threads is per message, not per byte.
// Work that finishes later (key pair generation, on libuv's thread pool) is answered on its
// own when done, so a slow RSA key never holds up the requests batched with it.
port.on('message', (batch: HsmRequest[]) => {
  const now: HsmResponse[] = []
  for (const request of batch) {
    const response = answer(request)
    if (response instanceof Promise) void response.then((later) => port.postMessage([later]))
    else now.push(response)
  }
  if (now.length > 0) port.postMessage(now)
})
