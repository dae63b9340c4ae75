/**
 * The HSM's replication keys (docs/spec/replication.md §2): the long-lived Replication
 * Signing Keys (RSKs), sealed at rest under the domain key, and the destination's
 * ephemeral agreement keys (RAKBs), held in memory for one session each.
 *
 * Sealed RSK file, `<key dir>/rsk-<id>.sealed`:
 * ```
 * offset  size  field
 * 0       8     "TRENTRS1"
 * 8       4     domain key id, uint32 big-endian
 * 12      8     createdAt, epoch milliseconds, uint64 big-endian
 * 20      12    AES-GCM IV, random
 * 32      n     AES-256-GCM(domain key, PKCS#8 DER of the ECDSA P-384 private key)
 * 32+n    16    AES-GCM tag
 * ```
 * AAD = "trent/rsk/v1" || 0x00 || u16 len || region (UTF-8) || id (32 ASCII hex) || bytes 0..20.
 * So a file opens only in its region, under its domain key, under its own name, and its
 * creation time cannot be changed without failing the tag.
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { HsmError, type RskPublicKey, type SealedAgreement } from '../hsm.js'
import { clean } from '../internal/bytes.js'
import { createFileDurably, writeFileDurably } from '../internal/files.js'
import type { DomainKey } from './domain-key.js'
import { openBlob, sealBlob } from './key-token.js'
import { pointOfPublicKey, replicationSigningInput, rskIdOf, sessionIdBytes } from './replication-crypto.js'

const SEALED_MAGIC = Buffer.from('TRENTRS1', 'ascii')
const SEALED_HEADER_BYTES = 20
const IV_BYTES = 12
const TAG_BYTES = 16
const SEALED_AAD_LABEL = Buffer.from('trent/rsk/v1\0', 'utf8')
const SEALED_FILE_PATTERN = /^rsk-([0-9a-f]{32})\.sealed$/

/** A fresh P-384 key pair, for an RSK (ECDSA) or an ephemeral RAKA/RAKB (ECDH). */
export function generateP384KeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-384' })
}

function assertP384PrivateKey(key: KeyObject): void {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new TypeError('expected a P-384 private key')
  }
}

export function sealedRskFileName(id: string): string {
  return `rsk-${id}.sealed`
}

function sealedAad(region: string, id: string, header: Uint8Array): Buffer {
  const regionBytes = Buffer.from(region, 'utf8')
  const regionLength = Buffer.alloc(2)
  regionLength.writeUInt16BE(regionBytes.length, 0)
  return Buffer.concat([SEALED_AAD_LABEL, regionLength, regionBytes, Buffer.from(id, 'ascii'), header])
}

/** Seals an RSK private key for storage (format: module comment). */
export function sealRsk(domainKey: DomainKey, region: string, privateKey: KeyObject, createdAt: number): { id: string; sealed: Buffer } {
  assertP384PrivateKey(privateKey)
  const id = rskIdOf(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }))
  const header = Buffer.alloc(SEALED_HEADER_BYTES)
  SEALED_MAGIC.copy(header, 0)
  header.writeUInt32BE(domainKey.id, 8)
  header.writeBigUInt64BE(BigInt(createdAt), 12)
  const iv = randomBytes(IV_BYTES)
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
  try {
    const cipher = createCipheriv('aes-256-gcm', domainKey.key, iv)
    cipher.setAAD(sealedAad(region, id, header))
    const sealed = Buffer.concat([header, iv, cipher.update(pkcs8), cipher.final(), cipher.getAuthTag()])
    return { id, sealed }
  } finally {
    clean(pkcs8)
  }
}

/**
 * Opens a sealed RSK, checking that it belongs to this region, domain key and file name.
 * Throws a plain Error (no secret in it) when it does not: the HSM must then not start.
 */
