/**
 * What a region stores. Key material appears here only as key tokens: sealed under the
 * region's domain key by the HSM (docs/spec/key-token.md), opaque to storage.
 *
 * @module
 */
import type { KeySpec, KeyUsage, Origin } from '../wire/key-specs.js'

export type KeyState =
  'Creating' | 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport' | 'PendingReplicaDeletion' | 'Unavailable' | 'Updating'

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
  keyUsage: KeyUsage
  keySpec: KeySpec
  origin: Origin
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
  /** Present on multi-Region keys: this region's view of the related keys. */
  mrk?: MultiRegionState
  /** Present on keys with imported material (origin EXTERNAL). */
  imported?: ImportedMaterialState
}

/**
 * Imported key material (origin EXTERNAL). Each KeyMaterialId is computed from the key id
 * and the material (docs/spec/key-token.md §5), so the same bytes give the same id in
 * every region and only those bytes may be imported again. A symmetric key may have
 * several materials (rotation of imported material, docs/imported-material.md): every
 * one is listed in `versions`, whether or not this region holds its token now.
 *
 * Records written before `versions` existed hold one material (version 1) described by
 * the fields of this object itself; `importedVersions` (src/kms/imported-material.ts)
 * reads both forms. The key-level `expirationModel` and `validTo` are kept as a summary
 * of the materials permanently associated with the key (DescribeKey shows them).
 */
export interface ImportedMaterialState {
  /** The KeyMaterialId of the first material ever imported (or, on a replica, the primary's). */
  materialId?: string
  expirationModel?: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE'
  /** Epoch ms at which the material expires (KEY_MATERIAL_EXPIRES). */
  validTo?: number
  importedAt?: number
  description?: string
  /** Every material of the key, ascending by version (absent in records of one material written before it existed). */
  versions?: ImportedVersion[]
  /** The highest material version ever given out: versions are never reused, even after a pending one is withdrawn. */
  lastVersion?: number
}

/** One imported material of a key, as this region knows it. */
export interface ImportedVersion {
  version: number
  materialId: string
  /** KeyMaterialDescription given when it was last imported here. */
  description?: string
  /** This region's last import of it: expiry and when. */
  expirationModel?: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE'
  validTo?: number
  importedAt?: number
  /** Set once a rotation made it current (absent for the first material and while pending). */
  rotationType?: 'AUTOMATIC' | 'ON_DEMAND'
  rotatedAt?: number
}

/** A grant (CreateGrant), kept per region like the key it is on. */
export interface GrantRecord {
  grantId: string
  keyId: string
  name?: string
  /** Exactly one of granteePrincipal (an IAM principal's ARN) and granteeServicePrincipal. */
  granteePrincipal?: string
  /** An AWS service principal (`sqs.amazonaws.com`); no caller of Trent is one. */
  granteeServicePrincipal?: string
  /** At most one of retiringPrincipal and retiringServicePrincipal. */
  retiringPrincipal?: string
  retiringServicePrincipal?: string
  issuingAccount: string
  operations: string[]
  constraints?: {
    encryptionContextEquals?: Record<string, string>
    encryptionContextSubset?: Record<string, string>
    /** Only requests whose aws:SourceArn is this ARN (docs/authorization.md §5). */
    sourceArn?: string
  }
  /** The token that makes the grant usable at once (GrantTokens). */
  grantToken: string
  createdAt: number
}

/** What the primary knows of one replica (docs/spec/replication.md#reconciliation). */
export interface ReplicaStatus {
  /** CREATING until the replica has its material; then IN_SYNC or PENDING. */
  created: boolean
  /** Material versions the replica last reported holding. */
  held: number[]
  /** The highest sync version the replica acknowledged. */
  ackedSyncVersion: number
  lastSyncedAt?: number
  /** When the primary last sent it something, for reconciliation pacing. */
  lastSentAt?: number
  /** The ReplicateKey call that created it (de-duplicates ReplicaCreate). */
  replicationId: string
  /** Until the replica exists: its independent properties from the ReplicateKey request, to send again. */
  initial?: { description: string; policy: string; tags: Tag[]; createdAt: number }
  /** Why it is behind, in words a user can act on, if it is. */
  note?: string
}

