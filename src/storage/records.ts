/**
 * What a region stores. Key material appears here only as key tokens: sealed under the
 * region's domain key by the HSM (docs/spec/key-token.md), opaque to storage.
 *
 * @module
 */

export type KeyState =
  | 'Creating'
  | 'Enabled'
  | 'Disabled'
  | 'PendingDeletion'
  | 'PendingImport'
  | 'PendingReplicaDeletion'
  | 'Unavailable'
  | 'Updating'

export interface Tag {
  TagKey: string
  TagValue: string
}

export interface RotationSettings {
  enabled: boolean
  periodInDays: number
  /** Epoch ms of the next automatic rotation, while enabled. */
  nextRotationAt?: number
  /** Epoch ms at which an on-demand rotation was requested and is not yet complete. */
  onDemandStartedAt?: number
  /** How many on-demand rotations this key has had (AWS caps it). */
  onDemandCount: number
}

export interface KeyRecord {
  keyId: string
  /** Creation order within the region, for stable ListKeys paging. */
  sequence: number
  createdAt: number
  description: string
  keyUsage: 'ENCRYPT_DECRYPT'
  keySpec: 'SYMMETRIC_DEFAULT'
  origin: 'AWS_KMS'
  state: KeyState
  /** Epoch ms at which a PendingDeletion key is deleted. */
  deletionAt?: number
  pendingWindowInDays?: number
  policy: string
  tags: Tag[]
  rotation: RotationSettings
  /** The material version new ciphertexts use. */
  currentMaterialVersion: number
  multiRegion: boolean
}

export interface MaterialRecord {
  keyId: string
  version: number
  /** KeyMaterialId: 64 lower-case hex characters, the same in every region of an MRK. */
  materialId: string
  createdAt: number
  /** How this version came to be: undefined for the first material. */
  rotationType?: 'AUTOMATIC' | 'ON_DEMAND'
  /** Sealed key material; never plaintext. */
  token: Uint8Array
}

export interface AliasRecord {
  aliasName: string
  keyId: string
  createdAt: number
  updatedAt: number
}

/** One change; a batch of them commits atomically. */
export type Write =
  | { kind: 'putKey'; key: KeyRecord }
  | { kind: 'deleteKey'; keyId: string }
  | { kind: 'putMaterial'; material: MaterialRecord }
  | { kind: 'putAlias'; alias: AliasRecord }
  | { kind: 'deleteAlias'; aliasName: string }

export interface Snapshot {
  keys: KeyRecord[]
  materials: MaterialRecord[]
  aliases: AliasRecord[]
}
