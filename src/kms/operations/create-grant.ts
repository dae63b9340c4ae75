import { KmsError } from '../../wire/errors.js'
import type { GrantRecord } from '../../storage/records.js'
import { keyCheck } from '../access.js'
import { rejectDryRun } from '../crypto-keys.js'
import { checkGrantOperations, checkGrantTokens, grantAllowsChildGrant, newGrantId, newGrantToken } from '../grants.js'
import { checkKeyState } from '../key-state.js'
import { principalMember, type Input, type Operation } from '../operation.js'
import { rootPrincipalArn } from '../principals.js'
import { resolveKey } from '../resolve-key.js'

/** AWS's quota of grants per key (reference §9.2). */
const MAX_GRANTS_PER_KEY = 50_000

function constraintsOf(input: Input): GrantRecord['constraints'] {
  const raw = input.Constraints
  if (typeof raw !== 'object' || raw === null) return undefined
  const { EncryptionContextSubset: subset, EncryptionContextEquals: equals } = raw as Record<string, unknown>
  const constraints: NonNullable<GrantRecord['constraints']> = {}
  if (typeof subset === 'object' && subset !== null) constraints.encryptionContextSubset = { ...(subset as Record<string, string>) }
  if (typeof equals === 'object' && equals !== null) constraints.encryptionContextEquals = { ...(equals as Record<string, string>) }
  return Object.keys(constraints).length > 0 ? constraints : undefined
}

function sameGrant(a: GrantRecord, b: Omit<GrantRecord, 'grantId' | 'grantToken' | 'createdAt'>): boolean {
  return (
    a.keyId === b.keyId &&
    a.granteePrincipal === b.granteePrincipal &&
    a.retiringPrincipal === b.retiringPrincipal &&
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
    'GrantTokens',
    'Name',
    'DryRun',
  ],
  refuses: {
    'Constraints.SourceArn': 'Grants constrained to a source ARN are not implemented yet (issue 12).',
    'GranteeServicePrincipal': 'Grants to AWS service principals are not implemented yet (issue 12).',
    'RetiringServicePrincipal': 'Grants to AWS service principals are not implemented yet (issue 12).',
  },
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
    const check = keyCheck('kms:CreateGrant', key, input, {
      conditionMembers: { 'kms:GrantOperations': 'Operations', 'kms:GranteePrincipal': 'GranteePrincipal', 'kms:RetiringPrincipal': 'RetiringPrincipal' },
    }, undefined, throughGrant ? 'CreateGrant' : undefined)
    if (constraintTypes.length > 0) check.conditions = { ...check.conditions, 'kms:GrantConstraintType': constraintTypes }
    return [check]
  },
  async handle(kms, input) {
    const keyIdInput = input.KeyId
    const granteePrincipal = principalMember(input, 'GranteePrincipal')
    const retiringPrincipal = input.RetiringPrincipal
    const operations = [...new Set(input.Operations ?? [])]
    const constraints = constraintsOf(input)
    const name = input.Name
    checkGrantTokens(input.GrantTokens)
    if (operations.length === 0) throw new KmsError('ValidationException', 'Operations must not be empty.')
    const result = await kms.mutate(() => {
      const key = resolveKey(kms, keyIdInput, { allowAlias: false })
      const arn = kms.arnOf(key.keyId)
      checkKeyState('cryptographic', key.state, arn)
      checkGrantOperations(key, arn, operations, constraints !== undefined)
      rejectDryRun(input)
      const fields = {
        keyId: key.keyId,
        granteePrincipal,
        ...(retiringPrincipal !== undefined ? { retiringPrincipal } : {}),
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
    })
    return { GrantToken: result.grantToken, GrantId: result.grantId }
  },
}
