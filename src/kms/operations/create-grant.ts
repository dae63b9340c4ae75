import { KmsError } from '../../wire/errors.js'
import type { GrantRecord } from '../../storage/records.js'
import { keyCheck } from '../access.js'
import { rejectDryRun } from '../crypto-keys.js'
import { checkGrantOperations, checkGrantTokens, grantAllowsChildGrant, newGrantId, newGrantToken } from '../grants.js'
import { checkKeyState } from '../key-state.js'
import { type Input, type InputOf, type Operation } from '../operation.js'
import { rootPrincipalArn } from '../principals.js'
import { resolveKey } from '../resolve-key.js'

/** AWS's quota of grants per key (reference §9.2). */
const MAX_GRANTS_PER_KEY = 50_000

/**
 * The members of GrantConstraints this KMS enforces. Any other member that reaches the
 * handler (the model gains one before Trent implements it) is refused: a constraint that
 * was silently dropped would make the grant wider than its creator asked for.
 */
export const IMPLEMENTED_GRANT_CONSTRAINTS: ReadonlySet<string> = new Set([
  'EncryptionContextSubset',
  'EncryptionContextEquals',
  'SourceArn',
])

function constraintsOf(input: Input): GrantRecord['constraints'] {
  const raw = input.Constraints
  if (typeof raw !== 'object' || raw === null) return undefined
  const members = raw as Record<string, unknown>
  const unsupported = Object.keys(members).filter((name) => !IMPLEMENTED_GRANT_CONSTRAINTS.has(name) && members[name] !== undefined)
  if (unsupported.length > 0) {
    throw new KmsError('UnsupportedOperationException', `Grant constraint ${unsupported.join(', ')} is not supported by this KMS.`)
  }
  const { EncryptionContextSubset: subset, EncryptionContextEquals: equals, SourceArn: sourceArn } = members
  const constraints: NonNullable<GrantRecord['constraints']> = {}
  if (typeof subset === 'object' && subset !== null) constraints.encryptionContextSubset = { ...(subset as Record<string, string>) }
  if (typeof equals === 'object' && equals !== null) constraints.encryptionContextEquals = { ...(equals as Record<string, string>) }
  if (typeof sourceArn === 'string') constraints.sourceArn = sourceArn
  return Object.keys(constraints).length > 0 ? constraints : undefined
}

/** Who gets the grant and who may retire it: AWS's rules for the principal members. */
interface Principals {
  granteePrincipal?: string
  granteeServicePrincipal?: string
  retiringPrincipal?: string
  retiringServicePrincipal?: string
}

/**
 * AWS (CreateGrant): "You must specify either GranteePrincipal or GranteeServicePrincipal,
 * but not both"; "either RetiringPrincipal or RetiringServicePrincipal, but not both"; "When
 * you specify a GranteeServicePrincipal, you must also specify a SourceArn grant constraint.
 * In addition, you must specify either a RetiringPrincipal or a RetiringServicePrincipal."
 * AWS documents no error text for these; the messages are Trent's (docs/errors.md).
 */
function principalsOf(input: InputOf<'CreateGrant'>, constraints: GrantRecord['constraints']): Principals {
  const { GranteePrincipal: granteePrincipal, GranteeServicePrincipal: granteeServicePrincipal } = input
  const { RetiringPrincipal: retiringPrincipal, RetiringServicePrincipal: retiringServicePrincipal } = input
  if (granteePrincipal === undefined && granteeServicePrincipal === undefined) {
    throw new KmsError('ValidationException', 'You must specify either GranteePrincipal or GranteeServicePrincipal.')
  }
  if (granteePrincipal !== undefined && granteeServicePrincipal !== undefined) {
    throw new KmsError('ValidationException', 'You cannot specify both GranteePrincipal and GranteeServicePrincipal.')
  }
  if (retiringPrincipal !== undefined && retiringServicePrincipal !== undefined) {
    throw new KmsError('ValidationException', 'You cannot specify both RetiringPrincipal and RetiringServicePrincipal.')
  }
  if (granteeServicePrincipal !== undefined) {
    if (constraints?.sourceArn === undefined) {
      throw new KmsError('ValidationException', 'A grant for a GranteeServicePrincipal must have a SourceArn grant constraint.')
    }
    if (retiringPrincipal === undefined && retiringServicePrincipal === undefined) {
      throw new KmsError(
        'ValidationException',
        'A grant for a GranteeServicePrincipal must have a RetiringPrincipal or a RetiringServicePrincipal.',
      )
    }
  }
  return {
    ...(granteePrincipal !== undefined ? { granteePrincipal } : {}),
    ...(granteeServicePrincipal !== undefined ? { granteeServicePrincipal } : {}),
    ...(retiringPrincipal !== undefined ? { retiringPrincipal } : {}),
    ...(retiringServicePrincipal !== undefined ? { retiringServicePrincipal } : {}),
  }
}

