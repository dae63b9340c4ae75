/**
 * What a region does with each verified replication message
 * (docs/spec/replication.md §6–§9). Every handler runs inside `kms.mutate`, so it sees
 * a stable state and its writes (including the messages it answers with) commit
 * together. Handlers are idempotent: at-least-once delivery, duplicates, replays within
 * a message's lifetime and reordering change nothing twice.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import type { MaterialForTransfer } from '../../hsm/hsm.js'
import type { HeldVersion, Message, ReplicaHandover, SharedState } from '../../replication/messages.js'
import type {
  ImportedVersion,
  KeyRecord,
  MaterialRecord,
  MultiRegionState,
  ReplicaStatus,
  SessionRecord,
  Write,
} from '../../storage/records.js'
import { importedVersions, stateForMaterials, withVersions } from '../imported-material.js'
import { failpoint } from '../failpoints.js'
import type { Kms } from '../kms.js'
import { MESSAGE_TTL_MS, broadcastSharedState, heldVersions, queueMessage, sharedStateOf, wallClock } from './outbound.js'

/** A message the receiver refuses: the proxy stops retrying it, and the reason is logged. */
export class ReplicationRefused extends Error {}

export type Outcome = 'applied' | 'duplicate' | 'ignored' | { refused: string }

export interface HandlerResult {
  writes: Write[]
  result: Outcome
}

const SESSION_TTL_MS = MESSAGE_TTL_MS
/**
 * Versions one session carries at most (docs/spec/replication.md#transfer): the RWK's
 * HKDF info lists them, and HKDF info is bounded. A key with more asks again.
 */
export const MAX_VERSIONS_PER_SESSION = 100
/** Refused handoff ids a replica remembers per key. */
const REFUSED_HANDOFFS_KEPT = 20

function refuse(reason: string): never {
  throw new ReplicationRefused(reason)
}

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

function materialInfo(kms: Kms, keyId: string, version: number): MaterialRecord | undefined {
  return kms.materialOf(keyId, version)
}

function missingVersions(kms: Kms, keyId: string, wanted: readonly number[]): number[] {
  //= docs/spec/replication.md#imported-material
  // Imported material is never transported: each region imports it itself.
  if (kms.keys.get(keyId)?.origin === 'EXTERNAL') return []
  const held = new Set((kms.materials.get(keyId) ?? []).map((m) => m.version))
  return wanted.filter((v) => !held.has(v))
}

/** The versions a replica must come to hold: none for imported material (spec §7.4). */
function versionsToFetch(shared: SharedState): number[] {
  return shared.origin === 'EXTERNAL' ? [] : shared.materials.map((m) => m.version)
}

/**
 * A replica's list of imported materials, taken from its primary's (spec §7.4): the ids
 * its own imports are checked against, and which of them are current, rotated or pending.
 * What this region did with each (its own import, expiry, description) is kept.
 */
function importedFrom(kms: Kms, key: KeyRecord, shared: SharedState): KeyRecord {
  if (shared.origin !== 'EXTERNAL') return key
  const mine = new Map(importedVersions(key).map((v) => [v.version, v]))
  const versions: ImportedVersion[] = shared.materials.map((m) => {
    const local = mine.get(m.version)
    const entry: ImportedVersion = local?.materialId === m.materialId ? { ...local } : { version: m.version, materialId: m.materialId }
    if (m.rotationType !== undefined) {
      entry.rotationType = m.rotationType
      entry.rotatedAt = m.createdAt
    }
    return entry
  })
  const listed = new Set(versions.map((v) => v.version))
  const held = (version: number): boolean => listed.has(version) && kms.materialOf(key.keyId, version) !== undefined
  const current = { ...key, currentMaterialVersion: shared.currentVersion }
  const next = withVersions(current, versions, held)
  return { ...next, state: stateForMaterials(next, held) }
}

/** A replica's copies of imported material its primary no longer lists (new material withdrawn there). */
function withdrawnMaterialWrites(kms: Kms, key: KeyRecord, shared: SharedState): Write[] {
  if (shared.origin !== 'EXTERNAL') return []
  const listed = new Set(shared.materials.map((m) => m.version))
  return (kms.materials.get(key.keyId) ?? [])
    .filter((m) => !listed.has(m.version))
    .map((m): Write => ({ kind: 'deleteMaterial', keyId: key.keyId, version: m.version }))
}

