/**
 * An Hsm that runs the software HSM in the caller's own thread. For unit tests only:
 * it gives up the separate heap that is the point of the boundary, in exchange for
 * speed and determinism. Regions always use WorkerHsm.
 *
 * @module
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import type { KeySpec } from '../wire/key-specs.js'
import type { Hsm, KeyOperationName, KeyOperations, KeyToken, MaterialForTransfer, MaterialRef, RskPublicKey, SealedAgreement, TransferBinding, WrappedMaterial } from './hsm.js'
import { SoftHsm } from './soft/soft-hsm.js'
import { ReplicationSigningKeys } from './soft/replication-keys.js'

export interface InProcessHsmOptions {
  /** The first Replication Signing Key (a P-384 private key); a fresh one if absent. Never written anywhere. */
  rskPrivateKey?: KeyObject
  /** The HSM's clock (epoch ms), e.g. to expire agreements in a test. */
  now?: () => number
}

export class InProcessHsmForTests implements Hsm {
  readonly #soft: SoftHsm

  constructor(domainKey = createSecretKey(randomBytes(32)), domainKeyId = 1, options: InProcessHsmOptions = {}) {
    const now = options.now ?? Date.now
    const signingKeys = ReplicationSigningKeys.inMemory(
      options.rskPrivateKey === undefined ? { now } : { privateKey: options.rskPrivateKey, now },
    )
    this.#soft = new SoftHsm({ id: domainKeyId, key: domainKey }, signingKeys, { now })
  }

  createKeyMaterial(keyId: string, materialVersion: number, keySpec: KeySpec): Promise<KeyToken> {
    return this.#run(() => this.#soft.createKeyMaterial(keyId, materialVersion, keySpec))
  }
  keyOperation<N extends KeyOperationName>(name: N, request: KeyOperations[N]['request']): Promise<KeyOperations[N]['result']> {
    return this.#run(() => this.#soft.keyOperation(name, request))
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
  replicationSigningKeys(): Promise<RskPublicKey[]> {
    return this.#run(() => this.#soft.replicationSigningKeys())
  }
  signReplication(body: Uint8Array): Promise<{ keyId: string; signature: Uint8Array }> {
    return this.#run(() => this.#soft.signReplication(body))
  }
  rotateReplicationSigningKey(): Promise<RskPublicKey> {
    return this.#run(() => this.#soft.rotateReplicationSigningKey())
  }
  openAgreement(sessionId: string, expiresAt: number): Promise<SealedAgreement> {
    return this.#run(() => this.#soft.openAgreement(sessionId, expiresAt))
  }
  wrapForTransfer(
    binding: TransferBinding,
    rakbPublicKey: Uint8Array,
    materials: MaterialForTransfer[],
  ): Promise<{ rakaPublicKey: Uint8Array; wrapped: WrappedMaterial[] }> {
    return this.#run(() => this.#soft.wrapForTransfer(binding, rakbPublicKey, materials))
  }
  unwrapTransfer(
    binding: TransferBinding,
    rakaPublicKey: Uint8Array,
    wrapped: WrappedMaterial[],
    alreadyHeld: MaterialRef[],
    keySpec: KeySpec,
    agreement: SealedAgreement,
  ): Promise<KeyToken[]> {
    return this.#run(() => this.#soft.unwrapTransfer(binding, rakaPublicKey, wrapped, alreadyHeld, keySpec, agreement))
  }
  close(): Promise<void> {
    return Promise.resolve()
  }

  #run<T>(work: () => T | Promise<T>): Promise<T> {
    try {
      return Promise.resolve(work())
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error('hsm failure'))
    }
  }
}
