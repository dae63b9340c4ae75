import { KmsError } from '../../wire/errors.js'
import { keyAccess } from '../access.js'
import { removeImportedMaterialWrites, requireExternalOrigin } from '../imported-material.js'
import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

export const deleteImportedKeyMaterial: Operation<'DeleteImportedKeyMaterial'> = {
  name: 'DeleteImportedKeyMaterial',
  members: ['KeyId', 'KeyMaterialId'],
  access: keyAccess('DeleteImportedKeyMaterial', { allowAlias: false }),
  async handle(kms, input) {
    const keyIdInput = input.KeyId
    const requestedMaterialId = input.KeyMaterialId
    const result = await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      requireExternalOrigin(key, arn)
      checkKeyState('delete-imported', key.state, arn)
      const materialId = key.imported?.materialId
      if (requestedMaterialId !== undefined && requestedMaterialId !== materialId) {
        throw new KmsError('NotFoundException', `Key material ${requestedMaterialId} does not exist for ${arn}.`)
      }
      // PendingImport: nothing to delete, and no error (key-state table).
      const writes = (kms.materials.get(key.keyId)?.length ?? 0) > 0 ? removeImportedMaterialWrites(kms, key) : []
      return { writes, result: { arn, materialId } }
    })
    return { KeyId: result.arn, ...(result.materialId !== undefined ? { KeyMaterialId: result.materialId } : {}) }
  },
}