function hasOpenSession(kms: Kms, keyId: string): boolean {
  const now = wallClock()
  return [...kms.sessions.values()].some((s) => s.keyId === keyId && s.expiresAt > now)
}

/** Opens a material-transfer session: the destination's first step (spec §6.2). */
export async function openSession(kms: Kms, key: KeyRecord, source: string, wanted: number[]): Promise<Write[]> {
  const versions = wanted.slice(0, MAX_VERSIONS_PER_SESSION)
  const sessionId = randomBytes(16).toString('hex')
  const expiresAt = wallClock() + SESSION_TTL_MS
  //= docs/spec/replication.md#transfer
  //# HSM(B) creates ephemeral ECDH P-384 key RAKB
  const agreement = await kms.hsm.openAgreement(sessionId, expiresAt)
  const rakb = Buffer.from(agreement.publicKey).toString('base64')
  const session: SessionRecord = {
    sessionId,
    keyId: key.keyId,
    peerRegion: source,
    versions,
    rakbPublicKey: rakb,
    agreement: Buffer.from(agreement.sealed).toString('base64'),
    expiresAt,
    offeredAt: wallClock(),
  }
  return [
    { kind: 'putSession', session },
    queueMessage(kms, source, key.keyId, { type: 'AgreementOffer', sessionId, rakbPublicKey: rakb, versions }),
  ]
}

/** A replica's report of what it holds, sent to the primary (spec §6.2, §7.1). */
export function replicaReport(kms: Kms, key: KeyRecord, held: HeldVersion[]): Write[] {
  return syncAck(kms, key, held)
}

function syncAck(kms: Kms, key: KeyRecord, held: HeldVersion[] = heldVersions(kms, key.keyId)): Write[] {
  const mrk = key.mrk
  if (mrk?.role !== 'REPLICA' || mrk.replicationId === undefined) return []
  return [
    queueMessage(kms, mrk.primaryRegion, key.keyId, {
      type: 'SyncAck',
      syncVersion: mrk.syncVersion,
      replicationId: mrk.replicationId,
      held,
    }),
  ]
}

/** Applies the primary's shared state to a replica (spec §7.1); the caller checked it is newer. */
function applyShared(kms: Kms, key: KeyRecord, shared: SharedState, extraHeld: readonly number[] = []): KeyRecord {
  const held = new Set([...(kms.materials.get(key.keyId) ?? []).map((m) => m.version), ...extraHeld])
  const mrk: MultiRegionState = {
    role: 'REPLICA',
    primaryRegion: shared.primaryRegion,
    replicaRegions: [...shared.replicaRegions],
    syncVersion: shared.syncVersion,
    knownVersions: versionsToFetch(shared),
  }
  if (key.mrk?.replicationId !== undefined) mrk.replicationId = key.mrk.replicationId
  if (key.mrk?.refusedHandoffs !== undefined) mrk.refusedHandoffs = key.mrk.refusedHandoffs
  const rotation = { ...key.rotation, enabled: shared.rotation.enabled, periodInDays: shared.rotation.periodInDays }
  if (shared.rotation.nextRotationAt !== undefined) rotation.nextRotationAt = shared.rotation.nextRotationAt
  else delete rotation.nextRotationAt
  // Encrypt only with a version this region holds; the primary makes a version current
  // only once every replica holds it (spec §7.3), so this is the normal case.
  const currentMaterialVersion = held.has(shared.currentVersion) ? shared.currentVersion : key.currentMaterialVersion
  // Imported material: the version the primary made current is current here too, held or
  // not; a replica that lacks it is PendingImport until it imports it (spec §7.4).
  return importedFrom(kms, { ...key, mrk, rotation, currentMaterialVersion }, shared)
}

// ---------------------------------------------------------------------------------------
// Destination side

