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
import { decodeBatch, encodeBatch, type EncodedBatch } from './internal/batch-codec.js'

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

/**
 * Calls whose result the region uses for one request and then drops: their results share
 * one buffer per batch (internal/batch-codec.ts). Every other result (a key's token, which
 * the region keeps) crosses in a buffer of its own, so it never keeps another request's
 * plaintext alive.
 */
const SHARED_BUFFER_RESULTS: ReadonlySet<string> = new Set(['encrypt', 'decrypt', 'generateDataKey', 'reEncrypt', 'generateRandom'])

function answer(request: HsmRequest): HsmResponse | Promise<HsmResponse> {
  try {
    const result = handle(request)
    if (result instanceof Promise) {
      return result.then(
        (value): HsmResponse => ({ id: request.id, ok: true, result: value }),
        (err: unknown): HsmResponse => ({ id: request.id, ok: false, error: errorOf(err) }),
      )
    }
    return { id: request.id, ok: true, result }
  } catch (err) {
    return { id: request.id, ok: false, error: errorOf(err) }
  }
}

/** Only the results' own bytes leave the HSM thread: copied into buffers made for them. */
const post = (responses: readonly HsmResponse[], ownBuffer: (response: unknown) => boolean): void => {
  const { message, transfer } = encodeBatch(responses, ownBuffer)
  port.postMessage(message, transfer)
}

// Requests come in batches (see worker-hsm.ts): one message each way per batch, because the
// cost of crossing threads is per message, not per byte.
// Work that finishes later (key pair generation, on libuv's thread pool) is answered on its
// own when done, so a slow RSA key never holds up the requests batched with it.
port.on('message', (message: EncodedBatch) => {
  const batch = decodeBatch<HsmRequest>(message)
  const now: HsmResponse[] = []
  const ownBuffer = new Set<HsmResponse>()
  for (const request of batch) {
    const response = answer(request)
    if (response instanceof Promise) {
      void response.then((later) => post([later], () => true))
      continue
    }
    now.push(response)
    if (!SHARED_BUFFER_RESULTS.has(request.op)) ownBuffer.add(response)
  }
  if (now.length > 0) post(now, (response) => ownBuffer.has(response as HsmResponse))
})
