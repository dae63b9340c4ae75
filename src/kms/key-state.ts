/**
 * Which key states each kind of operation accepts, and the error for each state it
 * refuses: the key-state table of the AWS KMS developer guide, as collected in the
 * reference §5 (footnote numbers below are that table's).
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'
import type { KeyState } from '../storage/records.js'

export type StateRule =
  /** Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, and on-demand rotation. */
  | 'cryptographic'
  /** EnableKey, DisableKey. */
  | 'enable-disable'
  /** EnableKeyRotation, DisableKeyRotation. */
  | 'rotation-setting'
  /** ScheduleKeyDeletion. */
  | 'schedule-deletion'
  /** CancelKeyDeletion. */
  | 'cancel-deletion'
  /** TagResource, UntagResource, UpdateKeyDescription, CreateAlias, UpdateAlias (target). */
  | 'not-pending-deletion'
  /** ReplicateKey. */
  | 'replicate'
  /** UpdatePrimaryRegion. */
  | 'update-primary'
  /** GetParametersForImport. */
  | 'import-parameters'
  /** ImportKeyMaterial. */
  | 'import-material'
  /** DeleteImportedKeyMaterial. */
  | 'delete-imported'
  /** DescribeKey, policies, ListResourceTags, GetKeyRotationStatus, ListKeyRotations, DeleteAlias. */
  | 'any'

const disabled = (arn: string): KmsError => new KmsError('DisabledException', `${arn} is disabled.`)
const invalidState = (arn: string, what: string): KmsError => new KmsError('KMSInvalidStateException', `${arn} is ${what}.`)

function pendingDeletion(arn: string, state: KeyState): KmsError {
  // [3]: KMSInvalidStateException; AWS words the MRK variant "pending replica deletion".
  return invalidState(arn, state === 'PendingReplicaDeletion' ? 'pending replica deletion' : 'pending deletion')
}

/** Throws the AWS error for `state` under `rule`, or returns if the operation may proceed. */
export function checkKeyState(rule: StateRule, state: KeyState, arn: string): void {
  if (rule === 'any') return
  if (rule === 'import-parameters' || rule === 'import-material' || rule === 'delete-imported') {
    if (state === 'Creating') throw invalidState(arn, 'creating') // [14]
    if (state === 'Updating' && rule !== 'import-material') throw invalidState(arn, 'updating') // [15]
    if ((state === 'PendingDeletion' || state === 'PendingReplicaDeletion') && rule !== 'delete-imported') throw pendingDeletion(arn, state) // [8]
    return
  }
  if (rule === 'cancel-deletion') {
    // [4]
    if (state !== 'PendingDeletion' && state !== 'PendingReplicaDeletion') throw invalidState(arn, 'not pending deletion')
    return
  }
  switch (state) {
    case 'Enabled':
      return
    case 'Disabled':
      if (rule === 'cryptographic' || rule === 'rotation-setting' || rule === 'replicate' || rule === 'update-primary') throw disabled(arn) // [1]
      return
    case 'PendingDeletion':
    case 'PendingReplicaDeletion':
      throw pendingDeletion(arn, state) // [3]
    case 'PendingImport':
      if (rule === 'not-pending-deletion' || rule === 'schedule-deletion') return
      throw invalidState(arn, 'pending import') // [5]
    case 'Unavailable':
      if (rule === 'cryptographic') throw invalidState(arn, 'unavailable') // [11]
      return
    case 'Creating':
      if (rule === 'not-pending-deletion' || rule === 'schedule-deletion') return
      throw invalidState(arn, 'creating') // [14]
    case 'Updating':
      // [15]; a second UpdatePrimaryRegion while one is under way is refused the same way.
      if (rule === 'enable-disable' || rule === 'schedule-deletion' || rule === 'replicate' || rule === 'update-primary') {
        throw invalidState(arn, 'updating')
      }
      return
  }
}
