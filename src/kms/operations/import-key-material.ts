import { KmsError } from '../../wire/errors.js'
import type { ImportedVersion, KeyRecord, MaterialRecord, Write } from '../../storage/records.js'
import { keyAccess } from '../access.js'
import { hsmErrorCode } from '../crypto-keys.js'
import {
  heldHere,
  importedChangeWrites,
  importedVersions,
  pendingVersion,
  requireExternalOrigin,
  stateForMaterials,
  withVersions,
} from '../imported-material.js'
import { checkKeyState } from '../key-state.js'
import type { Kms } from '../kms.js'
import { replicaReport } from '../multi-region/handlers.js'
import { heldVersions } from '../multi-region/outbound.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

const MAX_VALID_TO_MS = 365 * 24 * 60 * 60 * 1000

type ImportType = 'NEW_KEY_MATERIAL' | 'EXISTING_KEY_MATERIAL'

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
      return new KmsError(
        'InvalidCiphertextException',
        "The encrypted key material could not be unwrapped with the import token's wrapping key.",
      )
    case 'INCORRECT_MATERIAL':
      return new KmsError('IncorrectKeyMaterialException', 'The key material is not valid key material for the key spec of this KMS key.')
    default:
      return err
  }
}

/**
 * The checks that need only the key and the request, made before the HSM is asked to
 * unwrap anything. They run on the resolved key, so a key ARN gets exactly the checks a
 * key id gets.
 */
function checkRequest(
  key: KeyRecord,
  arn: string,
  importType: ImportType,
  explicitType: boolean,
  requestedMaterialId: string | undefined,
): void {
  const known = importedVersions(key)
  if (importType === 'NEW_KEY_MATERIAL') {
    // ImportKeyMaterial's KeyMaterialId: "You cannot specify a key material ID with
    // ImportType set to NEW_KEY_MATERIAL."
    if (requestedMaterialId !== undefined) {
      throw new KmsError('ValidationException', 'KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.')
    }
    if (key.mrk?.role === 'REPLICA') {
      // "You cannot directly import new key material into the replica Region keys."
      throw new KmsError(
        'UnsupportedOperationException',
        `${arn} is a multi-Region replica key: import new key material into its primary key, then the same key material into each replica key with ImportType EXISTING_KEY_MATERIAL.`,
      )
    }
    if (known.length > 0 && key.keySpec !== 'SYMMETRIC_DEFAULT') {
      // "For asymmetric and HMAC keys, you cannot change the key material after the initial import."
      throw new KmsError(
        'UnsupportedOperationException',
        `${arn} key spec is ${key.keySpec} which is not valid for importing new key material.`,
      )
    }
    if (known.length > 0 && key.mrk?.handoffTo !== undefined) throw new KmsError('KMSInvalidStateException', `${arn} is updating.`)
    return
  }
  if (known.length === 0) {
    if (key.mrk?.role === 'REPLICA') {
      throw new KmsError('KMSInvalidStateException', `${arn} cannot take key material before its primary key's key material is known here.`)
    }
    // Nothing was ever imported: there is no existing material to import again [DESIGN].
    if (explicitType)
      throw new KmsError(
        'IncorrectKeyMaterialException',
        `No key material has been imported into ${arn} yet: import it with ImportType NEW_KEY_MATERIAL.`,
      )
  }
  if (requestedMaterialId !== undefined && !known.some((v) => v.materialId === requestedMaterialId)) {
    // "Verifies that the key material ID is already associated with the KMS key."
    throw new KmsError('IncorrectKeyMaterialException', `Key material ${requestedMaterialId} is not associated with ${arn}.`)
  }
}

/** The version the material is most likely to be, so that the HSM usually seals it once. */
function likelyVersion(kms: Kms, key: KeyRecord, importType: ImportType, requestedMaterialId: string | undefined): number {
  const known = importedVersions(key)
  if (importType === 'NEW_KEY_MATERIAL' || known.length === 0) return newVersionNumber(key)
  const requested = known.find((v) => v.materialId === requestedMaterialId)
  if (requested !== undefined) return requested.version
  // A replica importing new material, or any region importing what it lost: the newest it lacks.
  const missing = known.filter((v) => !heldHere(kms, key, v.version))
  return (
    (missing.at(-1) ?? known.find((v) => v.version === key.currentMaterialVersion) ?? known.at(-1))?.version ?? key.currentMaterialVersion
  )
}

