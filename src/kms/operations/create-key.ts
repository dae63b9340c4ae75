import { randomBytes, randomUUID } from 'node:crypto'
import { customKeyStoreNotFound } from '../custom-key-stores.js'
import { KmsError } from '../../wire/errors.js'
import type { KeyRecord } from '../../storage/records.js'
import { keyMetadata } from '../key-metadata.js'
import { createMaterial } from '../materials.js'
import { type AccessCheck, type Operation } from '../operation.js'
import { checkNewKeyPolicy, defaultKeyPolicy } from '../policy.js'
import { isKeySpec, keyUsagesFor, type KeySpec, type KeyUsage } from '../../wire/key-specs.js'
import { checkNewTags, MAX_TAGS_PER_KEY } from '../tags.js'

const DEFAULT_ROTATION_PERIOD_DAYS = 365

function newKeyId(multiRegion: boolean): string {
  return multiRegion ? `mrk-${randomBytes(16).toString('hex')}` : randomUUID()
}

export const createKey: Operation<'CreateKey'> = {
  name: 'CreateKey',
  members: [
    'Policy',
    'Description',
    'KeyUsage',
    'CustomerMasterKeySpec',
    'KeySpec',
    'Origin',
    'CustomKeyStoreId',
    'BypassPolicyLockoutSafetyCheck',
    'Tags.TagKey',
    'Tags.TagValue',
    'MultiRegion',
    'XksKeyId',
  ],
  // An account-level action (no key yet), with the condition keys AWS sets for it.
  access(_kms, input) {
    const multiRegion = input.MultiRegion ?? false
    const conditions: NonNullable<AccessCheck['conditions']> = {
      'kms:KeySpec': input.KeySpec ?? input.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT',
      'kms:KeyUsage': input.KeyUsage ?? 'ENCRYPT_DECRYPT',
      'kms:KeyOrigin': input.Origin ?? 'AWS_KMS',
      'kms:MultiRegion': multiRegion,
      ...(multiRegion ? { 'kms:MultiRegionKeyType': 'PRIMARY' } : {}),
      'kms:BypassPolicyLockoutSafetyCheck': input.BypassPolicyLockoutSafetyCheck ?? false,
    }
    return [{ action: 'kms:CreateKey', conditions }]
  },
  async handle(kms, input, context) {
    const caller = context.caller
    const requestedSpec = input.KeySpec ?? input.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT'
    const requestedUsage = input.KeyUsage
    if (requestedSpec !== 'SYMMETRIC_DEFAULT' && requestedUsage === undefined) {
      throw new KmsError('ValidationException', 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.')
    }
    if (!isKeySpec(requestedSpec)) {
      // SM2 is in the model but AWS offers it only in China Regions, and so does not Trent.
      throw new KmsError('UnsupportedOperationException', `KeySpec ${requestedSpec} is not supported in this region.`)
    }
    const keySpec: KeySpec = requestedSpec
    const keyUsage = (requestedUsage ?? 'ENCRYPT_DECRYPT') as KeyUsage
    if (!keyUsagesFor(keySpec).includes(keyUsage)) {
      throw new KmsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}`)
    }
    // No custom key store exists here: any id names an unknown one, and AWS answers an
    // unknown CustomKeyStoreId with CustomKeyStoreNotFoundException (CreateKey's error list).
    if (input.CustomKeyStoreId !== undefined) throw customKeyStoreNotFound()
    const origin = input.Origin ?? 'AWS_KMS'
    if (origin !== 'AWS_KMS' && origin !== 'EXTERNAL') {
      throw new KmsError('UnsupportedOperationException', `Origin ${origin} requires a custom key store, which this KMS does not offer.`)
    }
    if (input.XksKeyId !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Custom key stores are not supported by this KMS.')
    }
    const policy = input.Policy
    const tags = input.Tags ?? []
    checkNewTags(tags)
    if (tags.length > MAX_TAGS_PER_KEY) throw new KmsError('TagException', 'Too many tags')
    const multiRegion = input.MultiRegion ?? false

    const id = newKeyId(multiRegion)
    if (policy !== undefined) checkNewKeyPolicy(kms, policy, caller, input.BypassPolicyLockoutSafetyCheck ?? false, kms.arnOf(id))
    // Made before the commit queue is entered: an RSA key pair can take the HSM a second,
    // and other requests' commits need not wait for it. A key of imported material has
    // none until ImportKeyMaterial (reference §4.8).
    const material = origin === 'EXTERNAL' ? undefined : await createMaterial(kms, id, 1, keySpec)
    const keyId = await kms.mutate(() => {
      const key: KeyRecord = {
        keyId: id,
        sequence: kms.nextSequence(),
        createdAt: kms.clock.now(),
        description: input.Description ?? '',
        keyUsage,
        keySpec,
        origin,
        state: origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
        policy: policy ?? defaultKeyPolicy(kms.partition, kms.accountId),
        tags: tags.map(({ TagKey, TagValue }) => ({ TagKey, TagValue })),
        rotation: { enabled: false, periodInDays: DEFAULT_ROTATION_PERIOD_DAYS, onDemandCount: 0 },
        currentMaterialVersion: 1,
        multiRegion,
        ...(multiRegion
          ? { mrk: { role: 'PRIMARY' as const, primaryRegion: kms.region, replicaRegions: [], syncVersion: 1, replicas: {} } }
          : {}),
        ...(origin === 'EXTERNAL' ? { imported: {} } : {}),
      }
      return {
        writes: [...(material !== undefined ? [{ kind: 'putMaterial' as const, material }] : []), { kind: 'putKey', key }],
        result: id,
      }
    }, context.auditIntent)
    return { KeyMetadata: keyMetadata(kms, kms.keyById(keyId)) }
  },
}