//= docs/spec/replication.md#replicate-key
async function onReplicaCreate(kms: Kms, m: Extract<Message, { type: 'ReplicaCreate' }>): Promise<HandlerResult> {
  if (m.shared.primaryRegion !== m.from || !m.shared.replicaRegions.includes(kms.region))
    refuse('ReplicaCreate does not name this region as a replica of the sender')
  const tombstone = kms.tombstones.get(m.keyId)
  if (tombstone?.replicationId === m.replicationId) {
    // A replica deleted here: say so again (the first notice may have been lost) and
    // never resurrect it from a late or replayed ReplicaCreate (spec §9.2).
    return { writes: [queueMessage(kms, m.from, m.keyId, { type: 'ReplicaDeleted', replicationId: m.replicationId })], result: 'ignored' }
  }
  const existing = kms.keys.get(m.keyId)
  if (existing !== undefined) {
    if (existing.mrk?.role !== 'REPLICA' || existing.mrk.replicationId !== m.replicationId)
      refuse('a related key already exists in this region')
    // The same replica, announced again: by a primary that missed the report, or by a new
    // primary after UpdatePrimaryRegion. Take its newer shared state, fetch what is
    // missing, and report (spec §6.1).
    const writes: Write[] = []
    let next = existing
    if (m.shared.syncVersion > existing.mrk.syncVersion) {
      next = applyShared(kms, existing, m.shared)
      writes.push({ kind: 'putKey', key: next })
    }
    const missing = missingVersions(
      kms,
      m.keyId,
      m.shared.materials.map((x) => x.version),
    )
    if (missing.length > 0 && !hasOpenSession(kms, m.keyId)) writes.push(...(await openSession(kms, next, m.from, missing)))
    const changed = writes.length > 0
    if (next.state !== 'Creating') writes.push(...syncAck(kms, next))
    return { writes, result: changed ? 'applied' : 'duplicate' }
  }
  const key: KeyRecord = {
    keyId: m.keyId,
    sequence: kms.nextSequence(),
    createdAt: m.replica.createdAt,
    description: m.replica.description,
    keyUsage: m.shared.keyUsage,
    keySpec: m.shared.keySpec,
    origin: m.shared.origin,
    // A replica of imported material waits for its own import (spec §7.4).
    state: m.shared.origin === 'EXTERNAL' ? 'PendingImport' : 'Creating',
    policy: m.replica.policy,
    tags: m.replica.tags.map(({ TagKey, TagValue }) => ({ TagKey, TagValue })),
    rotation: { enabled: m.shared.rotation.enabled, periodInDays: m.shared.rotation.periodInDays, onDemandCount: 0 },
    currentMaterialVersion: m.shared.currentVersion,
    multiRegion: true,
    mrk: {
      role: 'REPLICA',
      primaryRegion: m.shared.primaryRegion,
      replicaRegions: [...m.shared.replicaRegions],
      syncVersion: m.shared.syncVersion,
      replicationId: m.replicationId,
      knownVersions: versionsToFetch(m.shared),
    },
  }
  if (m.shared.origin === 'EXTERNAL') {
    const { imported } = importedFrom(kms, key, m.shared)
    if (imported !== undefined) key.imported = imported
  }
  if (m.shared.rotation.nextRotationAt !== undefined) key.rotation.nextRotationAt = m.shared.rotation.nextRotationAt
  const writes: Write[] = [{ kind: 'putKey', key }]
  if (tombstone !== undefined) writes.push({ kind: 'deleteTombstone', keyId: m.keyId })
  const wanted = versionsToFetch(m.shared)
  if (wanted.length > 0) writes.push(...(await openSession(kms, key, m.from, wanted)))
  else writes.push(...syncAck(kms, key))
  return { writes, result: 'applied' }
}

