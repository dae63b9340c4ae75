/**
 * Turning a caller's KeyId into a key of this region, with AWS's errors
 * (reference §2.1-2.2).
 *
 * @module
 */
import { aliasArn, parseKmsArn } from '../wire/arn.js'
import { KmsError, aliasNotFound, notFoundInvalidArn, notFoundInvalidKeyId, notFoundKey } from '../wire/errors.js'
import { isWellFormedKeyId } from '../wire/key-id.js'
import type { KeyRecord } from '../storage/records.js'
import type { Kms } from './kms.js'

export interface ResolveOptions {
  /** Whether an alias name or alias ARN may stand for the key (AWS: cryptographic operations and DescribeKey). */
  allowAlias: boolean
}

function byKeyId(kms: Kms, keyId: string, original: string): KeyRecord {
  if (!isWellFormedKeyId(keyId)) throw notFoundInvalidKeyId(original)
  const key = kms.keys.get(keyId.toLowerCase())
  if (key === undefined) throw notFoundKey(kms.arnOf(keyId))
  return key
}

function byAlias(kms: Kms, aliasName: string): KeyRecord {
  const alias = kms.aliases.get(aliasName)
  const key = alias === undefined ? undefined : kms.keys.get(alias.keyId)
  if (key === undefined) throw aliasNotFound(aliasArn(kms.partition, kms.region, kms.accountId, aliasName))
  return key
}

/** The alias a KeyId input names (an alias name or alias ARN), if it names one: kms:RequestAlias. */
export function aliasNamedBy(keyIdInput: string | undefined): string | undefined {
  if (keyIdInput === undefined) return undefined
  if (keyIdInput.startsWith('alias/')) return keyIdInput
  const match = /^arn:[^:]+:kms:[^:]*:[^:]*:(alias\/.+)$/.exec(keyIdInput)
  return match?.[1]
}

export function resolveKey(kms: Kms, keyIdInput: string, options: ResolveOptions): KeyRecord {
  if (keyIdInput.startsWith('arn:')) {
    const arn = parseKmsArn(keyIdInput)
    if (arn === undefined) throw new KmsError('NotFoundException', `Invalid arn ${keyIdInput}`)
    if (arn.region !== kms.region) throw notFoundInvalidArn(arn.region)
    if (arn.account !== kms.accountId || arn.partition !== kms.partition) throw notFoundKey(keyIdInput)
    if (arn.resourceType === 'alias') {
      if (!options.allowAlias) throw notFoundInvalidKeyId(keyIdInput)
      return byAlias(kms, arn.resource)
    }
    return byKeyId(kms, arn.resource, keyIdInput)
  }
  if (keyIdInput.startsWith('alias/')) {
    if (!options.allowAlias) throw notFoundInvalidKeyId(keyIdInput)
    return byAlias(kms, keyIdInput)
  }
  return byKeyId(kms, keyIdInput, keyIdInput)
}
