/**
 * Imported key material (origin EXTERNAL; reference §4.8, docs/spec/key-token.md §5–§6,
 * docs/imported-material.md): the checks the import operations share, the list of a key's
 * materials and their states, and what deleting or expiring material does.
 *
 * A key's materials are listed in `key.imported.versions`; a material is held in this
 * region (ImportState IMPORTED) while its key token is stored, and is PENDING_IMPORT once
 * deleted or expired. Versions up to `currentMaterialVersion` are permanently associated
 * with the key; a newer one is new material waiting for RotateKeyOnDemand.
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'
import type { ImportedMaterialState, ImportedVersion, KeyRecord, KeyState, Write } from '../storage/records.js'
import type { Kms } from './kms.js'
import { recordedServiceChange } from './service-events.js'
import { sharedChangeWrites } from './materials.js'

/** Import operations need a key of imported material (footnote [9]). */
export function requireExternalOrigin(key: KeyRecord, arn: string): void {
  if (key.origin !== 'EXTERNAL') {
    throw new KmsError('UnsupportedOperationException', `${arn} origin is ${key.origin} which is not valid for this operation.`)
  }
}

/**
 * Every material of the key, ascending by version. A record written before materials were
 * listed describes its one material (the current version) in the fields of `imported`.
 */
export function importedVersions(key: KeyRecord): ImportedVersion[] {
  const imported = key.imported
  if (imported?.versions !== undefined) return imported.versions
  if (imported?.materialId === undefined) return []
  const legacy: ImportedVersion = { version: key.currentMaterialVersion, materialId: imported.materialId }
  if (imported.description !== undefined) legacy.description = imported.description
  if (imported.expirationModel !== undefined) legacy.expirationModel = imported.expirationModel
  if (imported.validTo !== undefined) legacy.validTo = imported.validTo
  if (imported.importedAt !== undefined) legacy.importedAt = imported.importedAt
  return [legacy]
}

/** The material imported for rotation and not yet made current, if any (at most one at a time). */
export function pendingVersion(key: KeyRecord): ImportedVersion | undefined {
  return importedVersions(key).find((v) => v.version > key.currentMaterialVersion)
}

export function heldHere(kms: Kms, key: KeyRecord, version: number): boolean {
  return kms.materialOf(key.keyId, version) !== undefined
}

/**
 * The replica regions that have not reported holding `version` (primary only): until none
 * is left, new material is PENDING_MULTI_REGION_IMPORT_AND_ROTATION and cannot be rotated
 * to (docs/spec/replication.md#imported-rotation).
 */
export function replicasLacking(key: KeyRecord, version: number): string[] {
  const mrk = key.mrk
  if (mrk?.role !== 'PRIMARY') return []
  return mrk.replicaRegions.filter((region) => mrk.replicas?.[region]?.held.includes(version) !== true)
}

export type KeyMaterialState = 'CURRENT' | 'NON_CURRENT' | 'PENDING_ROTATION' | 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION'

/** KeyMaterialState of one material as ListKeyRotations shows it. */
export function materialState(key: KeyRecord, version: number): KeyMaterialState {
  if (version === key.currentMaterialVersion) return 'CURRENT'
  if (version < key.currentMaterialVersion) return 'NON_CURRENT'
  // A replica cannot see whether the other replicas hold new material: only its primary
  // can, so a replica always shows the multi-Region pending state [DESIGN].
  if (key.mrk?.role === 'REPLICA') return 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION'
  return replicasLacking(key, version).length > 0 ? 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION' : 'PENDING_ROTATION'
}

/**
 * The key with `versions` as its list of materials, and every summary field derived from
 * it: `materialId` (the first material's), and the expiry of the materials permanently
 * associated with the key that this region holds (DescribeKey's ExpirationModel and
 * ValidTo: the earliest expiry of any of them).
 */
export function withVersions(
  key: KeyRecord,
  versions: ImportedVersion[],
  held: (version: number) => boolean,
  lastVersion?: number,
): KeyRecord {
  const sorted = [...versions].sort((a, b) => a.version - b.version)
  const imported: ImportedMaterialState = { versions: sorted }
  const first = sorted[0]
  if (first !== undefined) imported.materialId = first.materialId
  const last = Math.max(lastVersion ?? 0, key.imported?.lastVersion ?? 0, ...sorted.map((v) => v.version))
  if (last > 0) imported.lastVersion = last
  const associated = sorted.filter((v) => v.version <= key.currentMaterialVersion && held(v.version))
  if (associated.length > 0) {
    const expiring = associated.filter((v) => v.expirationModel === 'KEY_MATERIAL_EXPIRES' && v.validTo !== undefined)
    imported.expirationModel = expiring.length > 0 ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE'
    if (expiring.length > 0) imported.validTo = Math.min(...expiring.map((v) => v.validTo ?? Infinity))
    const newest = Math.max(...associated.map((v) => v.importedAt ?? 0))
    if (newest > 0) imported.importedAt = newest
  }
  return { ...key, imported }
}