//= docs/spec/replication.md#transfer
async function onMaterialTransfer(kms: Kms, m: Extract<Message, { type: 'MaterialTransfer' }>): Promise<HandlerResult> {
  const session = kms.sessions.get(m.sessionId)
  if (session === undefined) {
    // Completed, expired or never opened: a replay or a late duplicate.
    return { writes: [], result: 'ignored' }
  }
  const closeSession: Write = { kind: 'deleteSession', sessionId: m.sessionId }
  const key = kms.keys.get(m.keyId)
  if (session.expiresAt <= wallClock() || session.agreement === undefined) {
    return { writes: [closeSession], result: 'ignored' }
  }
  if (session.keyId !== m.keyId || session.peerRegion !== m.from || m.rakbPublicKey !== session.rakbPublicKey) {
    refuse('MaterialTransfer does not match the session it names')
  }
  if (
    !same(
      m.materials.map((x) => x.version),
      session.versions,
    )
  )
    refuse('MaterialTransfer carries other versions than were offered for')
  if (key?.mrk === undefined) refuse('no related key for this transfer')
  const alreadyHeld = m.materials.flatMap((x) => {
    const held = materialInfo(kms, m.keyId, x.version)
    if (held === undefined) return []
    if (held.materialId !== x.materialId) refuse(`material id of version ${x.version} differs from the one held`)
    return [kms.refOf(held)]
  })
  let tokens: Uint8Array[]
  try {
    tokens = await kms.hsm.unwrapTransfer(
      { sessionId: m.sessionId, partition: m.partition, sourceRegion: m.from, destinationRegion: kms.region, keyId: m.keyId },
      Buffer.from(m.rakaPublicKey, 'base64'),
      m.materials.map((x) => ({ materialVersion: x.version, materialId: x.materialId, wrapped: Buffer.from(x.wrapped, 'base64') })),
      alreadyHeld,
      key.keySpec,
      {
        publicKey: Buffer.from(session.rakbPublicKey, 'base64'),
        expiresAt: session.expiresAt,
        sealed: Buffer.from(session.agreement, 'base64'),
      },
    )
  } catch {
    // A session serves one transfer attempt: close it (reconciliation opens a new one)
    // and refuse the message.
    return { writes: [closeSession], result: { refused: 'the transferred material did not unwrap' } }
  }
  failpoint('transfer:after-unwrap')
  const writes: Write[] = [closeSession]
  const added: HeldVersion[] = []
  const newMaterials: MaterialRecord[] = []
  m.materials.forEach((x, i) => {
    const token = tokens[i]
    if (token === undefined || materialInfo(kms, m.keyId, x.version) !== undefined) return
    added.push({ version: x.version, materialId: x.materialId })
    const material: MaterialRecord = {
      keyId: m.keyId,
      version: x.version,
      materialId: x.materialId,
      createdAt: x.createdAt,
      ...(x.rotationType !== undefined ? { rotationType: x.rotationType } : {}),
      token,
    }
    newMaterials.push(material)
    writes.push({ kind: 'putMaterial', material })
  })
  const addedVersions = added.map((a) => a.version)
  let next: KeyRecord = key
  // Only the primary states shared properties: a transfer answered by another related
  // region (an old primary, say) carries that region's view, which is not authoritative.
  if (m.from === m.shared.primaryRegion && m.shared.syncVersion > key.mrk.syncVersion) next = applyShared(kms, key, m.shared, addedVersions)
  const heldNow = new Set([...(kms.materials.get(key.keyId) ?? []).map((x) => x.version), ...addedVersions])
  if (!heldNow.has(next.currentMaterialVersion)) next = { ...next, currentMaterialVersion: Math.max(...heldNow) }
  if (next.state === 'Creating') next = { ...next, state: 'Enabled' }
  const extraWrites: Write[] = []
  if (next.mrk?.role === 'PRIMARY') {
    // A new primary fetching the versions its predecessor made: with them here, a
    // rotation its replicas already hold can complete.
    const promoted = promotePendingRotationWith(
      kms,
      next,
      [...(kms.materials.get(key.keyId) ?? []), ...newMaterials].sort((a, b) => a.version - b.version),
    )
    next = promoted.key
    extraWrites.push(...promoted.writes)
  }
  writes.push({ kind: 'putKey', key: next }, ...extraWrites)
  // More versions than one session carries, or versions learnt meanwhile: ask at once.
  const stillMissing = (next.mrk?.knownVersions ?? []).filter((v) => !heldNow.has(v))
  if (stillMissing.length > 0) writes.push(...(await openSession(kms, next, next.mrk?.primaryRegion ?? m.from, stillMissing)))
  const held = [...heldVersions(kms, m.keyId), ...added].sort((a, b) => a.version - b.version)
  const replicationId = next.mrk?.replicationId
  if (replicationId !== undefined) {
    writes.push(queueMessage(kms, m.from, m.keyId, { type: 'TransferComplete', sessionId: m.sessionId, replicationId, held }))
  }
  writes.push(...syncAck(kms, next, held))
  return { writes, result: 'applied' }
}