function sameGrant(a: GrantRecord, b: Omit<GrantRecord, 'grantId' | 'grantToken' | 'createdAt'>): boolean {
  return (
    a.keyId === b.keyId &&
    a.granteePrincipal === b.granteePrincipal &&
    a.granteeServicePrincipal === b.granteeServicePrincipal &&
    a.retiringPrincipal === b.retiringPrincipal &&
    a.retiringServicePrincipal === b.retiringServicePrincipal &&
    JSON.stringify([...a.operations].sort()) === JSON.stringify([...b.operations].sort()) &&
    JSON.stringify(a.constraints ?? null) === JSON.stringify(b.constraints ?? null)
  )
}

export const createGrant: Operation<'CreateGrant'> = {
  name: 'CreateGrant',
  members: [
    'KeyId',
    'GranteePrincipal',
    'RetiringPrincipal',
    'Operations',
    'Constraints.EncryptionContextSubset',
    'Constraints.EncryptionContextEquals',
    'Constraints.SourceArn',
    'GrantTokens',
    'Name',
    'DryRun',
    'GranteeServicePrincipal',
    'RetiringServicePrincipal',
  ],
  access(kms, input, context) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: false })
    const constraints = constraintsOf(input)
    // A grant's CreateGrant counts only for grants within it; beyond, the policies alone decide.
    const operations = input.Operations ?? []
    const throughGrant = grantAllowsChildGrant(kms, key, context.caller.principalArn, operations, constraints)
    const constraintTypes = [
      ...(constraints?.encryptionContextEquals !== undefined ? ['EncryptionContextEquals'] : []),
      ...(constraints?.encryptionContextSubset !== undefined ? ['EncryptionContextSubset'] : []),
    ]
    const check = keyCheck(
      'kms:CreateGrant',
      key,
      input,
      {
        conditionMembers: {
          'kms:GrantOperations': 'Operations',
          'kms:GranteePrincipal': 'GranteePrincipal',
          'kms:RetiringPrincipal': 'RetiringPrincipal',
          'kms:GranteeServicePrincipal': 'GranteeServicePrincipal',
        },
      },
      undefined,
      throughGrant ? 'CreateGrant' : undefined,
    )
    if (constraintTypes.length > 0) check.conditions = { ...check.conditions, 'kms:GrantConstraintType': constraintTypes }
    if (constraints?.sourceArn !== undefined)
      check.conditions = { ...check.conditions, 'kms:GrantConstraintSourceArn': constraints.sourceArn }
    return [check]
  },
  async handle(kms, input, context) {
    const keyIdInput = input.KeyId
    const operations = [...new Set(input.Operations ?? [])]
    const constraints = constraintsOf(input)
    const principals = principalsOf(input, constraints)
    const name = input.Name
    checkGrantTokens(input.GrantTokens)
    if (operations.length === 0) throw new KmsError('ValidationException', 'Operations must not be empty.')
    const contextConstrained = constraints?.encryptionContextEquals !== undefined || constraints?.encryptionContextSubset !== undefined
    const result = await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      checkKeyState('cryptographic', key.state, arn)
      checkGrantOperations(key, arn, operations, contextConstrained)
      rejectDryRun(input)
      const fields = {
        keyId: key.keyId,
        ...principals,
        issuingAccount: rootPrincipalArn(kms.partition, kms.accountId),
        operations,
        ...(constraints !== undefined ? { constraints } : {}),
        ...(name !== undefined ? { name } : {}),
      }
      // A retried CreateGrant with the same name and parameters gets the same grant (AWS's idempotency by Name).
      const existing = name === undefined ? undefined : kms.grantsOf(key.keyId).find((g) => g.name === name && sameGrant(g, fields))
      if (existing !== undefined) return { writes: [], result: existing }
      if (kms.grantsOf(key.keyId).length >= MAX_GRANTS_PER_KEY) {
        throw new KmsError('LimitExceededException', `The key ${arn} already has ${MAX_GRANTS_PER_KEY} grants.`)
      }
      const grantId = newGrantId()
      const grant: GrantRecord = { grantId, grantToken: newGrantToken(grantId), createdAt: kms.clock.now(), ...fields }
      return { writes: [{ kind: 'putGrant', grant }], result: grant }
    }, context.auditIntent)
    return { GrantToken: result.grantToken, GrantId: result.grantId }
  },
}
