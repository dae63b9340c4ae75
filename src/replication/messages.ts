/**
 * Replication message bodies (docs/spec/replication.md §5.2, §6–§9): their types, and
 * a strict parser. A body is signed as the exact bytes sent, so encoding is plain
 * JSON.stringify; parsing checks every field the receiver relies on and refuses the
 * rest of the message if one is wrong.
 *
 * @module
 */

import { isKeySpec, keyUsagesFor, type KeySpec, type KeyUsage, type Origin } from '../wire/key-specs.js'

export const PROTOCOL = 'trent-replication/1'

export interface MaterialInfo {
  version: number
  materialId: string
  createdAt: number
  rotationType?: 'AUTOMATIC' | 'ON_DEMAND'
}

/** The shared properties of a multi-Region key, owned by the primary (spec §7.1). */
export interface SharedState {
  syncVersion: number
  keySpec: KeySpec
  keyUsage: KeyUsage
  origin: Origin
  primaryRegion: string
  replicaRegions: string[]
  rotation: { enabled: boolean; periodInDays: number; nextRotationAt?: number }
  materials: MaterialInfo[]
  currentVersion: number
}

export interface HeldVersion {
  version: number
  materialId: string
}

/** What the primary hands over about each replica in an UpdatePrimaryRegion (spec §9.1). */
export interface ReplicaHandover {
  region: string
  replicationId: string
  created: boolean
  /** For a replica not yet created: its independent properties, to send ReplicaCreate again. */
  initial?: { description: string; policy: string; tags: Array<{ TagKey: string; TagValue: string }>; createdAt: number }
}

interface Common {
  protocol: typeof PROTOCOL
  messageId: string
  partition: string
  from: string
  to: string
  keyId: string
  issuedAt: number
  expiresAt: number
}

export type Message = Common &
  (
    | {
        type: 'ReplicaCreate'
        replicationId: string
        shared: SharedState
        replica: { description: string; policy: string; tags: Array<{ TagKey: string; TagValue: string }>; createdAt: number }
      }
    | { type: 'AgreementOffer'; sessionId: string; rakbPublicKey: string; versions: number[] }
    | {
        type: 'MaterialTransfer'
        sessionId: string
        rakaPublicKey: string
        rakbPublicKey: string
        materials: Array<MaterialInfo & { wrapped: string }>
        shared: SharedState
      }
    | { type: 'TransferComplete'; sessionId: string; replicationId: string; held: HeldVersion[] }
    | { type: 'SharedState'; shared: SharedState }
    | { type: 'SyncAck'; syncVersion: number; replicationId: string; held: HeldVersion[] }
    | { type: 'PrimaryHandoff'; handoffId: string; shared: SharedState; replicas: ReplicaHandover[] }
    | { type: 'HandoffRefused'; handoffId: string; reason: string }
    | { type: 'ReplicaDeleted'; replicationId: string }
  )

export type MessageType = Message['type']

/** Distributes over the union, so each variant keeps its own fields. */
type WithoutCommon<T> = T extends unknown ? Omit<T, keyof Common> : never
export type MessageContent = WithoutCommon<Message>

export class MessageFormatError extends Error {}

const REGION = /^([a-z]+-){2,3}\d+$/
const MRK_ID = /^mrk-[0-9a-f]{32}$/
const HEX64 = /^[0-9a-f]{64}$/
const SESSION_ID = /^[0-9a-f]{32}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function fail(field: string): never {
  throw new MessageFormatError(`bad field: ${field}`)
}

function obj(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field)
  return value as Record<string, unknown>
}

function str(value: unknown, field: string, pattern?: RegExp, maxLength = 200_000): string {
  if (typeof value !== 'string' || value.length > maxLength || (pattern !== undefined && !pattern.test(value))) fail(field)
  return value
}

function int(value: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) fail(field)
  return value
}

function arr(value: unknown, field: string, max = 10_000): unknown[] {
  if (!Array.isArray(value) || value.length > max) fail(field)
  return value
}

/** Strictly ascending positive versions. */
function versions(value: unknown, field: string): number[] {
  const list = arr(value, field).map((v) => int(v, field, 1, 0xffffffff))
  for (let i = 1; i < list.length; i++) if ((list[i] ?? 0) <= (list[i - 1] ?? 0)) fail(field)
  return list
}

