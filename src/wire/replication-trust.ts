/**
 * The two documents through which the regions of a partition come to trust each other's
 * Replication Signing Keys (docs/spec/replication.md §3), defined once for everyone who
 * writes or reads them: the region (publishes its keys, reads the trust store), the
 * launcher (pins every region's keys in every region), `trent rsk` (export, import,
 * retire) and the replication layer (verifies messages against the trust store).
 *
 * Both are JSON files in a region's data folder. Readers check what they read: a
 * hand-edited or truncated file is refused with the reason, never half-used.
 *
 * @module
 */

/** A region's published signing public keys: `<data dir>/rsk-public.json`. */
export const RSK_EXPORT_FILE = 'rsk-public.json'
/** The partition's pinned keys, as one region sees them: `<data dir>/trust-store.json`. */
export const TRUST_STORE_FILE = 'trust-store.json'

/** What a region publishes, `trent rsk export` prints and `trent rsk import` reads. */
export interface RskExport {
  region: string
  keys: Array<{ id: string; /** base64 SPKI DER (P-384) */ publicKey: string; createdAt?: number }>
}

export interface PinnedKey {
  id: string
  /** base64 SPKI DER (P-384) */
  publicKey: string
  /** A retired key verifies nothing: `trent rsk retire`. */
  status: 'active' | 'retired'
}

export interface TrustStoreDocument {
  partition: string
  regions: Record<string, PinnedKey[]>
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Parses an RskExport; throws an Error saying what is wrong. */
export function parseRskExport(text: string): RskExport {
  const value: unknown = JSON.parse(text)
  if (!isObject(value) || typeof value.region !== 'string' || value.region === '' || !Array.isArray(value.keys)) {
    throw new Error('not a signing key export: expected {"region": "...", "keys": [...]}')
  }
  const keys = value.keys.map((key: unknown, index: number) => {
    if (!isObject(key) || typeof key.id !== 'string' || typeof key.publicKey !== 'string') {
      throw new Error(`key ${index} of the export lacks an id or a publicKey`)
    }
    return { id: key.id, publicKey: key.publicKey, ...(typeof key.createdAt === 'number' ? { createdAt: key.createdAt } : {}) }
  })
  return { region: value.region, keys }
}

/** Parses a trust store document; throws an Error saying what is wrong. */
export function parseTrustStore(text: string): TrustStoreDocument {
  const value: unknown = JSON.parse(text)
  if (!isObject(value) || typeof value.partition !== 'string' || !isObject(value.regions)) {
    throw new Error('not a trust store: expected {"partition": "...", "regions": {...}}')
  }
  const regions: Record<string, PinnedKey[]> = {}
  for (const [region, pinned] of Object.entries(value.regions)) {
    if (!Array.isArray(pinned)) throw new Error(`the keys of region ${region} are not a list`)
    regions[region] = pinned.map((key: unknown, index: number) => {
      if (
        !isObject(key) ||
        typeof key.id !== 'string' ||
        typeof key.publicKey !== 'string' ||
        (key.status !== 'active' && key.status !== 'retired')
      ) {
        throw new Error(`key ${index} of region ${region} needs an id, a publicKey and a status of active or retired`)
      }
      return { id: key.id, publicKey: key.publicKey, status: key.status }
    })
  }
  return { partition: value.partition, regions }
}

/** The text every writer writes, so that equal documents are equal files. */
export function formatTrustDocument(document: TrustStoreDocument | RskExport): string {
  return `${JSON.stringify(document, null, 2)}\n`
}
