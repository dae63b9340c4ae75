import { KmsError } from '../../wire/errors.js'
import type { Write } from '../../storage/records.js'
import { keyAccess } from '../access.js'
import { deleteMaterialWrites, heldHere, importedVersions, requireExternalOrigin } from '../imported-material.js'
import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

export const deleteImportedKeyMaterial: Operation<'DeleteImportedKeyMaterial'> = {
  name: 'DeleteImportedKeyMaterial',
  members: ['KeyId', 'KeyMaterialId'],
  access: keyAccess('DeleteImportedKeyMaterial', { allowAlias: false }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const requestedMaterialId = input.KeyMaterialId
    const result = await kms.mutate((): { writes: Write[]; result: { arn: string; materialId: string | undefined } } => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      requireExternalOrigin(key, arn)
      checkKeyState('delete-imported', key.state, arn)
      const versions = importedVersions(key)
      // "If no KeyMaterialId is specified, KMS deletes the current key material."
      const target =
        requestedMaterialId === undefined
          ? versions.find((v) => v.version === key.currentMaterialVersion)
          : versions.find((v) => v.materialId === requestedMaterialId)
      if (requestedMaterialId !== undefined && target === undefined) {
        throw new KmsError('NotFoundException', `Key material ${requestedMaterialId} does not exist for ${arn}.`)
      }
      if (target === undefined) return { writes: [], result: { arn, materialId: undefined } }
      // Material this region does not hold (PendingImport, or deleted before): nothing to
      // delete, and no error (key-state table). New material pending rotation is withdrawn
      // on a primary even when only listed.
      const pendingOnPrimary = target.version > key.currentMaterialVersion && key.mrk?.role !== 'REPLICA'
      const writes = heldHere(kms, key, target.version) || pendingOnPrimary ? deleteMaterialWrites(kms, key, target.version) : []
      return { writes, result: { arn, materialId: target.materialId } }
    }, context.auditIntent)
    return { KeyId: result.arn, ...(result.materialId !== undefined ? { KeyMaterialId: result.materialId } : {}) }
  },
}
