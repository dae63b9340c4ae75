/**
 * The software HSM: the implementation of the Hsm port that runs inside the HSM worker.
 * Everything in this file is on the secret side of the boundary.
 *
 * @module
 */
import { createCipheriv, createDecipheriv } from 'node:crypto'
import {
  HEADER_LENGTH,
  IV_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  encodeCiphertextHeader,
  kdfContextOf,
  parseCiphertextHeaderUnauthenticated,
} from '../../wire/ciphertext-blob.js'
import {
  HsmError,
  type KeyOperationName,
  type KeyOperations,
  type KeyToken,
  type MaterialForTransfer,
  type MaterialRef,
  type RskPublicKey,
  type SealedAgreement,
  type TransferBinding,
  type WrappedMaterial,
} from '../hsm.js'
import { abytes, anumber, astring, clean, equalBytes } from '../internal/bytes.js'
import { kbkdfCounterHmacSha256 } from '../internal/kbkdf.js'
import { HmacSha256Key } from '../internal/hmac-sha256-key.js'
import { freshRandomBytes } from '../internal/entropy.js'
import {
  isAsymmetric,
  isHmac,
  maxRsaOaepPlaintextBytes,
  type AsymmetricKeySpec,
  type HmacKeySpec,
  type KeySpec,
} from '../../wire/key-specs.js'
import { openKeyToken, sealKeyToken } from './key-token.js'
import {
  decapsulate,
  deriveSharedSecret,
  encapsulate,
  generateDataKeyPairAsync,
  generateKeyMaterialAsync,
  generateMac,
  isValidKeyMaterial,
  isValidKeyMaterialAsync,
  publicKeyOf,
  rsaDecrypt,
  rsaEncrypt,
  sign,
  verify,
  verifyMac,
} from './key-specs.js'
import { generateWrappingKeyPair, importedMaterialId, openImportToken, sealImportToken, unwrapImportedMaterial } from './import-crypto.js'
import type { DomainKey } from './domain-key.js'
import {
  deriveRwk,
  ecdhSharedSecret,
  isSessionId,
  pointOfPublicKey,
  transferProblem,
  unwrapMaterials,
  wrapMaterials,
  type PlainMaterial,
} from './replication-crypto.js'
import { generateP384KeyPair, openAgreementKey, openSealedAgreement, type ReplicationSigningKeys } from './replication-keys.js'

/** SP 800-108 label for per-ciphertext keys (docs/spec/ciphertext-blob.md §3). */
const CIPHERTEXT_KDF_LABEL = Buffer.from('trent/ciphertext/v1', 'utf8')
/** Unwrapped key material kept for reuse; bounded so a flood of keys cannot grow it. */
const MATERIAL_CACHE_LIMIT = 10_000
/** The largest replication body an RSK signs: a whole envelope is at most 1 MiB (docs/spec/replication.md §5.1). */
const MAX_SIGNED_BODY_BYTES = 1024 * 1024

export interface SoftHsmOptions {
  /** The HSM's clock, epoch ms: judges agreement expiry. */
  now?: () => number
}

/** The same for work that finishes later. */
async function asyncArgumentErrorsAsBadRequest<T>(work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) throw new HsmError('BAD_REQUEST', err.message)
    throw err
  }
}

/** Runs `work`, reporting an argument check's TypeError or RangeError as BAD_REQUEST. */
function argumentErrorsAsBadRequest<T>(work: () => T): T {
  try {
    return work()
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) throw new HsmError('BAD_REQUEST', err.message)
    throw err
  }
}

function aobject(value: unknown, label: string): void {
  if (typeof value !== 'object' || value === null) throw new TypeError(`${label}: expected an object`)
}

function aarray(value: unknown, label: string): asserts value is unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`${label}: expected an array`)
}

function atypeofNumber(value: unknown, label: string): void {
  if (typeof value !== 'number') throw new TypeError(`${label}: expected a number`)
}