//= docs/spec/replication.md#shared-state
async function onSharedState(kms: Kms, m: Extract<Message, { type: 'SharedState' }>): Promise<HandlerResult> {
  if (m.shared.primaryRegion !== m.from) refuse('SharedState must come from the primary it names')
  const key = kms.keys.get(m.keyId)
  if (key?.mrk === undefined) {
    const tombstone = kms.tombstones.get(m.keyId)
    if (tombstone !== undefined && m.shared.replicaRegions.includes(kms.region)) {
      // The primary still lists a replica deleted here: its ReplicaDeleted was lost.
      return {
        writes: [queueMessage(kms, m.from, m.keyId, { type: 'ReplicaDeleted', replicationId: tombstone.replicationId })],
        result: 'ignored',
      }
    }
    return { writes: [], result: 'ignored' }
  }
  if (m.shared.syncVersion <= key.mrk.syncVersion) {
    // Old or duplicate: acknowledge what we hold so the primary's view stays right.
    if (m.shared.syncVersion === key.mrk.syncVersion && key.mrk.role === 'REPLICA')
      return { writes: syncAck(kms, key), result: 'duplicate' }
    return { writes: [], result: 'duplicate' }
  }
  if (!m.shared.replicaRegions.includes(kms.region)) refuse('SharedState does not list this region as a replica')
  let next = applyShared(kms, key, m.shared)
  if (key.mrk.role === 'PRIMARY') {
    // The old primary of an UpdatePrimaryRegion becomes a replica here (spec §9.1); its
    // replication id is the handoff's, as the new primary recorded it.
    if (key.mrk.handoffTo !== m.from || key.mrk.handoffId === undefined)
      refuse('SharedState from a region this primary did not hand over to')
    next = {
      ...next,
      state: key.state === 'Updating' ? 'Enabled' : next.state,
      mrk: { ...(next.mrk as MultiRegionState), replicationId: key.mrk.handoffId },
    }
  }
  const withdrawn = withdrawnMaterialWrites(kms, key, m.shared)
  const writes: Write[] = [...withdrawn, { kind: 'putKey', key: next }]
  const missing = missingVersions(
    kms,
    m.keyId,
    m.shared.materials.map((x) => x.version),
  )
  if (missing.length > 0 && !hasOpenSession(kms, m.keyId)) writes.push(...(await openSession(kms, next, m.from, missing)))
  const gone = new Set(withdrawn.map((w) => (w.kind === 'deleteMaterial' ? w.version : -1)))
  writes.push(
    ...syncAck(
      kms,
      next,
      heldVersions(kms, m.keyId).filter((h) => !gone.has(h.version)),
    ),
  )
  return { writes, result: 'applied' }
}