/**
 * The key state that follows from which materials this region holds: a key that lacks any
 * material permanently associated with it is PendingImport (AWS: "you will need to import
 * all of the key materials associated with the KMS key to change its state to Enabled"),
 * and becomes Enabled again once it holds them all. Pending deletion and the transient
 * states are left alone.
 */
export function stateForMaterials(key: KeyRecord, held: (version: number) => boolean): KeyState {
  const associated = importedVersions(key).filter((v) => v.version <= key.currentMaterialVersion)
  const complete = associated.length > 0 && associated.every((v) => held(v.version))
  if (key.state === 'PendingImport') return complete ? 'Enabled' : 'PendingImport'
  if (!complete && (key.state === 'Enabled' || key.state === 'Disabled')) return 'PendingImport'
  return key.state
}

/**
 * The writes that delete this region's copy of one material. Material permanently
 * associated with the key stays listed (PENDING_IMPORT) and the key goes back to
 * PendingImport, unless it is pending deletion; only the same material may come back.
 * New material still pending rotation is not associated with the key (AWS: it "can be
 * deleted and different key material imported in its place"): deleting it on a primary
 * withdraws it in every region, through the shared state; on a replica it only removes
 * this region's copy, which the primary still lists.
 */
export function deleteMaterialWrites(kms: Kms, key: KeyRecord, version: number): Write[] {
  const writes: Write[] = []
  if (heldHere(kms, key, version)) writes.push({ kind: 'deleteMaterial', keyId: key.keyId, version })
  const held = (v: number): boolean => v !== version && heldHere(kms, key, v)
  const pending = version > key.currentMaterialVersion
  if (pending && key.mrk?.role !== 'REPLICA') {
    const withdrawn = withVersions(
      key,
      importedVersions(key).filter((v) => v.version !== version),
      held,
    )
    return [...writes, ...importedChangeWrites(kms, withdrawn, true)]
  }
  const versions = importedVersions(key).map((v) => {
    if (v.version !== version) return v
    const { expirationModel: _model, validTo: _validTo, ...rest } = v
    return rest
  })
  const next = withVersions(key, versions, held)
  const state = pending ? next.state : stateForMaterials(next, held)
  return [...writes, { kind: 'putKey', key: { ...next, state } }]
}

/** Deletes each imported material whose ValidTo has passed (reference §4.8). */
export async function expireImportedMaterial(kms: Kms): Promise<string[]> {
  const now = kms.clock.now()
  const dueVersions = (key: KeyRecord | undefined): number[] =>
    key === undefined || key.origin !== 'EXTERNAL'
      ? []
      : importedVersions(key)
          .filter((v) => v.validTo !== undefined && v.validTo <= now && heldHere(kms, key, v.version))
          .map((v) => v.version)
  const due = [...kms.keys.values()].filter((key) => dueVersions(key).length > 0).map((key) => key.keyId)
  for (const keyId of due) {
    for (const version of dueVersions(kms.keys.get(keyId))) {
      // AWS records the expiry as a DeleteExpiredKeyMaterial service event.
      await recordedServiceChange(kms, 'DeleteExpiredKeyMaterial', keyId, (auditIntent) =>
        kms.mutate(() => {
          const key = kms.keys.get(keyId)
          const writes = key !== undefined && dueVersions(key).includes(version) ? deleteMaterialWrites(kms, key, version) : []
          return { writes, result: writes.length > 0 }
        }, auditIntent),
      )
    }
  }
  return due
}

/**
 * After a change to the list of materials: a primary tells its replicas when the list
 * itself changed (`listChanged`: a first import, new material, a withdrawal, a rotation),
 * so they learn the ids to check their own imports against. An import, expiry or deletion
 * of this region's own copy is its own business (reference §4.8): nothing is sent for it.
 */
export function importedChangeWrites(kms: Kms, key: KeyRecord, listChanged: boolean): Write[] {
  return key.mrk?.role === 'PRIMARY' && listChanged ? sharedChangeWrites(kms, key) : [{ kind: 'putKey', key }]
}
