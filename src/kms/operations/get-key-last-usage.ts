/**
 * GetKeyLastUsage: the last successful cryptographic operation with a key, read from the
 * region's audit trail (docs/spec/audit-trail.md §6). The trail's index is in memory and
 * fed by every record as it is appended, so no request writes anything more for it.
 *
 * Works in every key state (the model lists no KMSInvalidStateException for it). For a
 * multi-Region key, each region answers for its own key: primary and replicas are
 * tracked independently, as AWS does.
 *
 * @module
 */
import type { KeyLastUsageTrackingOperation } from '../../wire/kms-model-types.js'
import { epochSeconds, type Operation, type OutputOf } from '../operation.js'
import { resolveKey } from '../resolve-key.js'
import { keyAccess } from '../access.js'

export const getKeyLastUsage: Operation<'GetKeyLastUsage'> = {
  name: 'GetKeyLastUsage',
  members: ['KeyId'],
  access: keyAccess('GetKeyLastUsage', { allowAlias: false }),
  handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    const arn = kms.arnOf(key.keyId)
    const usage = kms.audit.lastUsage(arn)
    const out: OutputOf<'GetKeyLastUsage'> = {
      KeyId: arn,
      TrackingStartDate: epochSeconds(kms.audit.trackingStartedAt()),
      KeyCreationDate: epochSeconds(key.createdAt),
    }
    if (usage !== undefined) {
      out.KeyLastUsage = {
        Operation: usage.operation as KeyLastUsageTrackingOperation,
        Timestamp: epochSeconds(usage.at),
        CloudTrailEventId: usage.eventId,
        KmsRequestId: usage.requestId,
      }
    }
    return Promise.resolve(out)
  },
}