//= docs/spec/replication.md#update-primary
async function onPrimaryHandoff(kms: Kms, m: Extract<Message, { type: 'PrimaryHandoff' }>): Promise<HandlerResult> {
  if (m.shared.primaryRegion !== kms.region) refuse('PrimaryHandoff does not name this region as the new primary')
  const key = kms.keys.get(m.keyId)
  const mrk = key?.mrk
  if (key === undefined || mrk === undefined) return { writes: [], result: 'ignored' }
  const refusal = (reason: string): Write => queueMessage(kms, m.from, m.keyId, { type: 'HandoffRefused', handoffId: m.handoffId, reason })
  // A handoff refused once stays refused, whatever arrives later: the old primary may
  // already have taken the refusal and gone on as primary.
  if (mrk.refusedHandoffs?.includes(m.handoffId) === true) return { writes: [refusal('refused before')], result: 'duplicate' }
  if (mrk.role === 'PRIMARY') return { writes: [], result: mrk.syncVersion >= m.shared.syncVersion ? 'duplicate' : 'ignored' }
  if (mrk.primaryRegion !== m.from || m.shared.syncVersion <= mrk.syncVersion) return { writes: [], result: 'ignored' }
  if (key.state !== 'Enabled') {
    const refused: KeyRecord = {
      ...key,
      mrk: { ...mrk, refusedHandoffs: [...(mrk.refusedHandoffs ?? []), m.handoffId].slice(-REFUSED_HANDOFFS_KEPT) },
    }
    return { writes: [{ kind: 'putKey', key: refused }, refusal(`the replica in ${kms.region} is ${key.state}`)], result: 'applied' }
  }
  const now = wallClock()
  const replicas: Record<string, ReplicaStatus> = {}
  const byRegion = new Map<string, ReplicaHandover>(m.replicas.map((r) => [r.region, r]))
  for (const region of m.shared.replicaRegions) {
    const handover = byRegion.get(region)
    // The old primary becomes a replica under the handoff's id; the others keep theirs.
    const replicationId = region === m.from ? m.handoffId : handover?.replicationId
    if (replicationId === undefined) refuse(`PrimaryHandoff does not describe the replica in ${region}`)
    const created = region === m.from || handover?.created === true
    const status: ReplicaStatus = { created, held: [], ackedSyncVersion: 0, replicationId, lastSentAt: now }
    if (!created && handover?.initial !== undefined) status.initial = handover.initial
    replicas[region] = status
  }
  const rotation = { ...key.rotation, enabled: m.shared.rotation.enabled, periodInDays: m.shared.rotation.periodInDays }
  if (m.shared.rotation.nextRotationAt !== undefined) rotation.nextRotationAt = m.shared.rotation.nextRotationAt
  const promoted: KeyRecord = {
    ...key,
    rotation,
    currentMaterialVersion: m.shared.currentVersion,
    mrk: {
      role: 'PRIMARY',
      primaryRegion: kms.region,
      replicaRegions: [...m.shared.replicaRegions],
      syncVersion: m.shared.syncVersion + 1,
      replicas,
      // What it must hold: versions the old primary made that have not reached it yet are
      // fetched, now and by reconciliation after a crash.
      knownVersions: versionsToFetch(m.shared),
    },
  }
  const writes: Write[] = []
  const missing = missingVersions(
    kms,
    m.keyId,
    m.shared.materials.map((x) => x.version),
  )
  if (missing.length > 0) {
    // Pending versions the old primary made: fetch them from it, now a replica.
    writes.push(...(await openSession(kms, promoted, m.from, missing)))
    const held = (kms.materials.get(m.keyId) ?? []).map((x) => x.version).filter((v) => v <= m.shared.currentVersion)
    promoted.currentMaterialVersion = Math.max(...held)
  }
  const shared = sharedStateOf(kms, promoted)
  for (const region of promoted.mrk?.replicaRegions ?? []) {
    const status = replicas[region]
    if (status?.created === true) writes.push(queueMessage(kms, region, m.keyId, { type: 'SharedState', shared }))
    else if (status?.initial !== undefined) {
      writes.push(
        queueMessage(kms, region, m.keyId, { type: 'ReplicaCreate', replicationId: status.replicationId, shared, replica: status.initial }),
      )
    }
  }
  writes.unshift({ kind: 'putKey', key: promoted })
  return { writes, result: 'applied' }
}

// ---------------------------------------------------------------------------------------
// Source and primary side

async function onAgreementOffer(kms: Kms, m: Extract<Message, { type: 'AgreementOffer' }>): Promise<HandlerResult> {
  const answered = kms.answered.get(m.sessionId)
  if (answered !== undefined) {
    if (answered.to !== m.from || answered.keyId !== m.keyId) refuse('session id reused')
    // A duplicate offer gets the identical answer; no second RAKA is made (spec §6.2).
    const message = JSON.parse(Buffer.from(answered.body).toString('utf8')) as { messageId: string; expiresAt: number }
    return {
      writes: [{ kind: 'putOutbox', message: { id: message.messageId, to: m.from, body: answered.body, expiresAt: message.expiresAt } }],
      result: 'duplicate',
    }
  }
  const key = kms.keys.get(m.keyId)
  if (key?.mrk === undefined) refuse('no related key in this region')
  const related = key.mrk.primaryRegion === m.from || key.mrk.replicaRegions.includes(m.from)
  if (!related) refuse('the offering region holds no related key')
  const materials: MaterialForTransfer[] = m.versions.map((version) => {
    const material = materialInfo(kms, m.keyId, version)
    if (material === undefined) refuse(`version ${version} is not held here`)
    return { ...kms.refOf(material), materialId: material.materialId }
  })
  //= docs/spec/replication.md#rwk
  //# HSM(A) creates ephemeral ECDH P-384 key RAKA, runs ECDH(RAKA, RAKB_pub), derives the RWK
  const { rakaPublicKey, wrapped } = await kms.hsm.wrapForTransfer(
    { sessionId: m.sessionId, partition: m.partition, sourceRegion: kms.region, destinationRegion: m.from, keyId: m.keyId },
    Buffer.from(m.rakbPublicKey, 'base64'),
    materials,
  )
  failpoint('transfer:after-wrap')
  const outbound = queueMessage(kms, m.from, m.keyId, {
    type: 'MaterialTransfer',
    sessionId: m.sessionId,
    rakaPublicKey: Buffer.from(rakaPublicKey).toString('base64'),
    rakbPublicKey: m.rakbPublicKey,
    materials: wrapped.map((w) => {
      const info = materialInfo(kms, m.keyId, w.materialVersion)
      return {
        version: w.materialVersion,
        materialId: w.materialId,
        createdAt: info?.createdAt ?? 0,
        ...(info?.rotationType !== undefined ? { rotationType: info.rotationType } : {}),
        wrapped: Buffer.from(w.wrapped).toString('base64'),
      }
    }),
    shared: sharedStateOf(kms, key),
  })
  if (outbound.kind !== 'putOutbox') throw new Error('unreachable')
  return {
    writes: [
      outbound,
      {
        kind: 'putAnswered',
        answered: { sessionId: m.sessionId, keyId: m.keyId, to: m.from, body: outbound.message.body, expiresAt: m.expiresAt },
      },
    ],
    result: 'applied',
  }
}