function material(value: unknown, field: string): MaterialInfo {
  const m = obj(value, field)
  const info: MaterialInfo = {
    version: int(m.version, `${field}.version`, 1, 0xffffffff),
    materialId: str(m.materialId, `${field}.materialId`, HEX64),
    createdAt: int(m.createdAt, `${field}.createdAt`),
  }
  if (m.rotationType !== undefined) {
    if (m.rotationType !== 'AUTOMATIC' && m.rotationType !== 'ON_DEMAND') fail(`${field}.rotationType`)
    info.rotationType = m.rotationType
  }
  return info
}

function ascending<T extends { version: number }>(list: T[], field: string): T[] {
  for (let i = 1; i < list.length; i++) if ((list[i]?.version ?? 0) <= (list[i - 1]?.version ?? 0)) fail(field)
  return list
}

function held(value: unknown, field: string): HeldVersion[] {
  return ascending(
    arr(value, field).map((v, i) => {
      const h = obj(v, `${field}.${i}`)
      return {
        version: int(h.version, `${field}.${i}.version`, 1, 0xffffffff),
        materialId: str(h.materialId, `${field}.${i}.materialId`, HEX64),
      }
    }),
    field,
  )
}

function initial(value: unknown, field: string): NonNullable<ReplicaHandover['initial']> {
  const replica = obj(value, field)
  return {
    description: str(replica.description, `${field}.description`, undefined, 8192),
    policy: str(replica.policy, `${field}.policy`, undefined, 131_072),
    tags: arr(replica.tags, `${field}.tags`, 50).map((t, i) => {
      const tag = obj(t, `${field}.tags.${i}`)
      return { TagKey: str(tag.TagKey, 'tag', undefined, 128), TagValue: str(tag.TagValue, 'tag', undefined, 256) }
    }),
    createdAt: int(replica.createdAt, `${field}.createdAt`),
  }
}

function handovers(value: unknown): ReplicaHandover[] {
  return arr(value, 'replicas', 100).map((v, i) => {
    const r = obj(v, `replicas.${i}`)
    if (typeof r.created !== 'boolean') fail(`replicas.${i}.created`)
    const handover: ReplicaHandover = {
      region: str(r.region, `replicas.${i}.region`, REGION),
      replicationId: str(r.replicationId, `replicas.${i}.replicationId`, UUID),
      created: r.created,
    }
    if (r.initial !== undefined) handover.initial = initial(r.initial, `replicas.${i}.initial`)
    return handover
  })
}

function shared(value: unknown): SharedState {
  const s = obj(value, 'shared')
  if (typeof s.keySpec !== 'string' || !isKeySpec(s.keySpec)) fail('shared.keySpec')
  const keySpec = s.keySpec
  if (typeof s.keyUsage !== 'string' || !(keyUsagesFor(keySpec) as string[]).includes(s.keyUsage)) fail('shared.keyUsage')
  const keyUsage = s.keyUsage as KeyUsage
  if (s.origin !== 'AWS_KMS' && s.origin !== 'EXTERNAL') fail('shared.origin')
  const origin = s.origin
  const rotation = obj(s.rotation, 'shared.rotation')
  if (typeof rotation.enabled !== 'boolean') fail('shared.rotation.enabled')
  const state: SharedState = {
    syncVersion: int(s.syncVersion, 'shared.syncVersion', 1),
    keySpec,
    keyUsage,
    origin,
    primaryRegion: str(s.primaryRegion, 'shared.primaryRegion', REGION),
    replicaRegions: arr(s.replicaRegions, 'shared.replicaRegions', 100).map((r) => str(r, 'shared.replicaRegions', REGION)),
    rotation: {
      enabled: rotation.enabled,
      periodInDays: int(rotation.periodInDays, 'shared.rotation.periodInDays', 90, 2560),
      ...(rotation.nextRotationAt !== undefined ? { nextRotationAt: int(rotation.nextRotationAt, 'shared.rotation.nextRotationAt') } : {}),
    },
    materials: ascending(
      arr(s.materials, 'shared.materials').map((m, i) => material(m, `shared.materials.${i}`)),
      'shared.materials',
    ),
    currentVersion: int(s.currentVersion, 'shared.currentVersion', 1, 0xffffffff),
  }
  // Imported material is never transported (spec §7.3): until it is imported, a key of
  // origin EXTERNAL has no material versions to list.
  const noMaterialYet = state.origin === 'EXTERNAL' && state.materials.length === 0
  if (!noMaterialYet && !state.materials.some((m) => m.version === state.currentVersion)) fail('shared.currentVersion')
  if (new Set(state.replicaRegions).size !== state.replicaRegions.length || state.replicaRegions.includes(state.primaryRegion)) {
    fail('shared.replicaRegions')
  }
  return state
}

