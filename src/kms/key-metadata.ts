/**
 * KeyMetadata as DescribeKey, CreateKey and ReplicateKey return it (reference §3.1):
 * members present only when AWS sends them, in AWS's (alphabetical) order.
 *
 * @module
 */
import type { KeyRecord } from '../storage/records.js'
import type { Kms } from './kms.js'
import { epochSeconds, type Output } from './operation.js'

export function keyMetadata(kms: Kms, key: KeyRecord): Output {
  const current = key.state === 'PendingImport' || key.state === 'Creating' ? undefined : kms.materialOf(key.keyId, key.currentMaterialVersion)
  const metadata: Output = {
    AWSAccountId: kms.accountId,
    Arn: kms.arnOf(key.keyId),
    CreationDate: epochSeconds(key.createdAt),
  }
  if (current !== undefined) metadata.CurrentKeyMaterialId = current.materialId
  metadata.CustomerMasterKeySpec = key.keySpec
  if (key.state === 'PendingDeletion' && key.deletionAt !== undefined) metadata.DeletionDate = epochSeconds(key.deletionAt)
  metadata.Description = key.description
  metadata.Enabled = key.state === 'Enabled'
  metadata.EncryptionAlgorithms = ['SYMMETRIC_DEFAULT']
  metadata.KeyId = key.keyId
  metadata.KeyManager = 'CUSTOMER'
  metadata.KeySpec = key.keySpec
  metadata.KeyState = key.state
  metadata.KeyUsage = key.keyUsage
  metadata.MultiRegion = key.multiRegion
  if (key.multiRegion) {
    const self = { Arn: kms.arnOf(key.keyId), Region: kms.region }
    metadata.MultiRegionConfiguration = { MultiRegionKeyType: 'PRIMARY', PrimaryKey: self, ReplicaKeys: [] }
  }
  metadata.Origin = key.origin
  if (key.state === 'PendingReplicaDeletion' && key.pendingWindowInDays !== undefined) {
    metadata.PendingDeletionWindowInDays = key.pendingWindowInDays
  }
  return metadata
}