/** Makes a pending rotation current once every replica holds it (spec §7.3). */
export function promotePendingRotation(kms: Kms, key: KeyRecord): { key: KeyRecord; writes: Write[] } {
  return promotePendingRotationWith(kms, key, kms.materials.get(key.keyId) ?? [])
}

/** `materials`: what this region holds, including versions about to be committed. */
function promotePendingRotationWith(kms: Kms, key: KeyRecord, materials: readonly MaterialRecord[]): { key: KeyRecord; writes: Write[] } {
  const mrk = key.mrk
  // Not during a handoff: the role is moving, and the new primary decides (spec §9.1).
  if (mrk?.role !== 'PRIMARY' || mrk.handoffTo !== undefined) return { key, writes: [] }
  //= docs/spec/replication.md#imported-rotation
  // New imported material becomes current only through RotateKeyOnDemand.
  if (key.origin === 'EXTERNAL') return { key, writes: [] }
  const versions = materials.map((m) => m.version)
  const held = new Set(versions)
  // Nothing is made current that this region does not hold itself.
  if ((mrk.knownVersions ?? []).some((v) => !held.has(v))) return { key, writes: [] }
  const newest = Math.max(...versions)
  if (newest <= key.currentMaterialVersion) return { key, writes: [] }
  const everyoneHolds = mrk.replicaRegions.every((region) => mrk.replicas?.[region]?.held.includes(newest) === true)
  if (!everyoneHolds) return { key, writes: [] }
  const rotation = { ...key.rotation }
  delete rotation.onDemandStartedAt
  const promoted: KeyRecord = { ...key, currentMaterialVersion: newest, rotation, mrk: { ...mrk, syncVersion: mrk.syncVersion + 1 } }
  const broadcast = broadcastSharedState(kms, promoted, materials)
  return { key: broadcast.key, writes: broadcast.writes }
}

/** After a shared change on the primary: complete a pending rotation if it now can, and tell the replicas. */
function sharedStateChanged(kms: Kms, key: KeyRecord): Write[] {
  const promoted = promotePendingRotation(kms, key)
  const broadcast = promoted.writes.length > 0 ? promoted : broadcastSharedState(kms, promoted.key)
  return [{ kind: 'putKey', key: broadcast.key }, ...broadcast.writes]
}

function recordReplicaReport(
  kms: Kms,
  key: KeyRecord,
  region: string,
  replicationId: string,
  held: HeldVersion[],
  ackedSyncVersion?: number,
): KeyRecord | undefined {
  const mrk = key.mrk
  const status = mrk?.replicas?.[region]
  // A report from another incarnation of the replica (deleted, created again) says
  // nothing about this one.
  if (mrk?.role !== 'PRIMARY' || status === undefined || status.replicationId !== replicationId) return undefined
  // A version the primary holds counts only with the primary's material id; one it does
  // not hold yet (a new primary still fetching its predecessor's) is taken as reported,
  // and is checked when its material arrives here.
  const differs = (h: HeldVersion): boolean => {
    const mine = materialInfo(kms, key.keyId, h.version)
    return mine !== undefined && mine.materialId !== h.materialId
  }
  const confirmed = held.filter((h) => !differs(h)).map((h) => h.version)
  const mismatch = held.some(differs)
  // A replica of imported material holds nothing it was sent: its first report says it exists.
  const created = status.created || confirmed.length > 0 || key.origin === 'EXTERNAL'
  const { initial: _sent, ...rest } = status
  const next: ReplicaStatus = {
    ...(created ? rest : status),
    created,
    // A replica's versions only grow, so an old or replayed report cannot take any away.
    held: [...new Set([...status.held, ...confirmed])].sort((a, b) => a - b),
    ackedSyncVersion: Math.max(status.ackedSyncVersion, ackedSyncVersion ?? 0),
    lastSyncedAt: wallClock(),
  }
  if (mismatch) next.note = 'the replica reported material ids that differ from the primary'
  else delete next.note
  return { ...key, mrk: { ...mrk, replicas: { ...mrk.replicas, [region]: next } } }
}

