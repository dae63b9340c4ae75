import { randomUUID } from 'node:crypto'
import { keyArn } from '../../wire/arn.js'
import { KmsError, notFoundKey } from '../../wire/errors.js'
import type { KeyRecord } from '../../storage/records.js'
import { failpoint } from '../failpoints.js'
import { checkKeyState } from '../key-state.js'
import { handoffMessage } from '../multi-region/outbound.js'
import { type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

/**
 * UpdatePrimaryRegion, called in the current primary's region (reference §4.3;
 * docs/spec/replication.md#update-primary). This key goes to Updating and hands the
 * primary role to the replica; it becomes a replica when the new primary's shared
 * state arrives.
 */
export const updatePrimaryRegion: Operation<'UpdatePrimaryRegion'> = {
  name: 'UpdatePrimaryRegion',
  members: ['KeyId', 'PrimaryRegion'],
  access: keyAccess('UpdatePrimaryRegion', { allowAlias: false, conditionMembers: { 'kms:PrimaryRegion': 'PrimaryRegion' } }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const primaryRegion = input.PrimaryRegion
    await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      const mrk = key.mrk
      if (mrk?.role !== 'PRIMARY') throw new KmsError('UnsupportedOperationException', `${arn} is not a multi-region primary key.`)
      checkKeyState('update-primary', key.state, arn)
      if (primaryRegion === kms.region) return { writes: [], result: undefined }
      const status = mrk.replicas?.[primaryRegion]
      if (!mrk.replicaRegions.includes(primaryRegion) || status === undefined) {
        throw notFoundKey(keyArn(kms.partition, primaryRegion, kms.accountId, key.keyId))
      }
      if (!status.created) {
        throw new KmsError('KMSInvalidStateException', `${keyArn(kms.partition, primaryRegion, kms.accountId, key.keyId)} is creating.`)
      }
      const handingOff: KeyRecord = {
        ...key,
        state: 'Updating',
        mrk: { ...mrk, handoffTo: primaryRegion, handoffId: randomUUID() },
      }
      const message = handoffMessage(kms, handingOff)
      return { writes: message === undefined ? [] : [{ kind: 'putKey', key: handingOff }, message], result: undefined }
    }, context.auditIntent)
    failpoint('update-primary:after-commit')
    return {}
  },
}