export function openSealedRsk(
  domainKey: DomainKey,
  region: string,
  id: string,
  sealed: Uint8Array,
): { privateKey: KeyObject; createdAt: number } {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
  if (bytes.length < SEALED_HEADER_BYTES + IV_BYTES + TAG_BYTES || !bytes.subarray(0, 8).equals(SEALED_MAGIC)) {
    throw new Error(`rsk ${id}: sealed file is malformed`)
  }
  if (bytes.readUInt32BE(8) !== domainKey.id) throw new Error(`rsk ${id}: sealed under another domain key`)
  const header = bytes.subarray(0, SEALED_HEADER_BYTES)
  const bodyStart = SEALED_HEADER_BYTES + IV_BYTES
  let pkcs8: Buffer
  try {
    const decipher = createDecipheriv('aes-256-gcm', domainKey.key, bytes.subarray(SEALED_HEADER_BYTES, bodyStart))
    decipher.setAAD(sealedAad(region, id, header))
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    const body = decipher.update(bytes.subarray(bodyStart, bytes.length - TAG_BYTES))
    try {
      pkcs8 = Buffer.concat([body, decipher.final()])
    } finally {
      clean(body)
    }
  } catch {
    throw new Error(`rsk ${id}: cannot unseal (wrong domain key, region or name, or a damaged file)`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
  } catch {
    throw new Error(`rsk ${id}: sealed key is not a private key`)
  } finally {
    clean(pkcs8)
  }
  assertP384PrivateKey(privateKey)
  if (rskIdOf(createPublicKey(privateKey).export({ format: 'der', type: 'spki' })) !== id) {
    throw new Error(`rsk ${id}: sealed key does not match its id`)
  }
  const createdAt = bytes.readBigUInt64BE(12)
  if (createdAt > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`rsk ${id}: bad creation time`)
  return { privateKey, createdAt: Number(createdAt) }
}

interface SigningKey extends RskPublicKey {
  privateKey: KeyObject
}

function signingKeyOf(privateKey: KeyObject, createdAt: number): SigningKey {
  assertP384PrivateKey(privateKey)
  const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  return { id: rskIdOf(publicKey), publicKey, createdAt, privateKey }
}

export interface FileRskOptions {
  /** Where `rsk-<id>.sealed` files live (the region's data dir). */
  keyDir: string
  domainKey: DomainKey
  /** The region name, bound into every sealed file. */
  region: string
  now?: () => number
}

/**
 * The region's RSKs, oldest first; the newest signs (docs/spec/replication.md §3.2).
 * Private keys stay KeyObjects, so their bytes are not on the JavaScript heap.
 */
export class ReplicationSigningKeys {
  #keys: SigningKey[]
  /** Persists a new key before it is used; absent for the in-memory variant. */
  readonly #store: ((key: SigningKey) => void) | undefined
  readonly #now: () => number
  /**
   * Re-reads the key files when the key dir changed since the last read: the nodes of a
   * region share it, and a key one of them rotated must be the one every node signs with.
   */
  readonly #refresh: (() => SigningKey[] | undefined) | undefined

  private constructor(
    keys: SigningKey[],
    store: ((key: SigningKey) => void) | undefined,
    now: () => number,
    refresh?: () => SigningKey[] | undefined,
  ) {
    this.#keys = keys
    this.#store = store
    this.#now = now
    this.#refresh = refresh
  }

  /** Keys that live only in this process: for tests. Uses `privateKey` if given, else a fresh one. */
  static inMemory(options: { privateKey?: KeyObject; now?: () => number } = {}): ReplicationSigningKeys {
    const now = options.now ?? Date.now
    const privateKey = options.privateKey ?? generateP384KeyPair().privateKey
    return new ReplicationSigningKeys([signingKeyOf(privateKey, now())], undefined, now)
  }

  /**
   * Loads every `rsk-<id>.sealed` in the key dir, creating the first RSK if there is none.
   * A file that does not open stops the HSM, as a bad domain key file does.
   */
  static loadOrCreate(options: FileRskOptions): ReplicationSigningKeys {
    const { keyDir, domainKey, region } = options
    const now = options.now ?? Date.now
    mkdirSync(keyDir, { recursive: true, mode: 0o700 })
    const load = (): SigningKey[] => {
      const keys: SigningKey[] = []
      for (const name of readdirSync(keyDir)) {
        const match = SEALED_FILE_PATTERN.exec(name)
        if (match === null || match[1] === undefined) continue
        const { privateKey, createdAt } = openSealedRsk(domainKey, region, match[1], readFileSync(join(keyDir, name)))
        keys.push(signingKeyOf(privateKey, createdAt))
      }
      return keys.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    }
    const store = (key: SigningKey): void => {
      const { id, sealed } = sealRsk(domainKey, region, key.privateKey, key.createdAt)
      writeFileDurably(join(keyDir, sealedRskFileName(id)), sealed, 0o600)
    }
    const dirVersion = (): string => {
      const stat = statSync(keyDir, { bigint: true })
      return `${stat.ino}:${stat.mtimeNs}:${stat.ctimeNs}`
    }
    let keys = load()
    if (keys.length === 0) keys = createFirstKey(keyDir, now, store, load)
    let seen = dirVersion()
    const refresh = (): SigningKey[] | undefined => {
      const current = dirVersion()
      if (current === seen) return undefined
      seen = current
      return load()
    }
    return new ReplicationSigningKeys(keys, store, now, refresh)
  }

  list(): RskPublicKey[] {
    this.#reloadIfChanged()
    return this.#keys.map(({ id, publicKey, createdAt }) => ({ id, publicKey: Buffer.from(publicKey), createdAt }))
  }

  //= docs/spec/replication.md#acceptance
  // ECDSA P-384 / SHA-384 over "trent-replication-v1" || 0x00 || body, r || s as in the envelope.
  sign(body: Uint8Array): { keyId: string; signature: Uint8Array } {
    this.#reloadIfChanged()
    const newest = this.#newest()
    const signature = sign('sha384', replicationSigningInput(body), { key: newest.privateKey, dsaEncoding: 'ieee-p1363' })
    return { keyId: newest.id, signature }
  }

  /** Creates, stores and starts signing with a new RSK. */
  rotate(): RskPublicKey {
    const previous = this.#keys.at(-1)
    // Strictly after the newest, so "newest" stays well-defined within one millisecond.
    const createdAt = previous === undefined ? this.#now() : Math.max(this.#now(), previous.createdAt + 1)
    const key = signingKeyOf(generateP384KeyPair().privateKey, createdAt)
    // Sealed and on disk before it signs anything: a key whose signatures others will pin
    // must survive a restart.
    this.#store?.(key)
    this.#keys.push(key)
    return { id: key.id, publicKey: Buffer.from(key.publicKey), createdAt }
  }

  #reloadIfChanged(): void {
    const reloaded = this.#refresh?.()
    if (reloaded !== undefined && reloaded.length > 0) this.#keys = reloaded
  }

  #newest(): SigningKey {
    const newest = this.#keys.at(-1)
    if (newest === undefined) throw new HsmError('BAD_REQUEST', 'no replication signing key')
    return newest
  }
}