function onReplicaReport(kms: Kms, m: Extract<Message, { type: 'TransferComplete' | 'SyncAck' }>): HandlerResult {
  const key = kms.keys.get(m.keyId)
  if (key === undefined) return { writes: [], result: 'ignored' }
  const updated = recordReplicaReport(kms, key, m.from, m.replicationId, m.held, m.type === 'SyncAck' ? m.syncVersion : undefined)
  if (updated === undefined) return { writes: [], result: 'ignored' }
  const { key: promoted, writes } = promotePendingRotation(kms, updated)
  return { writes: [{ kind: 'putKey', key: promoted }, ...writes], result: 'applied' }
}

function onHandoffRefused(kms: Kms, m: Extract<Message, { type: 'HandoffRefused' }>): HandlerResult {
  const key = kms.keys.get(m.keyId)
  const mrk = key?.mrk
  // Only a refusal of the handoff under way counts; one of an earlier attempt is stale.
  if (key === undefined || mrk?.role !== 'PRIMARY' || mrk.handoffTo !== m.from || mrk.handoffId !== m.handoffId)
    return { writes: [], result: 'ignored' }
  const { handoffTo: _to, handoffId: _id, ...rest } = mrk
  // The refused handoff's sync version is spent: restoring moves past it.
  const restored: KeyRecord = {
    ...key,
    state: key.state === 'Updating' ? 'Enabled' : key.state,
    mrk: { ...rest, syncVersion: rest.syncVersion + 2 },
  }
  return { writes: sharedStateChanged(kms, restored), result: 'applied' }
}

//= docs/spec/replication.md#deletion
function onReplicaDeleted(kms: Kms, m: Extract<Message, { type: 'ReplicaDeleted' }>): HandlerResult {
  const key = kms.keys.get(m.keyId)
  const mrk = key?.mrk
  if (key === undefined || mrk?.role !== 'PRIMARY' || !mrk.replicaRegions.includes(m.from)) return { writes: [], result: 'ignored' }
  // Only the replica it names: a replayed notice of an earlier, deleted incarnation must
  // not remove the live one.
  if (mrk.replicas?.[m.from]?.replicationId !== m.replicationId) return { writes: [], result: 'ignored' }
  const replicas = { ...(mrk.replicas ?? {}) }
  delete replicas[m.from]
  let next: KeyRecord = {
    ...key,
    mrk: { ...mrk, replicaRegions: mrk.replicaRegions.filter((r) => r !== m.from), replicas, syncVersion: mrk.syncVersion + 1 },
  }
  if (next.state === 'PendingReplicaDeletion' && next.mrk?.replicaRegions.length === 0) {
    // The primary's own waiting period starts when its last replica is gone.
    next = { ...next, state: 'PendingDeletion', deletionAt: kms.clock.now() + (next.pendingWindowInDays ?? 30) * 86_400_000 }
  }
  return { writes: sharedStateChanged(kms, next), result: 'applied' }
}

export async function handleMessage(kms: Kms, message: Message): Promise<HandlerResult> {
  switch (message.type) {
    case 'ReplicaCreate':
      return onReplicaCreate(kms, message)
    case 'AgreementOffer':
      return onAgreementOffer(kms, message)
    case 'MaterialTransfer':
      return onMaterialTransfer(kms, message)
    case 'TransferComplete':
    case 'SyncAck':
      return onReplicaReport(kms, message)
    case 'SharedState':
      return onSharedState(kms, message)
    case 'PrimaryHandoff':
      return onPrimaryHandoff(kms, message)
    case 'HandoffRefused':
      return onHandoffRefused(kms, message)
    case 'ReplicaDeleted':
      return onReplicaDeleted(kms, message)
  }
}