/** Versions are never reused: a withdrawn pending version's number stays spent (replicas may have reported holding it). */
function newVersionNumber(key: KeyRecord): number {
  const known = importedVersions(key)
  if (known.length === 0 && (key.imported?.lastVersion ?? 0) === 0) return key.currentMaterialVersion
  return Math.max(key.imported?.lastVersion ?? 0, ...known.map((v) => v.version)) + 1
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
  async handle(kms, input, context) {
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
    const explicitType = input.ImportType as ImportType | undefined
    const importToken = input.ImportToken ?? new Uint8Array()
    const encryptedKeyMaterial = input.EncryptedKeyMaterial ?? new Uint8Array()
    const requestedMaterialId = input.KeyMaterialId
    const description = input.KeyMaterialDescription

    const result = await kms.mutate(async () => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      requireExternalOrigin(key, arn)
      checkKeyState('import-material', key.state, arn)
      const known = importedVersions(key)
      // ImportType defaults to NEW_KEY_MATERIAL until some material was imported, and to
      // EXISTING_KEY_MATERIAL after (ImportKeyMaterialRequest.ImportType).
      const importType: ImportType = explicitType ?? (known.length === 0 ? 'NEW_KEY_MATERIAL' : 'EXISTING_KEY_MATERIAL')
      checkRequest(key, arn, importType, explicitType !== undefined, requestedMaterialId)

      const unwrap = async (materialVersion: number): Promise<{ token: Uint8Array; materialId: string }> => {
        try {
          return await kms.hsm.keyOperation('importKeyMaterial', {
            keyId: key.keyId,
            keySpec: key.keySpec,
            materialVersion,
            importToken,
            encryptedKeyMaterial,
            now: kms.clock.now(),
          })
        } catch (err) {
          throw importFailure(err)
        }
      }
      // The key token is sealed for one version; which version is known only once the
      // HSM has computed the material's id. A wrong guess costs a second unwrap.
      let version = likelyVersion(kms, key, importType, requestedMaterialId)
      let imported = await unwrap(version)
      //= docs/spec/key-token.md#5-imported-material
      // The id is a function of the key id and the material: a different id is different
      // material, whether the earlier import was here or in the primary's region.
      if (requestedMaterialId !== undefined && requestedMaterialId !== imported.materialId) throw differentMaterial()
      const match = known.find((v) => v.materialId === imported.materialId)
      let isNew = false
      if (importType === 'NEW_KEY_MATERIAL' && known.length > 0) {
        // "KMS expected new key material but the key material being imported is already
        // associated with the KMS key" (IncorrectKeyMaterialException).
        if (match !== undefined) {
          throw new KmsError(
            'IncorrectKeyMaterialException',
            `The key material (id: ${imported.materialId}) is already associated with ${arn}: import it with ImportType EXISTING_KEY_MATERIAL.`,
          )
        }
        const pending = pendingVersion(key)
        if (pending !== undefined) {
          throw new KmsError(
            'KMSInvalidStateException',
            `New key material (id: ${imported.materialId}) cannot be imported into KMS key ${arn}, because another key material (id: ${pending.materialId}) is pending rotation.`,
          )
        }
        isNew = true
      } else if (known.length === 0) {
        isNew = true
      } else if (match === undefined) {
        throw differentMaterial()
      } else if (match.version !== version) {
        version = match.version
        imported = await unwrap(version)
      }

      const previous = known.find((v) => v.version === version)
      const entry: ImportedVersion = {
        ...(previous ?? {}),
        version,
        materialId: imported.materialId,
        expirationModel,
        importedAt: now,
      }
      if (validTo !== undefined) entry.validTo = validTo
      else delete entry.validTo
      // "If you do not specify a key material description, KMS retains the value you
      // specified when you last imported the same key material into this KMS key."
      if (description !== undefined) entry.description = description
      const material: MaterialRecord = {
        keyId: key.keyId,
        version,
        materialId: imported.materialId,
        createdAt: kms.materialOf(key.keyId, version)?.createdAt ?? now,
        token: imported.token,
      }
      const held = (v: number): boolean => v === version || heldHere(kms, key, v)
      const versions = [...known.filter((v) => v.version !== version), entry]
      let next = withVersions(key, versions, held, version)
      next = { ...next, state: stateForMaterials(next, held) }
      const writes: Write[] = [{ kind: 'putMaterial', material }, ...importedChangeWrites(kms, next, isNew)]
      // A replica tells its primary what it now holds: new material is rotated to only
      // once every replica holds it (docs/spec/replication.md#imported-rotation).
      if (key.mrk?.role === 'REPLICA') {
        const report = heldVersions(kms, key.keyId).filter((h) => h.version !== version)
        writes.push(...replicaReport(kms, next, [...report, { version, materialId: imported.materialId }]))
      }
      return { writes, result: { arn, materialId: imported.materialId } }
    }, context.auditIntent)
    return { KeyId: result.arn, KeyMaterialId: result.materialId }
  },
}
