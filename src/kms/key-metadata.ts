/**
 * KeyMetadata as DescribeKey, CreateKey and ReplicateKey return it (reference §3.1):
 * members present only when AWS sends them, in AWS's (alphabetical) order.
 *
 * @module
 */
import type { KeyRecord } from '../storage/records.js'
import { keyArn } from '../wire/arn.js'
import {
  encapsulationAlgorithmsFor,
  encryptionAlgorithmsFor,
  keyAgreementAlgorithmsFor,
  macAlgorithmsFor,
  signingAlgorithmsFor,
} from '../wire/key-specs.js'
import type { Kms } from './kms.js'
import type { CustomerMasterKeySpec, KeyMetadata, MultiRegionKey } from '../wire/kms-model-types.js'
import { epochSeconds } from './operation.js'

/** `region`: the region whose view to render, for ReplicateKey's answer about a replica. */
export function keyMetadata(kms: Kms, key: KeyRecord, region: string = kms.region): KeyMetadata {
  const current =
    key.state === 'PendingImport' || key.state === 'Creating' ? undefined : kms.materialOf(key.keyId, key.currentMaterialVersion)
  // Built in AWS's order; KeyId, the one required member, takes its place in that order.
  const metadata: Partial<KeyMetadata> = {
    AWSAccountId: kms.accountId,
    Arn: keyArn(kms.partition, region, kms.accountId, key.keyId),
    CreationDate: epochSeconds(key.createdAt),
  }
  if (current !== undefined) metadata.CurrentKeyMaterialId = current.materialId
  // The deprecated twin of KeySpec; its enum stopped growing before Ed25519, ML-DSA and
  // ML-KEM, and Trent (unverified against AWS) still reports the key spec there.
  metadata.CustomerMasterKeySpec = key.keySpec as CustomerMasterKeySpec
  if (key.state === 'PendingDeletion' && key.deletionAt !== undefined) metadata.DeletionDate = epochSeconds(key.deletionAt)
  metadata.Description = key.description
  metadata.Enabled = key.state === 'Enabled'
  if (key.keyUsage === 'ENCAPSULATE_DECAPSULATE') metadata.EncapsulationAlgorithms = encapsulationAlgorithmsFor(key.keySpec)
  if (key.keyUsage === 'ENCRYPT_DECRYPT') metadata.EncryptionAlgorithms = encryptionAlgorithmsFor(key.keySpec)
  if (key.imported?.expirationModel !== undefined) metadata.ExpirationModel = key.imported.expirationModel
  if (key.keyUsage === 'KEY_AGREEMENT') metadata.KeyAgreementAlgorithms = keyAgreementAlgorithmsFor(key.keySpec)
  metadata.KeyId = key.keyId
  metadata.KeyManager = 'CUSTOMER'
  metadata.KeySpec = key.keySpec
  metadata.KeyState = key.state
  metadata.KeyUsage = key.keyUsage
  if (key.keyUsage === 'GENERATE_VERIFY_MAC') metadata.MacAlgorithms = macAlgorithmsFor(key.keySpec)
  metadata.MultiRegion = key.multiRegion
  if (key.multiRegion && key.mrk !== undefined) {
    const ref = (region: string): MultiRegionKey => ({ Arn: keyArn(kms.partition, region, kms.accountId, key.keyId), Region: region })
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
  if (key.keyUsage === 'SIGN_VERIFY') metadata.SigningAlgorithms = signingAlgorithmsFor(key.keySpec)
  if (key.imported?.validTo !== undefined) metadata.ValidTo = epochSeconds(key.imported.validTo)
  return { ...metadata, KeyId: key.keyId }
}
