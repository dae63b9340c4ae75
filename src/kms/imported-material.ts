/**
 * Imported key material (origin EXTERNAL; reference §4.8, docs/spec/key-token.md §5–§6):
 * the checks the import operations share, and what deleting or expiring material does.
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'
import type { KeyRecord, Write } from '../storage/records.js'
import type { Kms } from './kms.js'
import { sharedChangeWrites } from './materials.js'

/** Import operations need a key of imported material (footnote [9]). */
export function requireExternalOrigin(key: KeyRecord, arn: string): void {
  if (key.origin !== 'EXTERNAL') {
    throw new KmsError('UnsupportedOperationException', `${arn} origin is ${key.origin} which is not valid for this operation.`)
  }
}

/**
 * The writes that remove a key's imported material: it goes back to PendingImport (unless
 * it is pending deletion), and keeps the material's id so only the same material may come
 * back. A primary tells its replicas nothing about its own material's absence: each region's
 * imported material is its own (reference §4.8).
 */
export function removeImportedMaterialWrites(kms: Kms, key: KeyRecord): Write[] {
  const versions = kms.materials.get(key.keyId) ?? []
  const pendingDeletion = key.state === 'PendingDeletion' || key.state === 'PendingReplicaDeletion'
  const imported = { ...key.imported }
  delete imported.validTo
  delete imported.expirationModel
  const next: KeyRecord = { ...key, state: pendingDeletion ? key.state : 'PendingImport', imported }
  return [...versions.map((m): Write => ({ kind: 'deleteMaterial', keyId: key.keyId, version: m.version })), { kind: 'putKey', key: next }]
}

/** Deletes imported material whose ValidTo has passed (reference §4.8: back to PendingImport). */
export async function expireImportedMaterial(kms: Kms): Promise<string[]> {
  const now = kms.clock.now()
  const isDue = (key: KeyRecord | undefined): key is KeyRecord =>
    key !== undefined && key.origin === 'EXTERNAL' && key.imported?.validTo !== undefined && key.imported.validTo <= now && (kms.materials.get(key.keyId)?.length ?? 0) > 0
  const due = [...kms.keys.values()].filter(isDue).map((key) => key.keyId)
  for (const keyId of due) {
    await kms.mutate(() => {
      const key = kms.keys.get(keyId)
      return { writes: isDue(key) ? removeImportedMaterialWrites(kms, key) : [], result: undefined }
    })
  }
  return due
}

/** After an import on a primary: its replicas learn the material's id, to check their own imports against. */
export function importedOnPrimaryWrites(kms: Kms, key: KeyRecord): Write[] {
  return key.mrk?.role === 'PRIMARY' ? sharedChangeWrites(kms, key) : [{ kind: 'putKey', key }]
}
