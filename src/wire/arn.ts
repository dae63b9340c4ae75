/**
 * KMS ARNs: `arn:<partition>:kms:<region>:<account>:key/<key-id>` and
 * `arn:<partition>:kms:<region>:<account>:alias/<name>`.
 *
 * @module
 */

export interface KmsArn {
  partition: string
  region: string
  account: string
  resourceType: 'key' | 'alias'
  /** The key id, or the alias name WITH its `alias/` prefix. */
  resource: string
}

export function keyArn(partition: string, region: string, account: string, keyId: string): string {
  return `arn:${partition}:kms:${region}:${account}:key/${keyId}`
}

export function aliasArn(partition: string, region: string, account: string, aliasName: string): string {
  return `arn:${partition}:kms:${region}:${account}:${aliasName}`
}

/** Parses a KMS key or alias ARN; undefined for anything else. */
export function parseKmsArn(value: string): KmsArn | undefined {
  const parts = value.split(':')
  if (parts.length < 6 || parts[0] !== 'arn' || parts[2] !== 'kms') return undefined
  const [, partition, , region, account] = parts
  const resource = parts.slice(5).join(':')
  if (partition === undefined || region === undefined || account === undefined) return undefined
  if (resource.startsWith('key/')) {
    return { partition, region, account, resourceType: 'key', resource: resource.slice(4) }
  }
  if (resource.startsWith('alias/')) {
    return { partition, region, account, resourceType: 'alias', resource }
  }
  return undefined
}

/** The partition a region belongs to, as AWS names them. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn'
  if (region.startsWith('us-gov-')) return 'aws-us-gov'
  if (region.startsWith('us-iso-')) return 'aws-iso'
  if (region.startsWith('us-isob-')) return 'aws-iso-b'
  return 'aws'
}
