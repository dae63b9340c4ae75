/**
 * Grants (CreateGrant and friends; reference §4.6): their tokens, the operations each key
 * type can grant, and the checks the grant operations share. Grants are evaluated with key
 * policies by ./authorization (docs/authorization.md).
 *
 * @module
 */
import type { GrantConstraints, GrantListEntry, GrantOperation } from '../wire/kms-model-types.js'
import { randomBytes } from 'node:crypto'
import { KmsError } from '../wire/errors.js'
import type { GrantRecord, KeyRecord } from '../storage/records.js'
import { OPERATIONS_WITH_ENCRYPTION_CONTEXT, grantConstraintsSatisfied, sourceArnConstraintSatisfied } from './authorization/index.js'
import type { Kms } from './kms.js'
import { epochSeconds } from './operation.js'

/**
 * Operations a constrained grant may hold on any key, though the constraint does not bind
 * them (AWS, CreateGrant Constraints: "Grants with grant constraints can include the
 * DescribeKey and RetireGrant operations, but the constraint doesn't apply to these
 * operations"; for CreateGrant it binds the grants created with it instead).
 */
const CONSTRAINABLE_ON_ANY_KEY = new Set(['CreateGrant', 'RetireGrant', 'DescribeKey'])

const FOR_EVERY_KEY = ['CreateGrant', 'RetireGrant', 'DescribeKey']

/** The grant operations that make sense for a key's usage (AWS refuses the others). */
export function grantableOperations(key: KeyRecord): string[] {
  switch (key.keyUsage) {
    case 'ENCRYPT_DECRYPT':
      return key.keySpec === 'SYMMETRIC_DEFAULT'
        ? [...FOR_EVERY_KEY, ...OPERATIONS_WITH_ENCRYPTION_CONTEXT]
        : [...FOR_EVERY_KEY, 'Decrypt', 'Encrypt', 'ReEncryptFrom', 'ReEncryptTo', 'GetPublicKey']
    case 'SIGN_VERIFY':
      return [...FOR_EVERY_KEY, 'Sign', 'Verify', 'GetPublicKey']
    case 'GENERATE_VERIFY_MAC':
      return [...FOR_EVERY_KEY, 'GenerateMac', 'VerifyMac']
    case 'KEY_AGREEMENT':
      return [...FOR_EVERY_KEY, 'DeriveSharedSecret', 'GetPublicKey']
    case 'ENCAPSULATE_DECAPSULATE':
      return [...FOR_EVERY_KEY, 'Encapsulate', 'Decapsulate', 'GetPublicKey']
  }
}

export function checkGrantOperations(key: KeyRecord, arn: string, operations: readonly string[], constrained: boolean): void {
  const allowed = grantableOperations(key)
  const invalid = operations.filter((op) => !allowed.includes(op))
  if (invalid.length > 0) {
    throw new KmsError(
      'ValidationException',
      `Grant operations ${invalid.join(', ')} are not valid for ${arn} (key spec ${key.keySpec}, key usage ${key.keyUsage}).`,
    )
  }
  // AWS: "You cannot use an encryption context grant constraint for cryptographic operations
  // with asymmetric KMS keys or HMAC KMS keys." Their operations take no encryption context.
  const symmetric = key.keySpec === 'SYMMETRIC_DEFAULT'
  if (
    constrained &&
    operations.some((op) => !CONSTRAINABLE_ON_ANY_KEY.has(op) && !(symmetric && OPERATIONS_WITH_ENCRYPTION_CONTEXT.has(op)))
  ) {
    throw new KmsError(
      'ValidationException',
      'Grant constraints are allowed only on grants whose operations all accept an encryption context (cryptographic operations with a symmetric encryption key), and DescribeKey, CreateGrant, RetireGrant.',
    )
  }
}

/**
 * Whether every encryption context that `child` constraints accept, `parent` constraints
 * accept too. Keys compare ignoring case, values exactly, as grant constraints do.
 */
export function constraintsAtLeastAsStrict(child: GrantRecord['constraints'], parent: GrantRecord['constraints']): boolean {
  if (parent === undefined) return true
  // A parent bound to one source ARN admits only children bound to the same one.
  if (parent.sourceArn !== undefined && child?.sourceArn !== parent.sourceArn) return false
  if (parent.encryptionContextEquals === undefined && parent.encryptionContextSubset === undefined) return true
  const asGrant = { grantId: '', granteePrincipal: '', operations: [], constraints: parent }
  // An Equals child accepts one context only (whatever its Subset says).
  const equals = child?.encryptionContextEquals
  if (equals !== undefined) return grantConstraintsSatisfied(asGrant, equals)
  // A Subset child accepts every superset of its pairs: only a Subset parent within them accepts them all.
  const subset = child?.encryptionContextSubset
  if (subset === undefined || parent.encryptionContextEquals !== undefined) return false
  return grantConstraintsSatisfied(asGrant, subset)
}

