/**
 * The list of a key's imported materials (src/kms/imported-material.ts): records written
 * before the list existed read as one material, the summary DescribeKey shows, the key
 * state that follows from the materials held, and each material's KeyMaterialState.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { importedVersions, materialState, pendingVersion, stateForMaterials, withVersions } from '../../src/kms/imported-material.js'
import type { ImportedVersion, KeyRecord } from '../../src/storage/records.js'

function key(overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    keyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
    sequence: 1,
    createdAt: 1_700_000_000_000,
    description: '',
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin: 'EXTERNAL',
    state: 'Enabled',
    policy: '{}',
    tags: [],
    rotation: { enabled: false, periodInDays: 365, onDemandCount: 0 },
    currentMaterialVersion: 1,
    multiRegion: false,
    ...overrides,
  }
}

const v = (version: number, extra: Partial<ImportedVersion> = {}): ImportedVersion => ({
  version,
  materialId: String(version).repeat(64).slice(0, 64),
  ...extra,
})

test('a record written before the list existed reads as its one material, with its expiry and description', () => {
  const legacy = key({
    imported: { materialId: 'a'.repeat(64), expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: 5, importedAt: 3, description: 'old' },
  })
  assert.deepEqual(importedVersions(legacy), [
    { version: 1, materialId: 'a'.repeat(64), description: 'old', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: 5, importedAt: 3 },
  ])
  assert.deepEqual(importedVersions(key()), [], 'nothing imported yet')
  assert.deepEqual(importedVersions(key({ imported: {} })), [])
})

test('the summary: first id, and the earliest expiry of the associated materials held here', () => {
  const versions = [
    v(1, { expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    v(2, { expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: 900 }),
    v(3, { expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: 100 }),
  ]
  const all = withVersions(key({ currentMaterialVersion: 2 }), versions, () => true)
  assert.equal(all.imported?.materialId, v(1).materialId)
  assert.equal(all.imported?.expirationModel, 'KEY_MATERIAL_EXPIRES')
  assert.equal(all.imported?.validTo, 900, 'pending material (version 3) is not associated with the key yet')
  assert.equal(all.imported?.lastVersion, 3)
  const only1 = withVersions(key({ currentMaterialVersion: 2 }), versions, (n) => n === 1)
  assert.equal(only1.imported?.expirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE')
  assert.equal(only1.imported?.validTo, undefined)
  const none = withVersions(key({ currentMaterialVersion: 2 }), versions, () => false)
  assert.equal(none.imported?.expirationModel, undefined, 'nothing held: no expiry to show')
  // lastVersion never goes down: a withdrawn version's number stays spent.
  assert.equal(withVersions({ ...all }, [v(1), v(2)], () => true).imported?.lastVersion, 3)
})

test('the key state follows the associated materials held; pending material does not count', () => {
  const k = withVersions(key({ currentMaterialVersion: 2 }), [v(1), v(2), v(3)], () => true)
  assert.equal(
    stateForMaterials(k, () => true),
    'Enabled',
  )
  assert.equal(
    stateForMaterials(k, (n) => n !== 3),
    'Enabled',
  )
  assert.equal(
    stateForMaterials(k, (n) => n !== 1),
    'PendingImport',
  )
  assert.equal(
    stateForMaterials({ ...k, state: 'Disabled' }, (n) => n !== 2),
    'PendingImport',
  )
  assert.equal(
    stateForMaterials({ ...k, state: 'PendingImport' }, () => true),
    'Enabled',
  )
  assert.equal(
    stateForMaterials({ ...k, state: 'PendingImport' }, (n) => n === 2),
    'PendingImport',
  )
  assert.equal(
    stateForMaterials({ ...k, state: 'PendingDeletion' }, () => false),
    'PendingDeletion',
  )
  assert.equal(pendingVersion(k)?.version, 3)
})

test('KeyMaterialState: current, non-current, and pending as the primary or a replica sees it', () => {
  const replicas = {
    'eu-west-1': { created: true, held: [1, 2, 3], ackedSyncVersion: 1, replicationId: 'r1' },
    'ap-southeast-2': { created: true, held: [1, 2], ackedSyncVersion: 1, replicationId: 'r2' },
  }
  const mrk = {
    role: 'PRIMARY' as const,
    primaryRegion: 'us-east-1',
    replicaRegions: ['eu-west-1', 'ap-southeast-2'],
    syncVersion: 1,
    replicas,
  }
  const primary = key({ currentMaterialVersion: 2, mrk })
  assert.equal(materialState(primary, 1), 'NON_CURRENT')
  assert.equal(materialState(primary, 2), 'CURRENT')
  assert.equal(materialState(primary, 3), 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION')
  const everywhere = {
    ...primary,
    mrk: { ...mrk, replicas: { ...replicas, 'ap-southeast-2': { ...replicas['ap-southeast-2'], held: [1, 2, 3] } } },
  }
  assert.equal(materialState(everywhere, 3), 'PENDING_ROTATION')
  assert.equal(materialState(key({ currentMaterialVersion: 2 }), 3), 'PENDING_ROTATION', 'a single-Region key')
  const replica = key({
    currentMaterialVersion: 2,
    mrk: { role: 'REPLICA', primaryRegion: 'us-east-1', replicaRegions: ['eu-west-1'], syncVersion: 1 },
  })
  assert.equal(materialState(replica, 3), 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION')
})
