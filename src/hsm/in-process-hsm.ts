/**
 * An Hsm that runs the software HSM in the caller's own thread. For unit tests only:
 * it gives up the separate heap that is the point of the boundary, in exchange for
 * speed and determinism. Regions always use WorkerHsm.
 *
 * @module
 */
import { createSecretKey, randomBytes } from 'node:crypto'
import type { Hsm, KeyToken, MaterialRef } from './hsm.js'
import { SoftHsm } from './soft/soft-hsm.js'

export class InProcessHsmForTests implements Hsm {
  readonly #soft: SoftHsm

  constructor(domainKey = createSecretKey(randomBytes(32)), domainKeyId = 1) {
    this.#soft = new SoftHsm({ id: domainKeyId, key: domainKey })
  }

  createKeyMaterial(keyId: string, materialVersion: number): Promise<KeyToken> {
    return this.#run(() => this.#soft.createKeyMaterial(keyId, materialVersion))
  }
  encrypt(key: MaterialRef, plaintext: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return this.#run(() => this.#soft.encrypt(key, plaintext, context))
  }
  decrypt(key: MaterialRef, blob: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return this.#run(() => this.#soft.decrypt(key, blob, context))
  }
  generateDataKey(
    key: MaterialRef,
    numberOfBytes: number,
    context: Uint8Array,
    includePlaintext: boolean,
  ): Promise<{ ciphertextBlob: Uint8Array; plaintext?: Uint8Array }> {
    return this.#run(() => this.#soft.generateDataKey(key, numberOfBytes, context, includePlaintext))
  }
  reEncrypt(source: MaterialRef, blob: Uint8Array, sourceContext: Uint8Array, destination: MaterialRef, destinationContext: Uint8Array): Promise<Uint8Array> {
    return this.#run(() => this.#soft.reEncrypt(source, blob, sourceContext, destination, destinationContext))
  }
  generateRandom(numberOfBytes: number): Promise<Uint8Array> {
    return this.#run(() => this.#soft.generateRandom(numberOfBytes))
  }
  close(): Promise<void> {
    return Promise.resolve()
  }

  #run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work())
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error('hsm failure'))
    }
  }
}