export interface MultiRegionState {
  role: 'PRIMARY' | 'REPLICA'
  primaryRegion: string
  /** Every replica region, in the order they were added. */
  replicaRegions: string[]
  /** Orders shared-state changes (docs/spec/replication.md#shared-state). */
  syncVersion: number
  /** Primary only: per replica region. */
  replicas?: Record<string, ReplicaStatus>
  /** Primary during UpdatePrimaryRegion: the region taking over, and this attempt's id. */
  handoffTo?: string
  handoffId?: string
  /** Replica: handoffs it refused, so a late copy of one is refused again, never accepted. */
  refusedHandoffs?: string[]
  /** Replica only: the ReplicateKey call that created it. */
  replicationId?: string
  /** Replica only: the material versions the primary last said exist. */
  knownVersions?: number[]
}

/** An open material-transfer session on the destination side (spec §6.2). */
export interface SessionRecord {
  sessionId: string
  keyId: string
  /** The region the offer went to. */
  peerRegion: string
  versions: number[]
  /** base64 of the RAKB public key offered, which the answer must echo. */
  rakbPublicKey: string
  /**
   * base64 of RAKB's private half sealed under the domain key for this session, its
   * expiry and its public key (docs/spec/key-token.md §7): any node of the region can
   * complete the session with it. Absent in sessions opened before it existed, which can
   * no longer complete and are closed.
   */
  agreement?: string
  expiresAt: number
  /** When the offer was last sent; reconciliation offers again (same session) after a while. */
  offeredAt: number
}

/** What a source answered for a session, kept to answer duplicates identically (spec §6.2). */
export interface AnsweredSessionRecord {
  sessionId: string
  keyId: string
  /** The MaterialTransfer body that was sent. */
  body: Uint8Array
  to: string
  expiresAt: number
}

/**
 * A replica deleted here: kept so that a lost ReplicaDeleted can be sent again and a
 * replayed ReplicaCreate of it is not taken for a new replica (spec §9.2).
 */
export interface TombstoneRecord {
  keyId: string
  primaryRegion: string
  replicationId: string
  deletedAt: number
}

/** A message waiting to be signed and handed to the proxy. */
export interface OutboxRecord {
  id: string
  to: string
  /** The unsigned message body (JSON bytes). */
  body: Uint8Array
  expiresAt: number
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
  | { kind: 'deleteMaterial'; keyId: string; version: number }
  | { kind: 'putGrant'; grant: GrantRecord }
  | { kind: 'deleteGrant'; grantId: string }
  | { kind: 'putAlias'; alias: AliasRecord }
  | { kind: 'deleteAlias'; aliasName: string }
  | { kind: 'putSession'; session: SessionRecord }
  | { kind: 'deleteSession'; sessionId: string }
  | { kind: 'putAnswered'; answered: AnsweredSessionRecord }
  | { kind: 'deleteAnswered'; sessionId: string }
  | { kind: 'putTombstone'; tombstone: TombstoneRecord }
  | { kind: 'deleteTombstone'; keyId: string }
  | { kind: 'putOutbox'; message: OutboxRecord }
  | { kind: 'deleteOutbox'; id: string }
  /**
   * The audit record of the request that made this change, as it was known before its
   * answer (docs/spec/audit-trail.md §4): kept only in the change log, in the same commit
   * as the change, so that a node that died before writing the full record to its trail
   * writes this one when it starts again. No table holds it and no state changes.
   */
  | { kind: 'auditIntent'; node: number; eventId: string; record: string }

export interface Snapshot {
  keys: KeyRecord[]
  materials: MaterialRecord[]
  aliases: AliasRecord[]
  sessions: SessionRecord[]
  answered: AnsweredSessionRecord[]
  outbox: OutboxRecord[]
  tombstones: TombstoneRecord[]
  grants: GrantRecord[]
}