/** Shape checks only (programming errors); what the values mean is transferProblem's job. */
function aTransferBinding(binding: TransferBinding): void {
  aobject(binding, 'binding')
  astring(binding.sessionId, 'binding.sessionId')
  astring(binding.partition, 'binding.partition')
  astring(binding.sourceRegion, 'binding.sourceRegion')
  astring(binding.destinationRegion, 'binding.destinationRegion')
  astring(binding.keyId, 'binding.keyId')
}

function aMaterialRefs(refs: MaterialRef[], label: string): void {
  aarray(refs, label)
  for (const [index, ref] of refs.entries()) {
    aobject(ref, `${label}[${index}]`)
    astring(ref.keyId, `${label}[${index}].keyId`)
    anumber(ref.materialVersion, `${label}[${index}].materialVersion`, 1, 0xffffffff)
    abytes(ref.token, `${label}[${index}].token`)
  }
}

function aWrappedMaterials(wrapped: WrappedMaterial[]): void {
  aarray(wrapped, 'wrapped')
  for (const [index, entry] of wrapped.entries()) {
    aobject(entry, `wrapped[${index}]`)
    atypeofNumber(entry.materialVersion, `wrapped[${index}].materialVersion`)
    astring(entry.materialId, `wrapped[${index}].materialId`)
    abytes(entry.wrapped, `wrapped[${index}].wrapped`)
  }
}

function aSealedAgreement(agreement: SealedAgreement): void {
  if (typeof agreement !== 'object' || agreement === null) throw new TypeError('agreement: expected an object')
  abytes(agreement.publicKey, 'agreement.publicKey')
  abytes(agreement.sealed, 'agreement.sealed')
  anumber(agreement.expiresAt, 'agreement.expiresAt', 0, Number.MAX_SAFE_INTEGER)
}

function aKeySpec(spec: unknown): asserts spec is KeySpec {
  if (typeof spec !== 'string' || !(spec === 'SYMMETRIC_DEFAULT' || isAsymmetric(spec as KeySpec) || isHmac(spec as KeySpec))) {
    throw new TypeError('keySpec: expected a key spec')
  }
}

function aMaterialRef(ref: MaterialRef): void {
  aobject(ref, 'key')
  astring(ref.keyId, 'keyId')
  anumber(ref.materialVersion, 'materialVersion', 1, 0xffffffff)
  aKeySpec(ref.keySpec)
  abytes(ref.token, 'token')
}

function asymmetricSpec(spec: KeySpec): AsymmetricKeySpec {
  if (!isAsymmetric(spec)) throw new RangeError('key: expected an asymmetric key')
  return spec
}

function hmacSpec(spec: KeySpec): HmacKeySpec {
  if (!isHmac(spec)) throw new RangeError('key: expected an HMAC key')
  return spec
}

/**
 * A token as a cache key: base64 of a view, not of a copy (Buffer.from(token) would take
 * its length of Node's pool on every call, and a fresh 8 KiB pool every few dozen).
 */
function tokenText(token: Uint8Array): string {
  return Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('base64')
}

