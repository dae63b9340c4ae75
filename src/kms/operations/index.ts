/**
 * The registry: every operation this KMS serves, by AWS operation name. The API layer
 * dispatches through this table and nothing else.
 *
 * @module
 */
import type { Operation } from '../operation.js'
import { cancelKeyDeletion } from './cancel-key-deletion.js'
import { createAlias } from './create-alias.js'
import { createKey } from './create-key.js'
import { decrypt } from './decrypt.js'
import { deleteAlias } from './delete-alias.js'
import { describeKey } from './describe-key.js'
import { disableKey } from './disable-key.js'
import { disableKeyRotation } from './disable-key-rotation.js'
import { enableKey } from './enable-key.js'
import { enableKeyRotation } from './enable-key-rotation.js'
import { encrypt } from './encrypt.js'
import { generateDataKey } from './generate-data-key.js'
import { generateDataKeyWithoutPlaintext } from './generate-data-key-without-plaintext.js'
import { generateRandom } from './generate-random.js'
import { getKeyPolicy } from './get-key-policy.js'
import { getKeyRotationStatus } from './get-key-rotation-status.js'
import { listAliases } from './list-aliases.js'
import { listKeyPolicies } from './list-key-policies.js'
import { listKeyRotations } from './list-key-rotations.js'
import { listKeys } from './list-keys.js'
import { listResourceTags } from './list-resource-tags.js'
import { putKeyPolicy } from './put-key-policy.js'
import { reEncrypt } from './re-encrypt.js'
import { replicateKey } from './replicate-key.js'
import { rotateKeyOnDemand } from './rotate-key-on-demand.js'
import { scheduleKeyDeletion } from './schedule-key-deletion.js'
import { tagResource } from './tag-resource.js'
import { untagResource } from './untag-resource.js'
import { updateAlias } from './update-alias.js'
import { updateKeyDescription } from './update-key-description.js'
import { updatePrimaryRegion } from './update-primary-region.js'

const ALL: readonly Operation[] = [
  cancelKeyDeletion,
  createAlias,
  createKey,
  decrypt,
  deleteAlias,
  describeKey,
  disableKey,
  disableKeyRotation,
  enableKey,
  enableKeyRotation,
  encrypt,
  generateDataKey,
  generateDataKeyWithoutPlaintext,
  generateRandom,
  getKeyPolicy,
  getKeyRotationStatus,
  listAliases,
  listKeyPolicies,
  listKeyRotations,
  listKeys,
  listResourceTags,
  putKeyPolicy,
  reEncrypt,
  replicateKey,
  rotateKeyOnDemand,
  scheduleKeyDeletion,
  tagResource,
  untagResource,
  updateAlias,
  updateKeyDescription,
  updatePrimaryRegion,
]

export const OPERATIONS: ReadonlyMap<string, Operation> = new Map(ALL.map((op) => [op.name, op]))
