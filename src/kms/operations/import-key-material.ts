import { KmsError } from '../../wire/errors.js'
import type { KeyRecord, MaterialRecord } from '../../storage/records.js'
import { keyAccess } from '../access.js'
import { hsmErrorCode } from '../crypto-keys.js'
import { importedOnPrimaryWrites, requireExternalOrigin } from '../imported-material.js'
import { checkKeyState } from '../key-state.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

const MAX_VALID_TO_MS = 365 * 24 * 60 * 60 * 1000
/** Imported material is version 1: imported keys are not rotated here (docs/spec/key-token.md §5). */
const IMPORTED_VERSION = 1

function differentMaterial(): KmsError {
  return new KmsError(
    'IncorrectKeyMaterialException',
    'The key material in the request is different from the key material previously imported into this KMS key or its related multi-Region keys.',
  )
}

/** The HSM's import failures, as AWS names them. */
function importFailure(err: unknown): unknown {
  switch (hsmErrorCode(err)) {
    case 'IMPORT_TOKEN_INVALID':
      return new KmsError('InvalidImportTokenException', 'The import token is invalid for this KMS key.')
    case 'IMPORT_TOKEN_EXPIRED':
      return new KmsError('ExpiredImportTokenException', 'The import token has expired. Call GetParametersForImport to get a new one.')
    case 'DECRYPT_FAILED':
      return new KmsError('InvalidCiphertextException', 'The encrypted key material could not be unwrapped with the import token\'s wrapping key.')
    case 'INCORRECT_MATERIAL':
      return new KmsError('IncorrectKeyMaterialException', 'The key material is not valid key material for the key spec of this KMS key.')
    default:
      return err
  }
}

export const importKeyMaterial: Operation<'ImportKeyMaterial'> = {
  name: 'ImportKeyMaterial',
  members: [
    'KeyId',
    'ImportToken',
    'EncryptedKeyMaterial',
    'ValidTo',
    'ExpirationModel',
    'ImportType',
    'KeyMaterialDescription',
    'KeyMaterialId',
  ],
  access: keyAccess('ImportKeyMaterial', {
    allowAlias: false,
    conditionMembers: { 'kms:ExpirationModel': 'ExpirationModel', 'kms:ValidTo': 'ValidTo' },
  }),
  async handle(kms, input) {
    const keyIdInput = input.KeyId
    const expirationModel = (input.ExpirationModel ?? 'KEY_MATERIAL_EXPIRES') as 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE'
    const validToSeconds = input.ValidTo
    if (expirationModel === 'KEY_MATERIAL_EXPIRES' && validToSeconds === undefined) {
      throw new KmsError('ValidationException', 'A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES')
    }
    if (expirationModel === 'KEY_MATERIAL_DOES_NOT_EXPIRE' && validToSeconds !== undefined) {
      throw new KmsError('ValidationException', 'A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE')
    }
    const now = kms.clock.now()
    const validTo = validToSeconds === undefined ? undefined : Math.round(validToSeconds * 1000)
    if (validTo !== undefined && (validTo <= now || validTo > now + MAX_VALID_TO_MS)) {
      throw new KmsError('ValidationException', 'ValidTo must be in the future and at most 365 days from now.')
    }
    if (input.ImportType === 'NEW_KEY_MATERIAL' && (kms.keys.get(keyIdInput)?.imported?.materialId !== undefined)) {
      throw new KmsError('UnsupportedOperationException', 'Importing new key material into a KMS key that already has key material (rotation of imported material) is not supported by this KMS.')
    }
    const importToken = input.ImportToken ?? new Uint8Array()
    const encryptedKeyMaterial = input.EncryptedKeyMaterial ?? new Uint8Array()
    const requestedMaterialId = input.KeyMaterialId

    const materialId = await kms.mutate(async () => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      requireExternalOrigin(key, arn)
      checkKeyState('import-material', key.state, arn)
      let imported: { token: Uint8Array; materialId: string }
      try {
        imported = await kms.hsm.keyOperation('importKeyMaterial', {
          keyId: key.keyId,
          keySpec: key.keySpec,
          materialVersion: IMPORTED_VERSION,
          importToken,
          encryptedKeyMaterial,
          now: kms.clock.now(),
        })
      } catch (err) {
        throw importFailure(err)
      }
      //= docs/spec/key-token.md#5-imported-material
      // The id is a function of the key id and the material: a different id is different
      // material, whether the earlier import was here or in the primary's region.
      const expected = key.imported?.materialId
      if (expected !== undefined && expected !== imported.materialId) throw differentMaterial()
      if (requestedMaterialId !== undefined && requestedMaterialId !== imported.materialId) throw differentMaterial()
      if (key.mrk?.role === 'REPLICA' && expected === undefined) {
        throw new KmsError('KMSInvalidStateException', `${arn} cannot take key material before its primary key's key material is known here.`)
      }
      const held = kms.materialOf(key.keyId, IMPORTED_VERSION)
      const material: MaterialRecord = {
        keyId: key.keyId,
        version: IMPORTED_VERSION,
        materialId: imported.materialId,
        createdAt: held?.createdAt ?? now,
        token: imported.token,
      }
      const description = input.KeyMaterialDescription
      const next: KeyRecord = {
        ...key,
        state: key.state === 'PendingImport' ? 'Enabled' : key.state,
        currentMaterialVersion: IMPORTED_VERSION,
        imported: {
          ...key.imported,
          materialId: imported.materialId,
          expirationModel,
          ...(validTo !== undefined ? { validTo } : {}),
          importedAt: now,
          ...(description !== undefined ? { description } : {}),
        },
      }
      if (validTo === undefined && next.imported !== undefined) delete next.imported.validTo
      return { writes: [{ kind: 'putMaterial', material }, ...importedOnPrimaryWrites(kms, next)], result: imported.materialId }
    })
    return { KeyId: kms.arnOf(resolveKey(kms, keyIdInput, { allowAlias: false }).keyId), KeyMaterialId: materialId }
  },
}
