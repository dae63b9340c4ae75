/**
 * The region's side of the HSM boundary: an Hsm whose every call is a message to the
 * HSM worker thread. The calls are the port's table (hsm.ts HsmCalls), sent by name.
 *
 * @module
 */
import { Worker } from 'node:worker_threads'
import { HsmError, hsmOver, type Hsm, type HsmCallName, type HsmErrorCode } from './hsm.js'
import type { HsmRequest, HsmResponse, HsmWorkerConfig } from './worker-protocol.js'
import { decodeBatch, encodeBatch, type EncodedBatch } from './internal/batch-codec.js'

const KNOWN_CODES: ReadonlySet<string> = new Set<HsmErrorCode>([
  'DECRYPT_FAILED',
  'TOKEN_REJECTED',
  'BAD_REQUEST',
  'TRANSFER_FAILED',
  'IMPORT_TOKEN_INVALID',
  'IMPORT_TOKEN_EXPIRED',
  'INCORRECT_MATERIAL',
  'INVALID_PUBLIC_KEY',
  'PLAINTEXT_TOO_LONG',
])

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
}

/** The worker thread and the calls waiting for its answers. */
class WorkerChannel {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #closed = false

  constructor(worker: Worker) {
    this.#worker = worker
    worker.on('message', (message: EncodedBatch) => {
      for (const response of decodeBatch<HsmResponse>(message)) this.#settle(response)
    })
    worker.on('error', (err) => this.#failAll(err))
    worker.on('exit', () => this.#failAll(new Error('hsm worker exited')))
  }

  call(op: HsmCallName, args: readonly unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('hsm: closed'))
    const id = this.#nextId++
    return new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      // Requests made in the same turn of the event loop cross to the worker as one
      // message: under load that divides the per-message cost (cloning, waking the other
      // thread) among many requests, at no cost in latency.
      // `args` are the call's own arguments, as the port's table gives them (hsmOver).
      this.#outgoing.push({ id, op, args } as HsmRequest)
      if (this.#outgoing.length === 1) setImmediate(this.#flush)
    })
  }

  /** Calls waiting for the worker's answer (WorkerHsm.inFlight). */
  get inFlight(): number {
    return this.#pending.size
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#worker.terminate()
  }

  readonly #outgoing: HsmRequest[] = []
  readonly #flush = (): void => {
    // As JSON, with the batch's bytes, and only they, moved in one buffer (internal/batch-codec.ts).
    const { message, transfer } = encodeBatch(this.#outgoing.splice(0))
    this.#worker.postMessage(message, transfer)
  }

  #settle(message: HsmResponse): void {
    const pending = this.#pending.get(message.id)
    if (pending === undefined) return
    this.#pending.delete(message.id)
    if (message.ok) {
      pending.resolve(message.result)
    } else {
      const code = KNOWN_CODES.has(message.error.code) ? (message.error.code as HsmErrorCode) : 'BAD_REQUEST'
      pending.reject(new HsmError(code, message.error.message))
    }
  }

  #failAll(err: Error): void {
    for (const pending of this.#pending.values()) pending.reject(err)
    this.#pending.clear()
  }
}

/** The worker's Hsm, and what the region's metrics read of it. */
export interface WorkerHsm extends Hsm {
  /** Calls sent (or about to be sent) to the worker thread and not answered yet: its queue depth. */
  inFlight(): number
}

/** Starts the region's HSM worker thread; resolves once it has unsealed its keys. */
export async function startWorkerHsm(config: HsmWorkerConfig): Promise<WorkerHsm> {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: config })
  await new Promise<void>((resolve, reject) => {
    const onMessage = (message: { ready?: boolean; message?: string }): void => {
      worker.off('error', onError)
      if (message.ready === true) resolve()
      else reject(new Error(message.message ?? 'hsm: failed to start'))
    }
    const onError = (err: Error): void => reject(err)
    worker.once('message', onMessage)
    worker.once('error', onError)
  })
  const channel = new WorkerChannel(worker)
  const hsm = hsmOver(
    (op, args) => channel.call(op, args),
    () => channel.close(),
  )
  return { ...hsm, inFlight: () => channel.inFlight }
}
