/**
 * Grants as an authorization source: which grant, if any, lets this caller perform this
 * operation with this encryption context.
 *
 * @module
 */
import type { GrantForAuthorization } from './types.js'

/**
 * The grant operations that take an encryption context, and so the only ones grant
 * constraints are checked for. AWS: "Grant constraints are not applied to operations that
 * do not support an encryption context, such as cryptographic operations with asymmetric
 * KMS keys and management operations, such as DescribeKey or RetireGrant."
 */
export const OPERATIONS_WITH_ENCRYPTION_CONTEXT: ReadonlySet<string> = new Set([
  'Encrypt',
  'Decrypt',
  'ReEncryptFrom',
  'ReEncryptTo',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
])

type Pairs = Readonly<Record<string, string>>

/**
 * Whether every pair of `required` is in `present`. AWS (GrantConstraints): "in a grant
 * constraint, the key in each key-value pair is not case sensitive, but the value is case
 * sensitive."
 */
function containsPairs(present: Pairs, required: Pairs): boolean {
  const presentPairs = Object.entries(present).map(([key, value]) => [key.toLowerCase(), value] as const)
  return Object.entries(required).every(([key, value]) => {
    const lower = key.toLowerCase()
    return presentPairs.some(([k, v]) => k === lower && v === value)
  })
}

/**
 * True if the grant's constraints are satisfied by the encryption context:
 * EncryptionContextEquals needs exactly its pairs (no more, no fewer), EncryptionContextSubset
 * needs its pairs among the request's. A grant with both needs both. A missing context is
 * the empty one.
 */
export function grantConstraintsSatisfied(grant: GrantForAuthorization, encryptionContext: Record<string, string> | undefined): boolean {
  const context = encryptionContext ?? {}
  const equals = grant.constraints?.encryptionContextEquals
  const subset = grant.constraints?.encryptionContextSubset
  if (equals !== undefined && !(containsPairs(context, equals) && containsPairs(equals, context))) return false
  if (subset !== undefined && !containsPairs(context, subset)) return false
  return true
}

/**
 * Whether a grant's SourceArn constraint, if it has one, admits the request: only a request
 * made on behalf of that resource, that is one whose `aws:SourceArn` is that ARN. A request
 * signed by a user directly carries no aws:SourceArn, so such a grant never admits it. Unlike
 * the encryption context constraints, it binds every operation and every key type (AWS
 * GrantConstraints: "supported on grants for all types of KMS keys"); RetireGrant, which it
 * does not bind, is not authorized through this engine.
 */
export function sourceArnConstraintSatisfied(grant: GrantForAuthorization, requestSourceArn: string | undefined): boolean {
  const required = grant.constraints?.sourceArn
  return required === undefined || requestSourceArn === required
}

/**
 * The first grant that lets `principalArn` perform `operation`. The grantee is compared
 * exactly; operations are compared exactly (they are enum values).
 */
export function findAllowingGrant(
  grants: readonly GrantForAuthorization[],
  principalArn: string,
  operation: string,
  encryptionContext: Record<string, string> | undefined,
  checkConstraints: boolean,
  requestSourceArn?: string,
): GrantForAuthorization | undefined {
  return grants.find(
    (grant) =>
      grant.granteePrincipal !== undefined &&
      grant.granteePrincipal === principalArn &&
      grant.operations.includes(operation) &&
      sourceArnConstraintSatisfied(grant, requestSourceArn) &&
      (!checkConstraints || grantConstraintsSatisfied(grant, encryptionContext)),
  )
}
