import type { ReplicateKeyResponse } from '../../wire/kms-model-types.js'
import { randomUUID } from 'node:crypto'
import { keyArn } from '../../wire/arn.js'
import { KmsError } from '../../wire/errors.js'
import type { KeyRecord } from '../../storage/records.js'
import { failpoint } from '../failpoints.js'
import { keyMetadata } from '../key-metadata.js'
import { checkKeyState } from '../key-state.js'
import { queueMessage, sharedStateOf } from '../multi-region/outbound.js'
import { answeredSessionsOf, awaitReplicaVisible } from '../multi-region/replica-visibility.js'
import { type Operation } from '../operation.js'
import { checkNewKeyPolicy, defaultKeyPolicy } from '../policy.js'
import { resolveKey } from '../resolve-key.js'
import { MAX_TAGS_PER_KEY, checkNewTags } from '../tags.js'
import { keyAccess } from '../access.js'

/**
 * ReplicateKey, called in the primary's region (reference §4.2;
 * docs/spec/replication.md#replicate-key). The replica is recorded, and the message
 * that creates it queued, in one transaction; the call returns the replica as the
 * replica region will show it: Creating, not Enabled, once that region shows it (or a
 * bounded wait has passed: kms/multi-region/replica-visibility.ts).
 */
export const replicateKey: Operation<'ReplicateKey'> = {
  name: 'ReplicateKey',
  members: ['KeyId', 'ReplicaRegion', 'Policy', 'BypassPolicyLockoutSafetyCheck', 'Description', 'Tags.TagKey', 'Tags.TagValue'],
  access: keyAccess('ReplicateKey', { allowAlias: false, conditionMembers: { 'kms:ReplicaRegion': 'ReplicaRegion' } }),
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const replicaRegion = input.ReplicaRegion
    const policy = input.Policy
    // The replica's policy is checked here, by the caller's identity in this region: the
    // replica region takes the signed ReplicaCreate as the primary's word (spec §6.1).
    const replicaArn = keyArn(kms.partition, replicaRegion, kms.accountId, resolveKey(kms, keyIdInput, { allowAlias: false }).keyId)
    if (policy !== undefined) checkNewKeyPolicy(kms, policy, context.caller, input.BypassPolicyLockoutSafetyCheck ?? false, replicaArn)
    const tags = input.Tags ?? []
    checkNewTags(tags)
    if (tags.length > MAX_TAGS_PER_KEY) throw new KmsError('TagException', 'Too many tags')

    const replica = await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      const mrk = key.mrk
      if (mrk?.role !== 'PRIMARY') throw new KmsError('UnsupportedOperationException', `${arn} is not a multi-region primary key.`)
      checkKeyState('replicate', key.state, arn)
      const replicaArn = keyArn(kms.partition, replicaRegion, kms.accountId, key.keyId)
      if (replicaRegion === kms.region || mrk.replicaRegions.includes(replicaRegion)) {
        throw new KmsError('AlreadyExistsException', `The key ${replicaArn} already exists.`)
      }
      if (!kms.peers.regions().includes(replicaRegion)) {
        throw new KmsError('UnsupportedOperationException', `${replicaRegion} is not a region of this partition.`)
      }
      const replicationId = randomUUID()
      const answeredBefore = answeredSessionsOf(kms, key.keyId, replicaRegion)
      const now = kms.clock.now()
      const replicaPolicy = policy ?? defaultKeyPolicy(kms.partition, kms.accountId)
      const description = input.Description ?? ''
      const initial = {
        description,
        policy: replicaPolicy,
        tags: tags.map(({ TagKey, TagValue }) => ({ TagKey, TagValue })),
        createdAt: now,
      }
      const updated: KeyRecord = {
        ...key,
        mrk: {
          ...mrk,
          replicaRegions: [...mrk.replicaRegions, replicaRegion],
          syncVersion: mrk.syncVersion + 1,
          replicas: {
            ...mrk.replicas,
            [replicaRegion]: { created: false, held: [], ackedSyncVersion: 0, replicationId, lastSentAt: Date.now(), initial },
          },
        },
      }
      const shared = sharedStateOf(kms, updated)
      const message = queueMessage(kms, replicaRegion, key.keyId, { type: 'ReplicaCreate', replicationId, shared, replica: initial })
      // The other replicas learn of the new member through shared state.
      const others = mrk.replicaRegions
        .filter((r) => updated.mrk?.replicas?.[r]?.created === true)
        .map((r) => queueMessage(kms, r, key.keyId, { type: 'SharedState', shared }))
      // What the replica region will report while the replica is being created.
      const view: KeyRecord = {
        ...updated,
        createdAt: now,
        description,
        // Imported material is not replicated: the replica waits for its own import.
        state: key.origin === 'EXTERNAL' ? 'PendingImport' : 'Creating',
        policy: replicaPolicy,
        tags,
        mrk: {
          role: 'REPLICA',
          primaryRegion: kms.region,
          replicaRegions: [...(updated.mrk?.replicaRegions ?? [])],
          syncVersion: shared.syncVersion,
        },
      }
      return {
        writes: [{ kind: 'putKey', key: updated }, message, ...others],
        result: { view, replicaPolicy, tags, replicationId, answeredBefore },
      }
    }, context.auditIntent)
    failpoint('replicate-key:after-commit')
    // AWS shows the replica in its region, Creating, once ReplicateKey has answered: wait
    // (bounded) until the replica region has made it. Committed already: nothing waits on us.
    if (kms.replicaVisibilityWaitMs > 0) {
      await awaitReplicaVisible(
        kms,
        replica.view.keyId,
        replicaRegion,
        replica.replicationId,
        replica.answeredBefore,
        kms.replicaVisibilityWaitMs,
      )
    }
    const metadata = keyMetadata(kms, replica.view, replicaRegion)
    const out: ReplicateKeyResponse = { ReplicaKeyMetadata: metadata, ReplicaPolicy: replica.replicaPolicy }
    if (replica.tags.length > 0) out.ReplicaTags = replica.tags
    return out
  },
}
