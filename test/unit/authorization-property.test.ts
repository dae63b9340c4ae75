/**
 * Properties of the authorization engine over random policies, grants and requests:
 * the laws that make an explicit Deny trustworthy, and monotonicity of Allow.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as fc from 'fast-check'
import {
  authorize,
  encryptionContextConditions,
  grantConstraintsSatisfied,
  parsePolicyValue,
  type AuthorizationInputs,
  type AuthorizationRequest,
  type GrantForAuthorization,
} from '../../src/kms/authorization/index.js'

import { ACCOUNT, ALICE, BOB, KEY, OTHER_KEY, ROOT } from '../helpers/authorization-fixtures.js'

type Json = Record<string, unknown>

const principalArb = fc.constantFrom<unknown>(
  '*',
  { AWS: '*' },
  { AWS: ROOT },
  { AWS: ACCOUNT },
  { AWS: ALICE },
  { AWS: BOB },
  { AWS: [ALICE, BOB] },
)
const actionArb = fc.constantFrom<string | string[]>(
  'kms:*',
  'kms:Encrypt',
  'kms:Decrypt',
  'kms:Generate*',
  ['kms:Encrypt', 'kms:Decrypt'],
  '*',
)
const resourceArb = fc.constantFrom<string>('*', KEY, OTHER_KEY, `arn:aws:kms:*:${ACCOUNT}:key/*`)
const conditionArb = fc.option(
  fc.constantFrom<Json>(
    { StringEquals: { 'kms:EncryptionContext:Dept': 'IT' } },
    { StringNotEquals: { 'kms:EncryptionContext:Dept': 'IT' } },
    { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'Dept' } },
    { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['Dept'] } },
    { Bool: { 'aws:SecureTransport': 'true' } },
    { Null: { 'kms:EncryptionContextKeys': 'false' } },
    { StringEquals: { 'kms:EncryptionContext:user': '${aws:username}' } },
  ),
  { nil: undefined },
)

const keyStatementArb = fc
  .record({
    effect: fc.constantFrom('Allow', 'Deny'),
    principal: principalArb,
    notPrincipal: fc.boolean(),
    action: actionArb,
    notAction: fc.boolean(),
    condition: conditionArb,
  })
  .map((s): Json => ({
    Effect: s.effect,
    // Allow with NotPrincipal is legal but rare; keep the random policies mostly ordinary.
    [s.notPrincipal && s.principal !== '*' ? 'NotPrincipal' : 'Principal']: s.principal,
    [s.notAction ? 'NotAction' : 'Action']: s.action,
    Resource: '*',
    ...(s.condition === undefined ? {} : { Condition: s.condition }),
  }))

const identityStatementArb = fc
  .record({
    effect: fc.constantFrom('Allow', 'Deny'),
    action: actionArb,
    resource: resourceArb,
    notResource: fc.boolean(),
    condition: conditionArb,
  })
  .map((s): Json => ({
    Effect: s.effect,
    Action: s.action,
    [s.notResource ? 'NotResource' : 'Resource']: s.resource,
    ...(s.condition === undefined ? {} : { Condition: s.condition }),
  }))

const grantArb = fc
  .record({
    grantId: fc.constantFrom('g1', 'g2', 'g3'),
    grantee: fc.constantFrom(ALICE, BOB, ROOT),
    operations: fc.subarray(['Encrypt', 'Decrypt', 'GenerateDataKey']),
    constraints: fc.option(
      fc.constantFrom<GrantForAuthorization['constraints']>(
        { encryptionContextEquals: { Dept: 'IT' } },
        { encryptionContextSubset: { Dept: 'IT' } },
      ),
      { nil: undefined },
    ),
  })
  .map((g): GrantForAuthorization => ({
    grantId: g.grantId,
    granteePrincipal: g.grantee,
    operations: g.operations,
    ...(g.constraints === undefined ? {} : { constraints: g.constraints }),
  }))

const scenarioArb = fc.record({
  keyStatements: fc.array(keyStatementArb, { minLength: 0, maxLength: 4 }),
  identityStatements: fc.array(identityStatementArb, { minLength: 0, maxLength: 3 }),
  grants: fc.array(grantArb, { maxLength: 2 }),
  principal: fc.constantFrom(ROOT, ALICE, BOB),
  operation: fc.constantFrom('Encrypt', 'Decrypt', 'GenerateDataKey'),
  encryptionContext: fc.option(
    fc.constantFrom<Record<string, string>>({ Dept: 'IT' }, { dept: 'IT' }, { Dept: 'it' }, { Dept: 'IT', Other: 'x' }, { user: 'alice' }),
    { nil: undefined },
  ),
  secureTransport: fc.option(fc.boolean(), { nil: undefined }),
  onKey: fc.boolean(),
})

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never

function run(s: Scenario, extraKey: Json[] = [], extraIdentity: Json[] = []) {
  const request: AuthorizationRequest = {
    partition: 'aws',
    account: ACCOUNT,
    principalArn: s.principal,
    action: `kms:${s.operation}`,
    resource: s.onKey ? KEY : '*',
    context: {
      ...encryptionContextConditions(s.encryptionContext),
      ...(s.secureTransport === undefined ? {} : { 'aws:SecureTransport': s.secureTransport }),
    },
  }
  const statements = [...s.keyStatements, ...extraKey]
  const inputs: AuthorizationInputs = {
    identityPolicies: [parsePolicyValue({ Version: '2012-10-17', Statement: [...s.identityStatements, ...extraIdentity] }, 'identity')],
    grants: s.grants,
    grantOperation: s.operation,
    ...(s.encryptionContext === undefined ? {} : { encryptionContext: s.encryptionContext }),
  }
  // A key policy with no statement is not something CreateKey accepts, but the engine must still deny.
  if (s.onKey) inputs.keyPolicy = parsePolicyValue({ Version: '2012-10-17', Statement: statements }, 'key')
  return authorize(request, inputs)
}

const PARAMS = { numRuns: 400 }

test('a Deny of everything in the key policy denies every request on the key, grants or not', () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const decision = run({ ...s, onKey: true }, [{ Effect: 'Deny', Principal: '*', Action: '*', Resource: '*' }])
      assert.equal(decision.allowed, false)
      assert.equal(decision.allowed === false && decision.explicitDeny, true)
    }),
    PARAMS,
  )
})

test('a Deny of everything in an IAM policy denies every non-root request', () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      fc.pre(s.principal !== ROOT)
      const decision = run(s, [], [{ Effect: 'Deny', Action: '*', Resource: '*' }])
      assert.equal(decision.allowed, false)
    }),
    PARAMS,
  )
})

test('adding any Deny statement never turns a deny into an allow', () => {
  fc.assert(
    fc.property(scenarioArb, keyStatementArb, identityStatementArb, fc.boolean(), (s, keyDeny, identityDeny, inKeyPolicy) => {
      const before = run(s)
      const after = inKeyPolicy ? run(s, [{ ...keyDeny, Effect: 'Deny' }]) : run(s, [], [{ ...identityDeny, Effect: 'Deny' }])
      if (!before.allowed) assert.equal(after.allowed, false)
    }),
    PARAMS,
  )
})

test('adding any Allow statement never turns an allow into a deny', () => {
  fc.assert(
    fc.property(scenarioArb, keyStatementArb, identityStatementArb, fc.boolean(), (s, keyAllow, identityAllow, inKeyPolicy) => {
      const before = run(s)
      const after = inKeyPolicy ? run(s, [{ ...keyAllow, Effect: 'Allow' }]) : run(s, [], [{ ...identityAllow, Effect: 'Allow' }])
      if (before.allowed) assert.equal(after.allowed, true)
    }),
    PARAMS,
  )
})

test('an explicit deny is reported exactly when some Deny applies, whatever grants exist', () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const withGrants = run(s)
      const withoutGrants = run({ ...s, grants: [] })
      const explicit = (d: typeof withGrants): boolean => !d.allowed && d.explicitDeny
      assert.equal(explicit(withGrants), explicit(withoutGrants))
    }),
    PARAMS,
  )
})

test('a grant satisfied by a context is satisfied by that exact context, and Equals implies Subset', () => {
  const pairs = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 4 })
  fc.assert(
    fc.property(pairs, pairs, (constraint, extra) => {
      const equals: GrantForAuthorization = {
        grantId: 'g',
        granteePrincipal: ALICE,
        operations: ['Decrypt'],
        constraints: { encryptionContextEquals: constraint },
      }
      const subset: GrantForAuthorization = {
        grantId: 'g',
        granteePrincipal: ALICE,
        operations: ['Decrypt'],
        constraints: { encryptionContextSubset: constraint },
      }
      assert.equal(grantConstraintsSatisfied(equals, { ...constraint }), true)
      assert.equal(grantConstraintsSatisfied(subset, { ...extra, ...constraint }), true)
      const context = { ...extra, ...constraint }
      if (grantConstraintsSatisfied(equals, context)) assert.equal(grantConstraintsSatisfied(subset, context), true)
    }),
    PARAMS,
  )
})
