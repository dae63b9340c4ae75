import { resolveKey } from '../resolve-key.js'
import { KmsError } from '../../wire/errors.js'
import { lackingVersions, replicaSyncState } from '../multi-region/lag.js'
import { epochSeconds, requiredStringMember, type AdminOperation, type Output } from '../operation.js'

/**
 * TrentAdmin.DescribeReplication: the sync state of a multi-Region key as this region
 * sees it (docs/spec/replication.md §12). In the primary's region: each replica's held
 * versions, acknowledged sync version, last sync and what is pending; in a replica's
 * region: its own view.
 */
export const describeReplication: AdminOperation = {
  name: 'DescribeReplication',
  handle(kms, input) {
    const key = resolveKey(kms, requiredStringMember(input, 'KeyId', 2048), { allowAlias: true })
    const mrk = key.mrk
    if (mrk === undefined) throw new KmsError('UnsupportedOperationException', `${kms.arnOf(key.keyId)} is not a multi-Region key.`)
    const versions = (kms.materials.get(key.keyId) ?? []).map((m) => m.version)
    const out: Output = {
      KeyId: kms.arnOf(key.keyId),
      Region: kms.region,
      Role: mrk.role,
      KeyState: key.state,
      PrimaryRegion: mrk.primaryRegion,
      SyncVersion: mrk.syncVersion,
      MaterialVersions: versions,
      CurrentMaterialVersion: key.currentMaterialVersion,
    }
    if (mrk.role === 'PRIMARY') {
      out.PendingMaterialVersions = versions.filter((v) => v > key.currentMaterialVersion)
      out.Replicas = mrk.replicaRegions.map((region) => {
        const status = mrk.replicas?.[region]
        const held = status?.held ?? []
        const pending: string[] = []
        if (status?.created !== true) pending.push('creation: the replica has not received its key material yet')
        const lacking = lackingVersions(versions, status)
        if (status?.created === true && lacking.length > 0) pending.push(`material versions ${lacking.join(', ')}`)
        if ((status?.ackedSyncVersion ?? 0) < mrk.syncVersion)
          pending.push(`shared state ${mrk.syncVersion} (acknowledged ${status?.ackedSyncVersion ?? 0})`)
        const entry: Output = {
          Region: region,
          State: replicaSyncState(versions, mrk, status),
          MaterialVersions: held,
          AcknowledgedSyncVersion: status?.ackedSyncVersion ?? 0,
          Pending: pending,
        }
        if (status?.lastSyncedAt !== undefined) entry.LastSyncedAt = epochSeconds(status.lastSyncedAt)
        if (status?.note !== undefined) entry.Note = status.note
        return entry
      })
    } else {
      const held = new Set(versions)
      out.MissingMaterialVersions = (mrk.knownVersions ?? []).filter((v) => !held.has(v))
      out.OpenSessions = [...kms.sessions.values()].filter((s) => s.keyId === key.keyId).length
    }
    return Promise.resolve(out)
  },
}
