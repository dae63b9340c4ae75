import { epochSeconds, type Operation, type Output } from '../operation.js'
import { pageOutput, paginate } from '../paging.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'
import { requireRotatable } from '../materials.js'

export const listKeyRotations: Operation<'ListKeyRotations'> = {
  name: 'ListKeyRotations',
  members: ['KeyId', 'IncludeKeyMaterial', 'Limit', 'Marker'],
  access: keyAccess('ListKeyRotations', { allowAlias: false }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    requireRotatable(key, kms.arnOf(key.keyId))
    const includeAll = input.IncludeKeyMaterial === 'ALL_KEY_MATERIAL'
    // A version newer than the current one is a rotation still waiting for replicas
    // (docs/spec/replication.md#rotation): listed only with ALL_KEY_MATERIAL.
    const versions = (kms.materials.get(key.keyId) ?? []).filter(
      (m) => includeAll || (m.rotationType !== undefined && m.version <= key.currentMaterialVersion),
    )
    const entries = versions.map((m) => {
      const entry: Output = { KeyId: key.keyId, KeyMaterialId: m.materialId }
      entry.KeyMaterialState =
        m.version === key.currentMaterialVersion ? 'CURRENT' : m.version > key.currentMaterialVersion ? 'PENDING_ROTATION' : 'NON_CURRENT'
      if (m.rotationType !== undefined) {
        entry.RotationDate = epochSeconds(m.createdAt)
        entry.RotationType = m.rotationType
      }
      return entry
    })
    return Promise.resolve(pageOutput('Rotations', paginate(entries, input.Limit, input.Marker, 'rotations')))
  },
}
