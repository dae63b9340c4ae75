import { randomBytes, randomUUID } from 'node:crypto'
import { KmsError } from '../../wire/errors.js'
import type { KeyRecord, Tag } from '../../storage/records.js'
import { keyMetadata } from '../key-metadata.js'
import { createMaterial } from '../materials.js'
import { bool, list, str, type Operation } from '../operation.js'
import { checkPolicyDocument, defaultKeyPolicy } from '../policy.js'
import { checkNewTags, MAX_TAGS_PER_KEY } from '../tags.js'

const DEFAULT_ROTATION_PERIOD_DAYS = 365

function newKeyId(multiRegion: boolean): string {
  return multiRegion ? `mrk-${randomBytes(16).toString('hex')}` : randomUUID()
}

export const createKey: Operation = {
  name: 'CreateKey',
  async handle(kms, input) {
    const keySpec = str(input, 'KeySpec') ?? str(input, 'CustomerMasterKeySpec') ?? 'SYMMETRIC_DEFAULT'
    const keyUsage = str(input, 'KeyUsage')
    if (keySpec !== 'SYMMETRIC_DEFAULT' && keyUsage === undefined) {
      throw new KmsError('ValidationException', 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.')
    }
    if (keySpec !== 'SYMMETRIC_DEFAULT') {
      throw new KmsError('UnsupportedOperationException', `KeySpec ${keySpec} is not supported by this KMS yet.`)
    }
    if (keyUsage !== undefined && keyUsage !== 'ENCRYPT_DECRYPT') {
      throw new KmsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec SYMMETRIC_DEFAULT`)
    }
    const origin = str(input, 'Origin') ?? 'AWS_KMS'
    if (origin !== 'AWS_KMS') {
      throw new KmsError('UnsupportedOperationException', `Origin ${origin} is not supported by this KMS yet.`)
    }
    if (str(input, 'CustomKeyStoreId') !== undefined || str(input, 'XksKeyId') !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Custom key stores are not supported by this KMS.')
    }
    const policy = str(input, 'Policy')
    if (policy !== undefined) checkPolicyDocument(policy)
    const tags = list<Tag>(input, 'Tags') ?? []
    checkNewTags(tags)
    if (tags.length > MAX_TAGS_PER_KEY) throw new KmsError('TagException', 'Too many tags')
    const multiRegion = bool(input, 'MultiRegion') ?? false

    const keyId = await kms.mutate(async () => {
      const id = newKeyId(multiRegion)
      const material = await createMaterial(kms, id, 1)
      const key: KeyRecord = {
        keyId: id,
        sequence: kms.nextSequence(),
        createdAt: kms.clock.now(),
        description: str(input, 'Description') ?? '',
        keyUsage: 'ENCRYPT_DECRYPT',
        keySpec: 'SYMMETRIC_DEFAULT',
        origin: 'AWS_KMS',
        state: 'Enabled',
        policy: policy ?? defaultKeyPolicy(kms.partition, kms.accountId),
        tags: tags.map(({ TagKey, TagValue }) => ({ TagKey, TagValue })),
        rotation: { enabled: false, periodInDays: DEFAULT_ROTATION_PERIOD_DAYS, onDemandCount: 0 },
        currentMaterialVersion: 1,
        multiRegion,
        ...(multiRegion
          ? { mrk: { role: 'PRIMARY' as const, primaryRegion: kms.region, replicaRegions: [], syncVersion: 1, replicas: {} } }
          : {}),
      }
      return {
        writes: [
          { kind: 'putMaterial', material },
          { kind: 'putKey', key },
        ],
        result: id,
      }
    })
    return { KeyMetadata: keyMetadata(kms, kms.keyById(keyId)) }
  },
}
