/**
 * The partition's pinned Replication Signing Keys (docs/spec/replication.md §3), and
 * the signature check every incoming message must pass first.
 *
 * @module
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { parseTrustStore, type PinnedKey, type TrustStoreDocument } from '../wire/replication-trust.js'

export type { PinnedKey, TrustStoreDocument }

export const SIGNING_LABEL = Buffer.from('trent-replication-v1\0', 'utf8')

export interface TrustStore {
  partitionId(): string | undefined
  /** Regions with at least one pinned key: the partition's members. */
  regions(): string[]
  /** True if `signature` over `body` verifies under an active key pinned for `region` with id `keyId`. */
  verify(region: string, keyId: string, body: Uint8Array, signature: Uint8Array): boolean
}

export function signingInput(body: Uint8Array): Buffer {
  return Buffer.concat([SIGNING_LABEL, body])
}

/** A trust store read from a JSON file, re-read whenever the file changes. */
export class FileTrustStore implements TrustStore {
  readonly #path: string
  /** What the file looked like when last read: a changed inode, time or size means read it again. */
  #version = ''
  #document: TrustStoreDocument = { partition: '', regions: {} }
  #keys = new Map<string, KeyObject>()

  constructor(path: string) {
    this.#path = path
  }

  partitionId(): string | undefined {
    this.#refresh()
    return this.#document.partition === '' ? undefined : this.#document.partition
  }

  regions(): string[] {
    this.#refresh()
    return Object.entries(this.#document.regions)
      .filter(([, keys]) => keys.some((k) => k.status === 'active'))
      .map(([region]) => region)
  }

  verify(region: string, keyId: string, body: Uint8Array, signature: Uint8Array): boolean {
    this.#refresh()
    // Own properties only: a region named `__proto__` or `constructor` is no region.
    const regionKeys = Object.hasOwn(this.#document.regions, region) ? this.#document.regions[region] : undefined
    const pinned = Array.isArray(regionKeys) ? regionKeys.find((k) => k.id === keyId && k.status === 'active') : undefined
    const key = pinned === undefined ? undefined : this.#keys.get(`${region}/${pinned.id}`)
    if (key === undefined || signature.length !== 96) return false
    try {
      return verify('sha384', signingInput(body), { key, dsaEncoding: 'ieee-p1363' }, signature)
    } catch {
      return false
    }
  }

  #refresh(): void {
    let version: string
    try {
      // The inode as well as the times: writers replace the file (write, then rename), and
      // two replacements within one tick of the file clock have the same times.
      const stat = statSync(this.#path, { bigint: true })
      version = `${stat.ino}:${stat.mtimeNs}:${stat.ctimeNs}:${stat.size}`
    } catch {
      this.#document = { partition: '', regions: {} }
      this.#keys = new Map()
      this.#version = ''
      return
    }
    if (version === this.#version) return
    const document = parseTrustStore(readFileSync(this.#path, 'utf8'))
    const keys = new Map<string, KeyObject>()
    for (const [region, pinned] of Object.entries(document.regions)) {
      for (const key of pinned) {
        keys.set(`${region}/${key.id}`, createPublicKey({ key: Buffer.from(key.publicKey, 'base64'), format: 'der', type: 'spki' }))
      }
    }
    this.#document = document
    this.#keys = keys
    this.#version = version
  }
}