export function encodeMessage(message: Message): Uint8Array {
  return Buffer.from(JSON.stringify(message), 'utf8')
}

/** Parses and checks a body's bytes; throws MessageFormatError on anything malformed. */
export function parseMessage(bytes: Uint8Array): Message {
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    fail('body')
  }
  const m = obj(raw, 'body')
  if (m.protocol !== PROTOCOL) fail('protocol')
  const common: Common = {
    protocol: PROTOCOL,
    messageId: str(m.messageId, 'messageId', UUID),
    partition: str(m.partition, 'partition', /^[A-Za-z0-9._-]{1,128}$/),
    from: str(m.from, 'from', REGION),
    to: str(m.to, 'to', REGION),
    keyId: str(m.keyId, 'keyId', MRK_ID),
    issuedAt: int(m.issuedAt, 'issuedAt'),
    expiresAt: int(m.expiresAt, 'expiresAt'),
  }
  switch (m.type) {
    case 'ReplicaCreate':
      return {
        ...common,
        type: 'ReplicaCreate',
        replicationId: str(m.replicationId, 'replicationId', UUID),
        shared: shared(m.shared),
        replica: initial(m.replica, 'replica'),
      }
    case 'AgreementOffer':
      return {
        ...common,
        type: 'AgreementOffer',
        sessionId: str(m.sessionId, 'sessionId', SESSION_ID),
        rakbPublicKey: str(m.rakbPublicKey, 'rakbPublicKey', BASE64, 200),
        versions: versions(m.versions, 'versions'),
      }
    case 'MaterialTransfer':
      return {
        ...common,
        type: 'MaterialTransfer',
        sessionId: str(m.sessionId, 'sessionId', SESSION_ID),
        rakaPublicKey: str(m.rakaPublicKey, 'rakaPublicKey', BASE64, 200),
        rakbPublicKey: str(m.rakbPublicKey, 'rakbPublicKey', BASE64, 200),
        materials: ascending(
          arr(m.materials, 'materials').map((x, i) => ({
            ...material(x, `materials.${i}`),
            wrapped: str(obj(x, `materials.${i}`).wrapped, `materials.${i}.wrapped`, BASE64, 8000),
          })),
          'materials',
        ),
        shared: shared(m.shared),
      }
    case 'TransferComplete':
      return {
        ...common,
        type: 'TransferComplete',
        sessionId: str(m.sessionId, 'sessionId', SESSION_ID),
        replicationId: str(m.replicationId, 'replicationId', UUID),
        held: held(m.held, 'held'),
      }
    case 'SharedState':
      return { ...common, type: 'SharedState', shared: shared(m.shared) }
    case 'SyncAck':
      return {
        ...common,
        type: 'SyncAck',
        syncVersion: int(m.syncVersion, 'syncVersion', 1),
        replicationId: str(m.replicationId, 'replicationId', UUID),
        held: held(m.held, 'held'),
      }
    case 'PrimaryHandoff':
      return {
        ...common,
        type: 'PrimaryHandoff',
        handoffId: str(m.handoffId, 'handoffId', UUID),
        shared: shared(m.shared),
        replicas: handovers(m.replicas),
      }
    case 'HandoffRefused':
      return {
        ...common,
        type: 'HandoffRefused',
        handoffId: str(m.handoffId, 'handoffId', UUID),
        reason: str(m.reason, 'reason', undefined, 500),
      }
    case 'ReplicaDeleted':
      return { ...common, type: 'ReplicaDeleted', replicationId: str(m.replicationId, 'replicationId', UUID) }
    default:
      fail('type')
  }
}
