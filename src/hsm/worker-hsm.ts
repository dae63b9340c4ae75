/**
 * The region's side of the HSM boundary: an Hsm whose every call is a message to the
 * HSM worker thread.
 *
 * @module
 */
import { Worker } from 'node:worker_threads'
import type { KeySpec } from '../wire/key-specs.js'
import {
  HsmError,
  type Hsm,
  type HsmErrorCode,
  type KeyOperationName,
  type KeyOperations,
  type KeyToken,
  type MaterialForTransfer,
  type MaterialRef,
  type RskPublicKey,
  type SealedAgreement,
  type TransferBinding,
  type WrappedMaterial,
} from './hsm.js'
import type { HsmRequest, HsmRequestBody, HsmResponse, HsmWorkerConfig } from './worker-protocol.js'

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

export class WorkerHsm implements Hsm {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #closed = false

  private constructor(worker: Worker) {
    this.#worker = worker
    worker.on('message', (batch: HsmResponse[]) => {
      for (const message of batch) this.#settle(message)
    })
    worker.on('error', (err) => this.#failAll(err))
    worker.on('exit', () => this.#failAll(new Error('hsm worker exited')))
  }

  /** Starts the worker and waits until it has unsealed the domain key. */
  static async start(config: HsmWorkerConfig): Promise<WorkerHsm> {
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
    return new WorkerHsm(worker)
  }

  createKeyMaterial(keyId: string, materialVersion: number, keySpec: KeySpec): Promise<KeyToken> {
    return this.#call({ op: 'createKeyMaterial', keyId, materialVersion, keySpec })
  }

  keyOperation<N extends KeyOperationName>(name: N, request: KeyOperations[N]['request']): Promise<KeyOperations[N]['result']> {
    return this.#call({ op: 'keyOperation', name, request })
  }

  encrypt(key: MaterialRef, plaintext: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return this.#call({ op: 'encrypt', key, plaintext, context })
  }

  decrypt(key: MaterialRef, blob: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return this.#call({ op: 'decrypt', key, blob, context })
  }

  generateDataKey(
    key: MaterialRef,
    numberOfBytes: number,
    context: Uint8Array,
    includePlaintext: boolean,
  ): Promise<{ ciphertextBlob: Uint8Array; plaintext?: Uint8Array }> {
    return this.#call({ op: 'generateDataKey', key, numberOfBytes, context, includePlaintext })
  }

  reEncrypt(
    source: MaterialRef,
    blob: Uint8Array,
    sourceContext: Uint8Array,
    destination: MaterialRef,
    destinationContext: Uint8Array,
  ): Promise<Uint8Array> {
    return this.#call({ op: 'reEncrypt', source, blob, sourceContext, destination, destinationContext })
  }

  generateRandom(numberOfBytes: number): Promise<Uint8Array> {
    return this.#call({ op: 'generateRandom', numberOfBytes })
  }

  replicationSigningKeys(): Promise<RskPublicKey[]> {
    return this.#call({ op: 'replicationSigningKeys' })
  }

  signReplication(body: Uint8Array): Promise<{ keyId: string; signature: Uint8Array }> {
    return this.#call({ op: 'signReplication', body })
  }

  rotateReplicationSigningKey(): Promise<RskPublicKey> {
    return this.#call({ op: 'rotateReplicationSigningKey' })
  }

  openAgreement(sessionId: string, expiresAt: number): Promise<SealedAgreement> {
    return this.#call({ op: 'openAgreement', sessionId, expiresAt })
  }

  wrapForTransfer(
    binding: TransferBinding,
    rakbPublicKey: Uint8Array,
    materials: MaterialForTransfer[],
  ): Promise<{ rakaPublicKey: Uint8Array; wrapped: WrappedMaterial[] }> {
    return this.#call({ op: 'wrapForTransfer', binding, rakbPublicKey, materials })
  }

  unwrapTransfer(
    binding: TransferBinding,
    rakaPublicKey: Uint8Array,
    wrapped: WrappedMaterial[],
    alreadyHeld: MaterialRef[],
    keySpec: KeySpec,
    agreement: SealedAgreement,
  ): Promise<KeyToken[]> {
    return this.#call({ op: 'unwrapTransfer', binding, rakaPublicKey, wrapped, alreadyHeld, keySpec, agreement })
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#worker.terminate()
  }

  #call<T>(body: HsmRequestBody): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('hsm: closed'))
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      // Requests made in the same turn of the event loop cross to the worker as one
      // message: under load that divides the per-message cost (cloning, waking the other
      // thread) among many requests, at no cost in latency.
      this.#outgoing.push({ ...body, id } as HsmRequest)
      if (this.#outgoing.length === 1) setImmediate(this.#flush)
    })
  }

  readonly #outgoing: HsmRequest[] = []
  readonly #flush = (): void => {
    this.#worker.postMessage(this.#outgoing.splice(0))
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
