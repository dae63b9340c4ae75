import type { KeyRecord } from '../../storage/records.js'
import { epochSeconds, type Operation, type Output } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'
import { requireRotatable } from '../materials.js'
import { heldHere, importedVersions, materialState } from '../imported-material.js'
import type { Kms } from '../kms.js'

/**
 * Imported material (RotationsListEntry): each material with its import state here, its
 * state in the key, its expiry and description. ROTATIONS_ONLY lists the materials a
 * rotation made current; ALL_KEY_MATERIAL adds the first one and new material pending rotation.
 */
function importedEntries(kms: Kms, key: KeyRecord, includeAll: boolean): Output[] {
  return importedVersions(key)
    .filter((v) => includeAll || v.rotationType !== undefined)
    .map((v) => {
      const held = heldHere(kms, key, v.version)
      const entry: Output = { KeyId: key.keyId, KeyMaterialId: v.materialId }
      if (v.description !== undefined) entry.KeyMaterialDescription = v.description
      entry.ImportState = held ? 'IMPORTED' : 'PENDING_IMPORT'
      entry.KeyMaterialState = materialState(key, v.version)
      if (held && v.expirationModel !== undefined) {
        entry.ExpirationModel = v.expirationModel
        if (v.expirationModel === 'KEY_MATERIAL_EXPIRES' && v.validTo !== undefined) entry.ValidTo = epochSeconds(v.validTo)
      }
      if (v.rotationType !== undefined && v.rotatedAt !== undefined) {
        entry.RotationDate = epochSeconds(v.rotatedAt)
        entry.RotationType = v.rotationType
      }
      return entry
    })
}

export const listKeyRotations: Operation<'ListKeyRotations'> = {
  name: 'ListKeyRotations',
  members: ['KeyId', 'IncludeKeyMaterial', 'Limit', 'Marker'],
  access: keyAccess('ListKeyRotations', { allowAlias: false }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    requireRotatable(key, kms.arnOf(key.keyId), true)
    const includeAll = input.IncludeKeyMaterial === 'ALL_KEY_MATERIAL'
    let entries: Output[]
    if (key.origin === 'EXTERNAL') {
      entries = importedEntries(kms, key, includeAll)
    } else {
      // A version newer than the current one is a rotation still waiting for replicas
      // (docs/spec/replication.md#rotation): listed only with ALL_KEY_MATERIAL.
      const versions = (kms.materials.get(key.keyId) ?? []).filter(
        (m) => includeAll || (m.rotationType !== undefined && m.version <= key.currentMaterialVersion),
      )
      entries = versions.map((m) => {
        const entry: Output = { KeyId: key.keyId, KeyMaterialId: m.materialId }
        entry.KeyMaterialState =
          m.version === key.currentMaterialVersion ? 'CURRENT' : m.version > key.currentMaterialVersion ? 'PENDING_ROTATION' : 'NON_CURRENT'
        if (m.rotationType !== undefined) {
          entry.RotationDate = epochSeconds(m.createdAt)
          entry.RotationType = m.rotationType
        }
        return entry
      })
    }
    return Promise.resolve(pageOutput('Rotations', paginate(entries, input.Limit, input.Marker, 'rotations')))
  },
}
