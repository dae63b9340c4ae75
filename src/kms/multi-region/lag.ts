/**
 * How far each replica of a multi-Region key is behind its primary, as the primary's
 * region knows it (docs/spec/replication.md §12): the same reading as
 * TrentAdmin.DescribeReplication, for the metrics (docs/metrics.md).
 *
 * @module
 */
import type { KeyRecord, KeyState, MultiRegionState, ReplicaStatus } from '../../storage/records.js'
import type { Kms } from '../kms.js'

export type ReplicaSyncState = 'IN_SYNC' | 'PENDING' | 'CREATING'

/** What the primary's region knows of one replica, in numbers. */
export interface ReplicaLagReading {
  keyId: string
  replicaRegion: string
  syncVersionsBehind: number
  missingMaterialVersions: number
  state: ReplicaSyncState
  lastSyncedAt?: number
}

/** The material versions the primary holds that the replica has not reported holding. */
export function lackingVersions(versions: readonly number[], status: ReplicaStatus | undefined): number[] {
  const held = status?.held ?? []
  return versions.filter((v) => !held.includes(v))
}

/**
 * CREATING until the replica has its material; IN_SYNC once it holds every version and
 * acknowledged the newest shared state; PENDING in between.
 */
export function replicaSyncState(versions: readonly number[], mrk: MultiRegionState, status: ReplicaStatus | undefined): ReplicaSyncState {
  if (status?.created !== true) return 'CREATING'
  const newest = Math.max(0, ...versions)
  const behind = lackingVersions(versions, status).length > 0 || status.ackedSyncVersion < mrk.syncVersion
  return !behind && status.held.includes(newest) ? 'IN_SYNC' : 'PENDING'
}

/** One reading per replica of every multi-Region key whose primary is in this region. */
export function replicationLag(kms: Kms): ReplicaLagReading[] {
  const readings: ReplicaLagReading[] = []
  for (const key of kms.keys.values()) readings.push(...keyLag(kms, key))
  return readings
}

function keyLag(kms: Kms, key: KeyRecord): ReplicaLagReading[] {
  const mrk = key.mrk
  if (mrk?.role !== 'PRIMARY') return []
  const versions = (kms.materials.get(key.keyId) ?? []).map((m) => m.version)
  return mrk.replicaRegions.map((replicaRegion) => {
    const status = mrk.replicas?.[replicaRegion]
    const reading: ReplicaLagReading = {
      keyId: key.keyId,
      replicaRegion,
      syncVersionsBehind: Math.max(0, mrk.syncVersion - (status?.ackedSyncVersion ?? 0)),
      missingMaterialVersions: lackingVersions(versions, status).length,
      state: replicaSyncState(versions, mrk, status),
    }
    if (status?.lastSyncedAt !== undefined) reading.lastSyncedAt = status.lastSyncedAt
    return reading
  })
}

const KEY_STATES = [
  'Creating',
  'Enabled',
  'Disabled',
  'PendingDeletion',
  'PendingImport',
  'PendingReplicaDeletion',
  'Unavailable',
  'Updating',
] as const satisfies readonly KeyState[]

/** The region's keys by state, every state listed (zeros included, so no series vanishes). */
export function keysByState(kms: Kms): Map<string, number> {
  const counts = new Map<string, number>(KEY_STATES.map((state) => [state, 0]))
  for (const key of kms.keys.values()) counts.set(key.state, (counts.get(key.state) ?? 0) + 1)
  return counts
}