/** Adds to a bounded cache, evicting the oldest entry: a flood of keys cannot grow it. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= MATERIAL_CACHE_LIMIT) {
    const oldest = cache.keys().next()
    if (oldest.done !== true) {
      const evicted = cache.get(oldest.value)
      if (evicted instanceof Uint8Array) clean(evicted)
      else if (evicted instanceof HmacSha256Key) evicted.destroy()
      cache.delete(oldest.value)
    }
  }
  cache.set(key, value)
}

export class SoftHsm {
  readonly #domainKey: DomainKey
  /**
   * Token (base64) → symmetric key material, as the HMAC pads its only use needs (the
   * KBKDF of every ciphertext: internal/hmac-sha256-key.ts), zeroed when evicted. Like
   * #rawMaterials, they live on this thread's heap, inside the boundary.
   */
  readonly #materials = new Map<string, HmacSha256Key>()
  readonly #signingKeys: ReplicationSigningKeys
  readonly #now: () => number
  /** Asymmetric and HMAC material opened from tokens, bounded like #materials. */
  readonly #rawMaterials = new Map<string, Buffer>()

  constructor(domainKey: DomainKey, signingKeys: ReplicationSigningKeys, options: SoftHsmOptions = {}) {
    this.#domainKey = domainKey
    this.#signingKeys = signingKeys
    this.#now = options.now ?? Date.now
  }

  /** Asynchronous because RSA and EC key pairs are made off this thread (an RSA 4096 one takes about a second). */
  async createKeyMaterial(keyId: string, materialVersion: number, keySpec: KeySpec): Promise<KeyToken> {
    argumentErrorsAsBadRequest(() => {
      astring(keyId, 'keyId')
      anumber(materialVersion, 'materialVersion', 1, 0xffffffff)
      aKeySpec(keySpec)
    })
    const material = await generateKeyMaterialAsync(keySpec)
    try {
      return sealKeyToken(this.#domainKey.key, this.#domainKey.id, { keyId, materialVersion, keySpec }, material)
    } finally {
      clean(material)
    }
  }

  keyOperation<N extends KeyOperationName>(
    name: N,
    request: KeyOperations[N]['request'],
  ): KeyOperations[N]['result'] | Promise<KeyOperations[N]['result']> {
    return argumentErrorsAsBadRequest(() => {
      aobject(request, 'request')
      return this.#keyOperation(name, request) as KeyOperations[N]['result'] | Promise<KeyOperations[N]['result']>
    })
  }

  #keyOperation(
    name: KeyOperationName,
    request: KeyOperations[KeyOperationName]['request'],
  ): KeyOperations[KeyOperationName]['result'] | Promise<KeyOperations[KeyOperationName]['result']> {
    switch (name) {
      case 'getPublicKey': {
        const { key } = request as KeyOperations['getPublicKey']['request']
        return publicKeyOf(asymmetricSpec(key.keySpec), this.#rawMaterial(key))
      }
      case 'sign': {
        const r = request as KeyOperations['sign']['request']
        abytes(r.message, 'message')
        return sign(asymmetricSpec(r.key.keySpec), this.#rawMaterial(r.key), r.algorithm, r.messageType, r.message)
      }
      case 'verify': {
        const r = request as KeyOperations['verify']['request']
        abytes(r.message, 'message')
        abytes(r.signature, 'signature')
        return verify(asymmetricSpec(r.key.keySpec), this.#rawMaterial(r.key), r.algorithm, r.messageType, r.message, r.signature)
      }
      case 'asymmetricEncrypt': {
        const r = request as KeyOperations['asymmetricEncrypt']['request']
        abytes(r.plaintext, 'plaintext')
        return rsaEncrypt(asymmetricSpec(r.key.keySpec), this.#rawMaterial(r.key), r.algorithm, r.plaintext)
      }
      case 'asymmetricDecrypt': {
        const r = request as KeyOperations['asymmetricDecrypt']['request']
        abytes(r.ciphertext, 'ciphertext')
        const plaintext = rsaDecrypt(asymmetricSpec(r.key.keySpec), this.#rawMaterial(r.key), r.algorithm, r.ciphertext)
        if (plaintext === undefined) throw new HsmError('DECRYPT_FAILED')
        return plaintext
      }
      case 'deriveSharedSecret': {
        const r = request as KeyOperations['deriveSharedSecret']['request']
        abytes(r.peerPublicKey, 'peerPublicKey')
        const secret = deriveSharedSecret(asymmetricSpec(r.key.keySpec), this.#rawMaterial(r.key), r.peerPublicKey)
        if (secret === undefined) throw new HsmError('INVALID_PUBLIC_KEY')
        return secret
      }
      case 'encapsulate': {
        const { key } = request as KeyOperations['encapsulate']['request']
        return encapsulate(asymmetricSpec(key.keySpec), this.#rawMaterial(key))
      }
      case 'decapsulate': {
        const r = request as KeyOperations['decapsulate']['request']
        abytes(r.ciphertext, 'ciphertext')
        const secret = decapsulate(asymmetricSpec(r.key.keySpec), this.#rawMaterial(r.key), r.ciphertext)
        if (secret === undefined) throw new HsmError('DECRYPT_FAILED')
        return secret
      }
      case 'generateMac': {
        const r = request as KeyOperations['generateMac']['request']
        abytes(r.message, 'message')
        return generateMac(hmacSpec(r.key.keySpec), this.#rawMaterial(r.key), r.algorithm, r.message)
      }
      case 'verifyMac': {
        const r = request as KeyOperations['verifyMac']['request']
        abytes(r.message, 'message')
        abytes(r.mac, 'mac')
        return verifyMac(hmacSpec(r.key.keySpec), this.#rawMaterial(r.key), r.algorithm, r.message, r.mac)
      }
      // Key pair generation runs off this thread: the HSM keeps serving meanwhile.
      case 'generateDataKeyPair':
        return asyncArgumentErrorsAsBadRequest(this.#generateDataKeyPair(request as KeyOperations['generateDataKeyPair']['request']))
      case 'createImportParameters':
        return asyncArgumentErrorsAsBadRequest(this.#createImportParameters(request as KeyOperations['createImportParameters']['request']))
      case 'importKeyMaterial':
        return asyncArgumentErrorsAsBadRequest(this.#importKeyMaterial(request as KeyOperations['importKeyMaterial']['request']))
      case 'reEncryptAny':
        return this.#reEncryptAny(request as KeyOperations['reEncryptAny']['request'])
    }
  }

  async #generateDataKeyPair(r: KeyOperations['generateDataKeyPair']['request']): Promise<KeyOperations['generateDataKeyPair']['result']> {
    abytes(r.encodedContext, 'encodedContext')
    const material = this.#material(r.key)
    const pair = await generateDataKeyPairAsync(r.keyPairSpec)
    const privateKeyCiphertextBlob = this.#seal(material, r.key, pair.privateKey, r.encodedContext)
    if (r.includePlaintext) return { privateKeyCiphertextBlob, privateKeyPlaintext: pair.privateKey, publicKey: pair.publicKey }
    clean(pair.privateKey)
    return { privateKeyCiphertextBlob, publicKey: pair.publicKey }
  }

  async #createImportParameters(
    r: KeyOperations['createImportParameters']['request'],
  ): Promise<KeyOperations['createImportParameters']['result']> {
    astring(r.keyId, 'keyId')
    aKeySpec(r.keySpec)
    anumber(r.expiresAt, 'expiresAt', 0, Number.MAX_SAFE_INTEGER)
    const pair = await generateWrappingKeyPair(r.wrappingKeySpec)
    try {
      const binding = { keyId: r.keyId, keySpec: r.keySpec }
      const header = { wrappingAlgorithm: r.wrappingAlgorithm, expiresAt: r.expiresAt }
      return {
        publicKey: pair.publicKey,
        importToken: sealImportToken(this.#domainKey.key, this.#domainKey.id, binding, header, pair.privateKey),
      }
    } finally {
      clean(pair.privateKey)
    }
  }

  #reEncryptAny(r: KeyOperations['reEncryptAny']['request']): Uint8Array {
    abytes(r.ciphertext, 'ciphertext')
    aobject(r.source, 'source')
    aobject(r.destination, 'destination')
    const plaintext = this.#decryptSide(r.source, r.ciphertext)
    try {
      const { key } = r.destination
      if (r.destination.algorithm === 'SYMMETRIC_DEFAULT') {
        abytes(r.destination.encodedContext, 'destination.encodedContext')
        return this.#seal(this.#material(key), key, plaintext, r.destination.encodedContext)
      }
      const spec = asymmetricSpec(key.keySpec)
      if (plaintext.length > maxRsaOaepPlaintextBytes(spec, r.destination.algorithm)) throw new HsmError('PLAINTEXT_TOO_LONG')
      return rsaEncrypt(spec, this.#rawMaterial(key), r.destination.algorithm, plaintext)
    } finally {
      clean(plaintext)
    }
  }

  #decryptSide(side: KeyOperations['reEncryptAny']['request']['source'], ciphertext: Uint8Array): Buffer {
    if (side.algorithm === 'SYMMETRIC_DEFAULT') {
      abytes(side.encodedContext, 'source.encodedContext')
      return this.#open(this.#material(side.key), side.key, ciphertext, side.encodedContext)
    }
    const plaintext = rsaDecrypt(asymmetricSpec(side.key.keySpec), this.#rawMaterial(side.key), side.algorithm, ciphertext)
    if (plaintext === undefined) throw new HsmError('DECRYPT_FAILED')
    return plaintext
  }

  async #importKeyMaterial(r: KeyOperations['importKeyMaterial']['request']): Promise<KeyOperations['importKeyMaterial']['result']> {
    astring(r.keyId, 'keyId')
    aKeySpec(r.keySpec)
    anumber(r.materialVersion, 'materialVersion', 1, 0xffffffff)
    abytes(r.importToken, 'importToken')
    abytes(r.encryptedKeyMaterial, 'encryptedKeyMaterial')
    const opened = openImportToken(this.#domainKey.key, { keyId: r.keyId, keySpec: r.keySpec }, r.importToken)
    if (opened === undefined) throw new HsmError('IMPORT_TOKEN_INVALID')
    try {
      anumber(r.now, 'now', 0, Number.MAX_SAFE_INTEGER)
      if (opened.header.expiresAt <= Math.max(this.#now(), r.now)) throw new HsmError('IMPORT_TOKEN_EXPIRED')
      const material = unwrapImportedMaterial(opened.privateKey, opened.header.wrappingAlgorithm, r.encryptedKeyMaterial)
      if (material === undefined) throw new HsmError('DECRYPT_FAILED')
      try {
        // Off this thread for RSA keys, whose primality tests are slow (see unwrapTransfer).
        if (!(await isValidKeyMaterialAsync(r.keySpec, material))) throw new HsmError('INCORRECT_MATERIAL')
        const token = sealKeyToken(
          this.#domainKey.key,
          this.#domainKey.id,
          { keyId: r.keyId, materialVersion: r.materialVersion, keySpec: r.keySpec },
          material,
        )
        return { token, materialId: importedMaterialId(r.keyId, material) }
      } finally {
        clean(material)
      }
    } finally {
      clean(opened.privateKey)
    }
  }

  encrypt(key: MaterialRef, plaintext: Uint8Array, encodedContext: Uint8Array): Uint8Array {
    abytes(plaintext, 'plaintext')
    abytes(encodedContext, 'encodedContext')
    return this.#seal(this.#material(key), key, plaintext, encodedContext)
  }

  decrypt(key: MaterialRef, blob: Uint8Array, encodedContext: Uint8Array): Uint8Array {
    abytes(blob, 'blob')
    abytes(encodedContext, 'encodedContext')
    return this.#open(this.#material(key), key, blob, encodedContext)
  }

  generateDataKey(
    key: MaterialRef,
    numberOfBytes: number,
    encodedContext: Uint8Array,
    includePlaintext: boolean,
  ): { ciphertextBlob: Uint8Array; plaintext?: Uint8Array } {
    anumber(numberOfBytes, 'numberOfBytes', 1, 1024)
    abytes(encodedContext, 'encodedContext')
    const material = this.#material(key)
    const dataKey = freshRandomBytes(numberOfBytes)
    const ciphertextBlob = this.#seal(material, key, dataKey, encodedContext)
    if (includePlaintext) return { ciphertextBlob, plaintext: dataKey }
    clean(dataKey)
    return { ciphertextBlob }
  }

  reEncrypt(
    source: MaterialRef,
    blob: Uint8Array,
    sourceContext: Uint8Array,
    destination: MaterialRef,
    destinationContext: Uint8Array,
  ): Uint8Array {
    const plaintext = this.#open(this.#material(source), source, blob, sourceContext)
    try {
      return this.#seal(this.#material(destination), destination, plaintext, destinationContext)
    } finally {
      clean(plaintext)
    }
  }

  generateRandom(numberOfBytes: number): Uint8Array {
    anumber(numberOfBytes, 'numberOfBytes', 1, 1024)
    return freshRandomBytes(numberOfBytes)
  }

  replicationSigningKeys(): RskPublicKey[] {
    return this.#signingKeys.list()
  }

  //= docs/spec/replication.md#acceptance
  signReplication(body: Uint8Array): { keyId: string; signature: Uint8Array } {
    return argumentErrorsAsBadRequest(() => {
      abytes(body, 'body')
      anumber(body.length, 'body.length', 0, MAX_SIGNED_BODY_BYTES)
      return this.#signingKeys.sign(body)
    })
  }

  rotateReplicationSigningKey(): RskPublicKey {
    return this.#signingKeys.rotate()
  }

  //= docs/spec/replication.md#ephemeral
  openAgreement(sessionId: string, expiresAt: number): SealedAgreement {
    return argumentErrorsAsBadRequest(() => {
      astring(sessionId, 'sessionId')
      if (!isSessionId(sessionId)) throw new RangeError('sessionId: expected 32 lower-case hex digits')
      anumber(expiresAt, 'expiresAt', 0, Number.MAX_SAFE_INTEGER)
      if (expiresAt < this.#now()) throw new HsmError('BAD_REQUEST', 'agreement: expiresAt is in the past')
      return openSealedAgreement(this.#domainKey, sessionId, expiresAt)
    })
  }

  //= docs/spec/replication.md#transfer
  // Source side: RAKA is generated, used and dropped inside this one call (§4.3).
  wrapForTransfer(
    binding: TransferBinding,
    rakbPublicKey: Uint8Array,
    materials: MaterialForTransfer[],
  ): { rakaPublicKey: Uint8Array; wrapped: WrappedMaterial[] } {
    return argumentErrorsAsBadRequest(() => {
      aTransferBinding(binding)
      abytes(rakbPublicKey, 'rakbPublicKey')
      aMaterialRefs(materials, 'materials')
      for (const [index, material] of materials.entries()) astring(material.materialId, `materials[${index}].materialId`)
      const problem = transferProblem(binding, materials)
      if (problem !== undefined) throw new HsmError('BAD_REQUEST', problem)
      if (materials.some((material) => material.keyId !== binding.keyId)) {
        throw new HsmError('BAD_REQUEST', 'materials: every version must belong to binding.keyId')
      }
      const plain: PlainMaterial[] = []
      try {
        // Every token opens before any ephemeral key exists: a bad one fails the call with nothing made.
        for (const material of materials) {
          const bytes = openKeyToken(this.#domainKey.key, material, material.token)
          if (bytes === undefined) throw new HsmError('TOKEN_REJECTED', 'key token does not open for its binding')
          plain.push({ materialVersion: material.materialVersion, materialId: material.materialId, material: bytes })
        }
        const raka = generateP384KeyPair()
        const rakaPublicKey = pointOfPublicKey(raka.publicKey)
        // A bad RAKB point is TRANSFER_FAILED, the agreement's one failure code.
        const sharedSecret = ecdhSharedSecret(raka.privateKey, rakbPublicKey)
        let rwk: Buffer
        try {
          const versions = materials.map((material) => material.materialVersion)
          rwk = deriveRwk(sharedSecret, binding, versions, rakaPublicKey, rakbPublicKey)
        } finally {
          clean(sharedSecret)
        }
        try {
          return { rakaPublicKey, wrapped: wrapMaterials(rwk, binding, plain) }
        } finally {
          clean(rwk)
        }
      } finally {
        clean(...plain.map((entry) => entry.material))
      }
    })
  }

  //= docs/spec/replication.md#transfer
  unwrapTransfer(
    binding: TransferBinding,
    rakaPublicKey: Uint8Array,
    wrapped: WrappedMaterial[],
    alreadyHeld: MaterialRef[],
    keySpec: KeySpec,
    sealedAgreement: SealedAgreement,
  ): KeyToken[] | Promise<KeyToken[]> {
    return argumentErrorsAsBadRequest(() => {
      aTransferBinding(binding)
      abytes(rakaPublicKey, 'rakaPublicKey')
      aWrappedMaterials(wrapped)
      aMaterialRefs(alreadyHeld, 'alreadyHeld')
      aKeySpec(keySpec)
      if (alreadyHeld.some((held) => held.keyId !== binding.keyId || held.keySpec !== keySpec)) {
        throw new HsmError('BAD_REQUEST', 'alreadyHeld: every version must belong to binding.keyId')
      }
      aSealedAgreement(sealedAgreement)
      //= docs/spec/replication.md#ephemeral
      // RAKB opens only for this session and only until it expires; its point is the one
      // sealed with it, never one taken from the message.
      const problem = transferProblem(binding, wrapped)
      if (problem !== undefined) throw new HsmError('TRANSFER_FAILED', problem)
      const rakb = openAgreementKey(this.#domainKey, binding.sessionId, sealedAgreement, this.#now())
      if (rakb === undefined)
        throw new HsmError('TRANSFER_FAILED', 'the agreement does not open for this session (expired, or not its own)')
      const sharedSecret = ecdhSharedSecret(rakb, rakaPublicKey)
      let rwk: Buffer
      try {
        const versions = wrapped.map((entry) => entry.materialVersion)
        rwk = deriveRwk(sharedSecret, binding, versions, rakaPublicKey, sealedAgreement.publicKey)
      } finally {
        clean(sharedSecret)
      }
      let materials: Buffer[]
      try {
        materials = unwrapMaterials(rwk, binding, wrapped)
      } finally {
        clean(rwk)
      }
      const seal = (valid: boolean): KeyToken[] => {
        try {
          if (!valid) throw new HsmError('TRANSFER_FAILED', 'unwrapped material is not valid material of the key spec')
          this.#checkSameAsHeld(wrapped, materials, alreadyHeld)
          return materials.map((material, index) => {
            const version = wrapped[index]?.materialVersion ?? 0
            return sealKeyToken(
              this.#domainKey.key,
              this.#domainKey.id,
              { keyId: binding.keyId, materialVersion: version, keySpec },
              material,
            )
          })
        } finally {
          clean(...materials)
        }
      }
      // An RSA key's primality tests take long enough (~0.2 s for 4096 bits) to run off
      // this thread; every other spec is checked at once.
      if (!isAsymmetric(keySpec)) return seal(materials.every((material) => isValidKeyMaterial(keySpec, material)))
      return Promise.all(materials.map((material) => isValidKeyMaterialAsync(keySpec, material))).then((results) =>
        seal(results.every(Boolean)),
      )
    })
  }

  //= docs/spec/replication.md#transfer
  // "the unwrapped bytes must then be identical to what B holds (compared inside the HSM),
  // else B refuses the whole transfer."
  #checkSameAsHeld(wrapped: readonly WrappedMaterial[], materials: readonly Buffer[], alreadyHeld: readonly MaterialRef[]): void {
    for (const held of alreadyHeld) {
      const index = wrapped.findIndex((entry) => entry.materialVersion === held.materialVersion)
      const received = materials[index]
      // A held version that was not transferred has nothing to compare against.
      if (index < 0 || received === undefined) continue
      const heldBytes = openKeyToken(this.#domainKey.key, held, held.token)
      if (heldBytes === undefined) throw new HsmError('TOKEN_REJECTED', 'key token does not open for its binding')
      try {
        if (!equalBytes(heldBytes, received)) throw new HsmError('TRANSFER_FAILED', 'transferred material differs from the material held')
      } finally {
        clean(heldBytes)
      }
    }
  }

  /** Opens (or reuses) the symmetric key material a token seals, checking its binding. */
  #material(ref: MaterialRef): HmacSha256Key {
    aMaterialRef(ref)
    if (ref.keySpec !== 'SYMMETRIC_DEFAULT') throw new RangeError('key: expected a SYMMETRIC_DEFAULT key')
    // The cache key includes the binding: a token is only ever authenticated for the
    // (key id, version) it was sealed for, so the same bytes presented under another
    // binding must be checked again, and fail.
    const cacheKey = `${ref.keyId}/${ref.materialVersion}/${tokenText(ref.token)}`
    const cached = this.#materials.get(cacheKey)
    if (cached !== undefined) return cached
    const bytes = openKeyToken(this.#domainKey.key, ref, ref.token)
    if (bytes === undefined) throw new HsmError('TOKEN_REJECTED', 'key token does not open for its binding')
    const material = new HmacSha256Key(bytes)
    clean(bytes)
    remember(this.#materials, cacheKey, material)
    return material
  }

  /** Opens (or reuses) asymmetric or HMAC material: a PKCS#8 private key or HMAC key bytes. */
  #rawMaterial(ref: MaterialRef): Buffer {
    aMaterialRef(ref)
    const cacheKey = `${ref.keyId}/${ref.materialVersion}/${ref.keySpec}/${tokenText(ref.token)}`
    const cached = this.#rawMaterials.get(cacheKey)
    if (cached !== undefined) return cached
    const bytes = openKeyToken(this.#domainKey.key, ref, ref.token)
    if (bytes === undefined) throw new HsmError('TOKEN_REJECTED', 'key token does not open for its binding')
    remember(this.#rawMaterials, cacheKey, bytes)
    return bytes
  }

  //= docs/spec/ciphertext-blob.md#3-per-ciphertext-key
  #seal(material: HmacSha256Key, ref: MaterialRef, plaintext: Uint8Array, encodedContext: Uint8Array): Uint8Array {
    const header = encodeCiphertextHeader({
      keyId: ref.keyId,
      materialVersion: ref.materialVersion,
      salt: freshRandomBytes(SALT_LENGTH),
      iv: freshRandomBytes(IV_LENGTH),
    })
    const derived = kbkdfCounterHmacSha256(material, CIPHERTEXT_KDF_LABEL, kdfContextOf(header), 32)
    try {
      const cipher = createCipheriv('aes-256-gcm', derived, header.subarray(HEADER_LENGTH - IV_LENGTH))
      cipher.setAAD(Buffer.concat([header, encodedContext]))
      return Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    } finally {
      clean(derived)
    }
  }

  //= docs/spec/ciphertext-blob.md#5-decryption
  #open(material: HmacSha256Key, ref: MaterialRef, blob: Uint8Array, encodedContext: Uint8Array): Buffer {
    const header = parseCiphertextHeaderUnauthenticated(blob)
    // A blob whose header names another key or version than the material we were given
    // would fail its tag anyway; refusing it here changes nothing an attacker can see.
    if (header === undefined || header.keyId !== ref.keyId || header.materialVersion !== ref.materialVersion) {
      throw new HsmError('DECRYPT_FAILED')
    }
    const headerBytes = blob.subarray(0, HEADER_LENGTH)
    const derived = kbkdfCounterHmacSha256(material, CIPHERTEXT_KDF_LABEL, kdfContextOf(headerBytes), 32)
    try {
      const decipher = createDecipheriv('aes-256-gcm', derived, header.iv)
      decipher.setAAD(Buffer.concat([headerBytes, encodedContext]))
      decipher.setAuthTag(blob.subarray(blob.length - TAG_LENGTH))
      const plaintext = decipher.update(blob.subarray(HEADER_LENGTH, blob.length - TAG_LENGTH))
      // GCM's final() adds no bytes: it checks the tag, and throws if it does not match;
      // the unauthenticated bytes are then wiped, never returned.
      try {
        decipher.final()
      } catch (err) {
        plaintext.fill(0)
        throw err
      }
      return plaintext
    } catch {
      throw new HsmError('DECRYPT_FAILED')
    } finally {
      clean(derived)
    }
  }
}