/** Marks that a region's first RSK is being made, so that nodes starting at once make one. */
const FIRST_KEY_MARKER = 'first-rsk.created'
const FIRST_KEY_WAIT_MS = 10_000

/**
 * Makes the region's first RSK, once however many nodes start at the same moment on one
 * key dir: the node that creates the marker file (exclusively) makes the key; the others
 * wait for its sealed file and load it. Without this each would sign with a key of its
 * own, and only one of them would be published and pinned.
 */
function createFirstKey(keyDir: string, now: () => number, store: (key: SigningKey) => void, load: () => SigningKey[]): SigningKey[] {
  const key = signingKeyOf(generateP384KeyPair().privateKey, now())
  if (createFileDurably(join(keyDir, FIRST_KEY_MARKER), `${key.id}\n`, 0o600)) {
    store(key)
    return [key]
  }
  // Another node won. Its sealed file follows its marker at once; wait for it (this runs
  // while the HSM starts, in its own thread, before it serves anything).
  const deadline = Date.now() + FIRST_KEY_WAIT_MS
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (;;) {
    const keys = load()
    if (keys.length > 0) return keys
    if (Date.now() > deadline) throw new Error('rsk: another process began the first signing key and did not finish it')
    Atomics.wait(pause, 0, 0, 20)
  }
}

//= docs/spec/replication.md#ephemeral
/** The label of a sealed agreement (docs/spec/key-token.md §7): no other sealed blob opens as one. */
const AGREEMENT_LABEL = 'trent/agreement/v1'

/** What a sealed agreement is bound to: its session, its expiry and its public point. */
function agreementContext(sessionId: string, expiresAt: number, publicKey: Uint8Array): Buffer {
  const expiry = Buffer.alloc(8)
  expiry.writeBigUInt64BE(BigInt(expiresAt))
  return Buffer.concat([sessionIdBytes(sessionId), expiry, publicKey])
}

/**
 * Makes a session's RAKB and seals its private half under the domain key, bound to the
 * session id, expiry and public point: the region keeps it in the session record, and any
 * HSM of the region can open it for that session only, until it expires.
 */
export function openSealedAgreement(domainKey: DomainKey, sessionId: string, expiresAt: number): SealedAgreement {
  const { privateKey, publicKey } = generateP384KeyPair()
  const point = pointOfPublicKey(publicKey)
  const der = privateKey.export({ format: 'der', type: 'pkcs8' })
  try {
    return {
      publicKey: point,
      expiresAt,
      sealed: sealBlob(domainKey.key, domainKey.id, AGREEMENT_LABEL, agreementContext(sessionId, expiresAt, point), der),
    }
  } finally {
    clean(der)
  }
}

/** The RAKB of a sealed agreement, if it is authentic for `sessionId` and not expired at `now`. */
export function openAgreementKey(domainKey: DomainKey, sessionId: string, agreement: SealedAgreement, now: number): KeyObject | undefined {
  if (now > agreement.expiresAt) return undefined
  const der = openBlob(
    domainKey.key,
    AGREEMENT_LABEL,
    agreementContext(sessionId, agreement.expiresAt, agreement.publicKey),
    agreement.sealed,
  )
  if (der === undefined) return undefined
  try {
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
    assertP384PrivateKey(privateKey)
    return privateKey
  } finally {
    clean(der)
  }
}
