/**
 * The region's domain key: the AES-256 key every key token is sealed under. It exists
 * in plaintext only inside the HSM; at rest it is sealed under the master key
 * (docs/spec/key-token.md §3).
 *
 * Sealed file: "TRENTDK1" || u32 domain key id || 12-byte IV || AES-256-GCM(domain key)
 * || 16-byte tag, with AAD = the first 12 bytes || UTF-8 region name.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { clean } from '../internal/bytes.js'
import { createFileDurably } from '../internal/files.js'

const MAGIC = Buffer.from('TRENTDK1', 'ascii')
const KEY_BYTES = 32

export interface MasterKeySource {
  /** Base64 of 32 bytes, e.g. from the TRENT_MASTER_KEY environment variable. */
  base64?: string
  /** A file holding the base64 of 32 bytes; created with mode 0600 if `create` and absent. */
  file?: string
  create?: boolean
}

export interface DomainKey {
  id: number
  key: KeyObject
}

function decodeMasterKey(base64: string): Buffer {
  const bytes = Buffer.from(base64.trim(), 'base64')
  if (bytes.length !== KEY_BYTES) throw new Error('master key: expected the base64 of 32 bytes')
  return bytes
}

export function loadMasterKey(source: MasterKeySource): KeyObject {
  let bytes: Buffer
  if (source.base64 !== undefined) {
    bytes = decodeMasterKey(source.base64)
  } else if (source.file !== undefined) {
    if (!existsSync(source.file)) {
      if (source.create !== true) {
        throw new Error(
          `master key: ${source.file} does not exist, and this region's domain key was sealed under a master key: point --master-key-file (or TRENT_MASTER_KEY) at that key`,
        )
      }
      // Created only if still absent: regions sharing one file race to create it, and
      // all of them must end up with the one that won.
      const fresh = randomBytes(KEY_BYTES)
      createFileDurably(source.file, `${fresh.toString('base64')}\n`, 0o600)
      clean(fresh)
    }
    bytes = decodeMasterKey(readFileSync(source.file, 'utf8'))
  } else {
    throw new Error('master key: no source configured')
  }
  const key = createSecretKey(bytes)
  clean(bytes)
  return key
}

function aad(header: Uint8Array, region: string): Buffer {
  return Buffer.concat([header, Buffer.from(region, 'utf8')])
}

/** Loads the sealed domain key, creating one on first start. */
export function loadOrCreateDomainKey(masterKey: KeyObject, sealedPath: string, region: string): DomainKey {
  if (!existsSync(sealedPath)) {
    const header = Buffer.alloc(12)
    MAGIC.copy(header, 0)
    header.writeUInt32BE(1, 8)
    const iv = randomBytes(12)
    const fresh = randomBytes(KEY_BYTES)
    const cipher = createCipheriv('aes-256-gcm', masterKey, iv)
    cipher.setAAD(aad(header, region))
    const sealed = Buffer.concat([header, iv, cipher.update(fresh), cipher.final(), cipher.getAuthTag()])
    clean(fresh)
    // Created only if still absent: nodes of a region share its folder and may start at
    // once, and every one of them must use the one domain key that won, not its own.
    createFileDurably(sealedPath, sealed, 0o600)
  }
  const sealed = readFileSync(sealedPath)
  if (sealed.length !== 12 + 12 + KEY_BYTES + 16 || !sealed.subarray(0, 8).equals(MAGIC)) {
    throw new Error('domain key: sealed file is malformed')
  }
  const header = sealed.subarray(0, 12)
  const id = sealed.readUInt32BE(8)
  let plain: Buffer
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey, sealed.subarray(12, 24))
    decipher.setAAD(aad(header, region))
    decipher.setAuthTag(sealed.subarray(24 + KEY_BYTES))
    plain = Buffer.concat([decipher.update(sealed.subarray(24, 24 + KEY_BYTES)), decipher.final()])
  } catch {
    // Wrong master key, wrong region, or a damaged file: the region must not start.
    throw new Error('domain key: cannot unseal (wrong master key or damaged file)')
  }
  const key = createSecretKey(plain)
  clean(plain)
  return { id, key }
}