/**
 * Whether one of `caller`'s grants on the key lets it create this grant. AWS ("Granting
 * CreateGrant permission"): a principal with CreateGrant from a grant can create only grants
 * for operations of that grant, with constraints at least as strict as its own.
 */
export function grantAllowsChildGrant(
  kms: Kms,
  key: KeyRecord,
  caller: string,
  operations: readonly string[],
  constraints: GrantRecord['constraints'],
): boolean {
  return kms.grantsOf(key.keyId).some(
    (parent) =>
      parent.granteePrincipal === caller &&
      parent.operations.includes('CreateGrant') &&
      // The caller signed the request itself: it carries no aws:SourceArn.
      sourceArnConstraintSatisfied(parent, undefined) &&
      operations.every((op) => parent.operations.includes(op)) &&
      constraintsAtLeastAsStrict(constraints, parent.constraints),
  )
}

const GRANT_ID = /^[0-9a-f]{64}$/
const GRANT_TOKEN = /^[A-Za-z0-9_-]{128}$/

export function newGrantId(): string {
  return randomBytes(32).toString('hex')
}

/**
 * A grant token: the grant's id and 64 random bytes, 128 base64url characters. The random
 * part keeps it from being derived from the grant id, which ListGrants shows.
 */
export function newGrantToken(grantId: string): string {
  return Buffer.concat([Buffer.from(grantId, 'hex'), randomBytes(64)]).toString('base64url')
}

export function checkGrantId(grantId: string): void {
  if (!GRANT_ID.test(grantId)) throw new KmsError('InvalidGrantIdException', `Invalid grant ID ${grantId}`)
}

/** Every grant token in a request must be one Trent issued; the grant it names takes effect at once (it is already committed). */
export function checkGrantTokens(tokens: readonly string[] | undefined): void {
  for (const token of tokens ?? []) {
    if (!GRANT_TOKEN.test(token)) throw new KmsError('InvalidGrantTokenException', 'The grant token is not valid.')
  }
}

/** The grant a token names, if it still exists. */
export function grantOfToken(kms: Kms, token: string): GrantRecord | undefined {
  if (!GRANT_TOKEN.test(token)) throw new KmsError('InvalidGrantTokenException', 'The grant token is not valid.')
  const grantId = Buffer.from(token, 'base64url').subarray(0, 32).toString('hex')
  const grant = kms.grants.get(grantId)
  return grant?.grantToken === token ? grant : undefined
}

/** A grant as ListGrants and ListRetirableGrants show it. */
export function grantListEntry(kms: Kms, grant: GrantRecord): GrantListEntry {
  const entry: GrantListEntry = {
    KeyId: kms.arnOf(grant.keyId),
    GrantId: grant.grantId,
  }
  if (grant.name !== undefined) entry.Name = grant.name
  entry.CreationDate = epochSeconds(grant.createdAt)
  if (grant.granteePrincipal !== undefined) entry.GranteePrincipal = grant.granteePrincipal
  if (grant.retiringPrincipal !== undefined) entry.RetiringPrincipal = grant.retiringPrincipal
  entry.IssuingAccount = grant.issuingAccount
  // Stored only after CreateGrant checked each against the model's enum.
  entry.Operations = grant.operations as GrantOperation[]
  if (grant.constraints !== undefined) {
    const constraints: GrantConstraints = {}
    if (grant.constraints.encryptionContextSubset !== undefined)
      constraints.EncryptionContextSubset = grant.constraints.encryptionContextSubset
    if (grant.constraints.encryptionContextEquals !== undefined)
      constraints.EncryptionContextEquals = grant.constraints.encryptionContextEquals
    if (grant.constraints.sourceArn !== undefined) constraints.SourceArn = grant.constraints.sourceArn
    entry.Constraints = constraints
  }
  // In the model's member order (GrantListEntry): the service principals come last.
  if (grant.granteeServicePrincipal !== undefined) entry.GranteeServicePrincipal = grant.granteeServicePrincipal
  if (grant.retiringServicePrincipal !== undefined) entry.RetiringServicePrincipal = grant.retiringServicePrincipal
  return entry
}

/** Every operation a grant can allow (CreateGrant's Operations enum). */
export const GRANT_OPERATIONS: ReadonlySet<string> = new Set([
  ...OPERATIONS_WITH_ENCRYPTION_CONTEXT,
  ...FOR_EVERY_KEY,
  'Sign',
  'Verify',
  'GetPublicKey',
  'GenerateMac',
  'VerifyMac',
  'DeriveSharedSecret',
  'Encapsulate',
  'Decapsulate',
])
