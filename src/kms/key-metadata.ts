/**
 * KeyMetadata as DescribeKey, CreateKey and ReplicateKey return it (reference §3.1):
 * members present only when AWS sends them, in AWS's (alphabetical) order.
 *
 * @module
 */
import type { KeyRecord } from '../storage/records.js'
import { keyArn } from '../wire/arn.js'
import type { Kms } from './kms.js'
import { epochSeconds, type Output } from './operation.js'

/** `region`: the region whose view to render, for ReplicateKey's answer about a replica. */
export function keyMetadata(kms: Kms, key: KeyRecord, region: string = kms.region): Output {
  const current = key.state === 'PendingImport' || key.state === 'Creating' ? undefined : kms.materialOf(key.keyId, key.currentMaterialVersion)
  const metadata: Output = {
    AWSAccountId: kms.accountId,
    Arn: keyArn(kms.partition, region, kms.accountId, key.keyId),
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
  if (key.multiRegion && key.mrk !== undefined) {
    const ref = (region: string): Output => ({ Arn: keyArn(kms.partition, region, kms.accountId, key.keyId), Region: region })
    metadata.MultiRegionConfiguration = {
      MultiRegionKeyType: key.mrk.role,
      PrimaryKey: ref(key.mrk.primaryRegion),
      ReplicaKeys: key.mrk.replicaRegions.map(ref),
    }
  }
  metadata.Origin = key.origin
  if (key.state === 'PendingReplicaDeletion' && key.pendingWindowInDays !== undefined) {
    metadata.PendingDeletionWindowInDays = key.pendingWindowInDays
  }
  return metadata
}
