/**
 * The authorization engine, table by table: principals × key policies × IAM policies ×
 * grants × conditions, each row its own test with the decision it must reach.
 *
 * The expectations come from AWS's documentation of KMS authorization (developer guide:
 * key policies, policy evaluation, grants, condition keys) and are written out here
 * independently of the implementation.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  accessDeniedMessage,
  allowsFuturePolicyUpdate,
  authorize,
  encryptionContextConditions,
  grantConstraintsSatisfied,
  parsePolicyValue,
  type AuthorizationRequest,
  type ConditionContext,
  type Decision,
  type GrantForAuthorization,
  type PolicyDocument,
} from '../../src/kms/authorization/index.js'

import { ACCOUNT, ALICE, BOB, KEY, OTHER_KEY, ROOT } from '../helpers/authorization-fixtures.js'

type Json = Record<string, unknown>

/** The default key policy's one statement, as AWS writes it. */
const ENABLE_IAM: Json = { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' }

const keyPolicy = (...statements: Json[]): Json => ({ Version: '2012-10-17', Statement: statements })
const iamPolicy = (...statements: Json[]): Json => ({ Version: '2012-10-17', Statement: statements })
const allowIam = (action: string | string[], resource: string | string[] = '*', extra: Json = {}): Json => ({
  Effect: 'Allow',
  Action: action,
  Resource: resource,
  ...extra,
})
const denyIam = (action: string | string[], resource: string | string[] = '*', extra: Json = {}): Json => ({
  Effect: 'Deny',
  Action: action,
  Resource: resource,
  ...extra,
})
const allowKey = (principal: unknown, action: string | string[], extra: Json = {}): Json => ({
  Effect: 'Allow',
  Principal: principal,
  Action: action,
  Resource: '*',
  ...extra,
})
const denyKey = (principal: unknown, action: string | string[], extra: Json = {}): Json => ({
  Effect: 'Deny',
  Principal: principal,
  Action: action,
  Resource: '*',
  ...extra,
})

const DEFAULT_POLICY = keyPolicy(ENABLE_IAM)

type Expected =
  | 'allow by key-policy'
  | 'allow by identity-policy'
  | 'allow by grant'
  | 'deny: no resource-based allow'
  | 'deny: no identity-based allow'
  | 'deny: explicit in key policy'
  | 'deny: explicit in identity policy'

interface Row {
  readonly name: string
  readonly principal: string
  readonly action?: string
  readonly resource?: string
  readonly context?: ConditionContext
  /** A key policy document; `null` for an action on '*' (no key policy). Defaults to the default key policy. */
  readonly keyPolicy?: Json | null
  readonly identity?: readonly Json[]
  readonly grants?: readonly GrantForAuthorization[]
  readonly grantOperation?: string
  readonly encryptionContext?: Record<string, string>
  readonly encryptionContextApplies?: boolean
  readonly expect: Expected
  readonly grantId?: string
}

function decide(row: Row): { request: AuthorizationRequest; decision: Decision } {
  const request: AuthorizationRequest = {
    partition: 'aws',
    account: ACCOUNT,
    principalArn: row.principal,
    action: row.action ?? 'kms:Encrypt',
    resource: row.resource ?? (row.keyPolicy === null ? '*' : KEY),
    // Encryption context condition keys follow from the encryption context, as the integrator derives them.
    context: { ...encryptionContextConditions(row.encryptionContext), ...row.context },
  }
  const policy = row.keyPolicy === null ? undefined : parsePolicyValue(row.keyPolicy ?? DEFAULT_POLICY, 'key')
  const decision = authorize(request, {
    ...(policy === undefined ? {} : { keyPolicy: policy }),
    identityPolicies: (row.identity ?? []).map((p) => parsePolicyValue(p, 'identity')),
    grants: [...(row.grants ?? [])],
    ...(row.grantOperation === undefined ? {} : { grantOperation: row.grantOperation }),
    ...(row.encryptionContext === undefined ? {} : { encryptionContext: row.encryptionContext }),
    ...(row.encryptionContextApplies === undefined ? {} : { encryptionContextApplies: row.encryptionContextApplies }),
  })
  return { request, decision }
}

function summarize(decision: Decision): Expected {
  if (decision.allowed) return `allow by ${decision.by}`
  if (decision.explicitDeny)
    return decision.deniedBy === 'key-policy' ? 'deny: explicit in key policy' : 'deny: explicit in identity policy'
  return decision.noAllowIn === 'key-policy' ? 'deny: no resource-based allow' : 'deny: no identity-based allow'
}

function runTable(title: string, rows: readonly Row[]): void {
  describe(title, () => {
    for (const row of rows) {
      test(row.name, () => {
        const { decision } = decide(row)
        assert.equal(summarize(decision), row.expect)
        if (row.grantId !== undefined) assert.equal(decision.allowed && decision.grantId, row.grantId)
      })
    }
  })
}

// ---------------------------------------------------------------------------------------
// Principals × key policies × IAM policies

const IAM_ENCRYPT = iamPolicy(allowIam('kms:Encrypt'))

runTable('key policy and IAM policies', [
  { name: 'default key policy: root is allowed', principal: ROOT, expect: 'allow by key-policy' },
  {
    name: 'default key policy: a user with an IAM Allow is allowed',
    principal: ALICE,
    identity: [IAM_ENCRYPT],
    expect: 'allow by identity-policy',
  },
  { name: 'default key policy: a user without IAM policies is denied', principal: ALICE, expect: 'deny: no identity-based allow' },
  {
    name: 'default key policy: an IAM Allow for another action does not count',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:Decrypt'))],
    expect: 'deny: no identity-based allow',
  },
  {
    name: 'default key policy: an IAM Allow for another key does not count',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:Encrypt', OTHER_KEY))],
    expect: 'deny: no identity-based allow',
  },
  {
    name: 'default key policy: an IAM Allow on key ARN pattern',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:Encrypt', `arn:aws:kms:*:${ACCOUNT}:key/*`))],
    expect: 'allow by identity-policy',
  },
  {
    name: 'default key policy: an IAM Allow with ? wildcards in the ARN',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:Encrypt', `arn:aws:kms:us-east-?:${ACCOUNT}:key/1234abcd-*`))],
    expect: 'allow by identity-policy',
  },
  {
    name: 'IAM policies of several documents are combined',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:Decrypt')), IAM_ENCRYPT],
    expect: 'allow by identity-policy',
  },
  {
    name: 'the bare account ID delegates like the root ARN',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ACCOUNT }, 'kms:*')),
    identity: [IAM_ENCRYPT],
    expect: 'allow by identity-policy',
  },
  {
    name: 'the bare account ID allows root',
    principal: ROOT,
    keyPolicy: keyPolicy(allowKey({ AWS: ACCOUNT }, 'kms:*')),
    expect: 'allow by key-policy',
  },
  {
    name: 'key policy naming the user allows it without IAM',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:Encrypt')),
    expect: 'allow by key-policy',
  },
  {
    name: 'key policy naming the user in a list',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: [BOB, ALICE] }, ['kms:Decrypt', 'kms:Encrypt'])),
    expect: 'allow by key-policy',
  },
  {
    name: 'key policy naming the user does not allow root',
    principal: ROOT,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:*')),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'key policy naming only bob: IAM cannot help alice',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: BOB }, 'kms:*')),
    identity: [IAM_ENCRYPT],
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'key policy allowing the user another action only',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:Decrypt')),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Principal "*" allows anyone',
    principal: BOB,
    keyPolicy: keyPolicy(allowKey('*', 'kms:Encrypt')),
    expect: 'allow by key-policy',
  },
  {
    name: 'Principal {"AWS": "*"} allows anyone',
    principal: BOB,
    keyPolicy: keyPolicy(allowKey({ AWS: '*' }, 'kms:Encrypt')),
    expect: 'allow by key-policy',
  },
  {
    name: 'a key policy Resource naming another key does not apply',
    principal: ALICE,
    keyPolicy: keyPolicy({ ...allowKey({ AWS: ALICE }, 'kms:*'), Resource: OTHER_KEY }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'a key policy Resource naming this key applies',
    principal: ALICE,
    keyPolicy: keyPolicy({ ...allowKey({ AWS: ALICE }, 'kms:*'), Resource: KEY }),
    expect: 'allow by key-policy',
  },
  {
    name: 'a Service principal never matches a Trent caller',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ Service: 'logs.amazonaws.com' }, 'kms:*')),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Statement given as a single object',
    principal: ROOT,
    keyPolicy: { Version: '2012-10-17', Statement: ENABLE_IAM },
    expect: 'allow by key-policy',
  },
  {
    name: 'a statement without Action never applies (AWS stores it, ineffective)',
    principal: ALICE,
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: ALICE }, Resource: '*' }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'a statement without Resource never applies',
    principal: ALICE,
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: ALICE }, Action: 'kms:*' }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'root ignores IAM policies: an IAM Deny does not stop it',
    principal: ROOT,
    identity: [iamPolicy(denyIam('kms:*'))],
    expect: 'allow by key-policy',
  },
  {
    name: 'root ignores IAM policies: an IAM Allow does not help it',
    principal: ROOT,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:*')),
    identity: [iamPolicy(allowIam('kms:*'))],
    expect: 'deny: no resource-based allow',
  },
])

runTable('explicit Deny', [
  {
    name: 'key policy Deny for the user beats its IAM Allow',
    principal: ALICE,
    keyPolicy: keyPolicy(ENABLE_IAM, denyKey({ AWS: ALICE }, 'kms:Encrypt')),
    identity: [IAM_ENCRYPT],
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'key policy Deny beats a key policy Allow for the same user',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:*'), denyKey({ AWS: ALICE }, 'kms:Encrypt')),
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'key policy Deny to the account applies to its users',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:*'), denyKey({ AWS: ROOT }, 'kms:Encrypt')),
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'key policy Deny to the account applies to root',
    principal: ROOT,
    keyPolicy: keyPolicy(ENABLE_IAM, denyKey({ AWS: ACCOUNT }, 'kms:*')),
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'key policy Deny for bob leaves alice alone',
    principal: ALICE,
    keyPolicy: keyPolicy(ENABLE_IAM, denyKey({ AWS: BOB }, 'kms:*')),
    identity: [IAM_ENCRYPT],
    expect: 'allow by identity-policy',
  },
  {
    name: 'key policy Deny for another action leaves this one alone',
    principal: ALICE,
    keyPolicy: keyPolicy(ENABLE_IAM, denyKey('*', 'kms:Decrypt')),
    identity: [IAM_ENCRYPT],
    expect: 'allow by identity-policy',
  },
  {
    name: 'IAM Deny beats a key policy Allow naming the user',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:*')),
    identity: [iamPolicy(denyIam('kms:Encrypt'))],
    expect: 'deny: explicit in identity policy',
  },
  {
    name: 'IAM Deny in one policy beats an IAM Allow in another',
    principal: ALICE,
    identity: [IAM_ENCRYPT, iamPolicy(denyIam('kms:*', KEY))],
    expect: 'deny: explicit in identity policy',
  },
  {
    name: 'IAM Deny beats the grant',
    principal: ALICE,
    identity: [iamPolicy(denyIam('kms:Encrypt'))],
    grants: [{ grantId: 'g1', granteePrincipal: ALICE, operations: ['Encrypt'] }],
    grantOperation: 'Encrypt',
    expect: 'deny: explicit in identity policy',
  },
  {
    name: 'key policy Deny beats the grant',
    principal: ALICE,
    keyPolicy: keyPolicy(ENABLE_IAM, denyKey({ AWS: ALICE }, 'kms:*')),
    grants: [{ grantId: 'g1', granteePrincipal: ALICE, operations: ['Encrypt'] }],
    grantOperation: 'Encrypt',
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'Deny with both sources reports the key policy',
    principal: ALICE,
    keyPolicy: keyPolicy(ENABLE_IAM, denyKey('*', 'kms:*')),
    identity: [iamPolicy(denyIam('kms:*'))],
    expect: 'deny: explicit in key policy',
  },
])

// ---------------------------------------------------------------------------------------
// Grants

/** A key policy that lets nobody in: only grants can allow. */
const LOCKED = keyPolicy(allowKey({ AWS: BOB }, 'kms:DescribeKey'))
const grant = (
  operations: string[],
  constraints?: GrantForAuthorization['constraints'],
  grantee = ALICE,
  grantId = 'grant-1',
): GrantForAuthorization =>
  constraints === undefined
    ? { grantId, granteePrincipal: grantee, operations }
    : { grantId, granteePrincipal: grantee, operations, constraints }

runTable('grants', [
  {
    name: 'a grant for the caller covering the operation allows',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'])],
    grantOperation: 'Encrypt',
    expect: 'allow by grant',
    grantId: 'grant-1',
  },
  {
    name: 'the grant that allows is the one reported',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Decrypt'], undefined, ALICE, 'g-a'), grant(['Encrypt'], undefined, ALICE, 'g-b')],
    grantOperation: 'Encrypt',
    expect: 'allow by grant',
    grantId: 'g-b',
  },
  {
    name: 'a grant for another principal does not apply',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'], undefined, BOB)],
    grantOperation: 'Encrypt',
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'a grant without the operation does not apply',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Decrypt', 'GenerateDataKey'])],
    grantOperation: 'Encrypt',
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'no grant operation: grants are not considered (PutKeyPolicy)',
    principal: ALICE,
    action: 'kms:PutKeyPolicy',
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt', 'CreateGrant'])],
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'ReEncryptFrom is its own operation',
    principal: ALICE,
    action: 'kms:ReEncryptFrom',
    keyPolicy: LOCKED,
    grants: [grant(['ReEncryptTo'])],
    grantOperation: 'ReEncryptFrom',
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Equals: the same context allows',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'], { encryptionContextEquals: { Department: 'IT' } })],
    grantOperation: 'Encrypt',
    encryptionContext: { Department: 'IT' },
    expect: 'allow by grant',
  },
  {
    name: 'Equals: a missing pair denies',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'], { encryptionContextEquals: { Department: 'IT', Project: 'Alpha' } })],
    grantOperation: 'Encrypt',
    encryptionContext: { Department: 'IT' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Equals: an extra pair denies',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'], { encryptionContextEquals: { Department: 'IT' } })],
    grantOperation: 'Encrypt',
    encryptionContext: { Department: 'IT', Project: 'Alpha' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Equals: no context denies',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'], { encryptionContextEquals: { Department: 'IT' } })],
    grantOperation: 'Encrypt',
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Equals: a value differing in case denies',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'], { encryptionContextEquals: { Department: 'IT' } })],
    grantOperation: 'Encrypt',
    encryptionContext: { Department: 'it' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Equals: a key differing in case allows (keys ignore case in grants)',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'], { encryptionContextEquals: { Department: 'IT' } })],
    grantOperation: 'Encrypt',
    encryptionContext: { department: 'IT' },
    expect: 'allow by grant',
  },
  {
    name: 'Subset: extra pairs are fine',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Decrypt'], { encryptionContextSubset: { Department: 'IT' } })],
    action: 'kms:Decrypt',
    grantOperation: 'Decrypt',
    encryptionContext: { Department: 'IT', Project: 'Alpha' },
    expect: 'allow by grant',
  },
  {
    name: 'Subset: a missing pair denies',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Decrypt'], { encryptionContextSubset: { Department: 'IT' } })],
    action: 'kms:Decrypt',
    grantOperation: 'Decrypt',
    encryptionContext: { Project: 'Alpha' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Subset: a value differing in case denies',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Decrypt'], { encryptionContextSubset: { Department: 'IT' } })],
    action: 'kms:Decrypt',
    grantOperation: 'Decrypt',
    encryptionContext: { Department: 'It' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Subset: the empty subset is always satisfied',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Decrypt'], { encryptionContextSubset: {} })],
    action: 'kms:Decrypt',
    grantOperation: 'Decrypt',
    expect: 'allow by grant',
  },
  {
    name: 'constraints are not applied to DescribeKey',
    principal: ALICE,
    action: 'kms:DescribeKey',
    keyPolicy: LOCKED,
    grants: [grant(['DescribeKey'], { encryptionContextEquals: { Department: 'IT' } })],
    grantOperation: 'DescribeKey',
    expect: 'allow by grant',
  },
  {
    name: 'constraints are not applied when the key takes no context (asymmetric)',
    principal: ALICE,
    keyPolicy: LOCKED,
    grants: [grant(['Encrypt'], { encryptionContextSubset: { Department: 'IT' } })],
    grantOperation: 'Encrypt',
    encryptionContextApplies: false,
    expect: 'allow by grant',
  },
  {
    name: 'a key policy Allow is reported before a grant',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:Encrypt')),
    grants: [grant(['Encrypt'])],
    grantOperation: 'Encrypt',
    expect: 'allow by key-policy',
  },
  {
    name: 'a grant helps a user the default policy delegates to IAM',
    principal: ALICE,
    grants: [grant(['Encrypt'])],
    grantOperation: 'Encrypt',
    expect: 'allow by grant',
  },
])

// ---------------------------------------------------------------------------------------
// Conditions

/** A key policy letting anyone in the account encrypt under the given condition block. */
const whenKey = (condition: Json, effect: 'Allow' | 'Deny' = 'Allow'): Json =>
  effect === 'Allow'
    ? keyPolicy(allowKey({ AWS: '*' }, 'kms:*', { Condition: condition }))
    : keyPolicy(allowKey({ AWS: '*' }, 'kms:*'), denyKey({ AWS: '*' }, 'kms:*', { Condition: condition }))

runTable('conditions: encryption context', [
  {
    name: 'kms:EncryptionContext:<k> StringEquals: matching pair',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }),
    encryptionContext: { Department: 'IT' },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:EncryptionContext:<k> StringEquals: other pairs are permitted',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }),
    encryptionContext: { Department: 'IT', Project: 'Alpha' },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:EncryptionContext:<k> StringEquals: the value is case-sensitive',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }),
    encryptionContext: { Department: 'it' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'kms:EncryptionContext:<k>: the context key is NOT case-sensitive (AWS)',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }),
    encryptionContext: { department: 'IT' },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:EncryptionContext:<k>: the prefix is not case-sensitive either',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'KMS:ENCRYPTIONCONTEXT:DEPARTMENT': 'IT' } }),
    encryptionContext: { Department: 'IT' },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:EncryptionContext:<k>: the pair is missing',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }),
    encryptionContext: { Project: 'Alpha' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'kms:EncryptionContext:<k>: no context at all',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'kms:EncryptionContext:<k>: values of one key are alternatives',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Stage': ['Test', 'Prod'] } }),
    encryptionContext: { Stage: 'Prod' },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:EncryptionContext:<k>: two keys must both hold',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Department': 'IT', 'kms:EncryptionContext:Project': 'Alpha' } }),
    encryptionContext: { Department: 'IT', Project: 'Beta' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'StringEqualsIgnoreCase ignores the value case',
    principal: ALICE,
    keyPolicy: whenKey({ StringEqualsIgnoreCase: { 'kms:EncryptionContext:Department': 'IT' } }),
    encryptionContext: { Department: 'it' },
    expect: 'allow by key-policy',
  },
  {
    name: 'StringNotEqualsIgnoreCase on a Deny',
    principal: ALICE,
    keyPolicy: whenKey({ StringNotEqualsIgnoreCase: { 'kms:EncryptionContext:Department': 'it' } }, 'Deny'),
    encryptionContext: { Department: 'IT' },
    expect: 'allow by key-policy',
  },
  {
    name: 'StringLike with * and ?',
    principal: ALICE,
    keyPolicy: whenKey({ StringLike: { 'kms:EncryptionContext:Path': '/home/*/docs/?.txt' } }),
    encryptionContext: { Path: '/home/alice/docs/a.txt' },
    expect: 'allow by key-policy',
  },
  {
    name: 'StringLike: ? is exactly one character',
    principal: ALICE,
    keyPolicy: whenKey({ StringLike: { 'kms:EncryptionContext:Path': '/home/*/docs/?.txt' } }),
    encryptionContext: { Path: '/home/alice/docs/ab.txt' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'StringNotLike on a Deny, value matches the pattern: no deny',
    principal: ALICE,
    keyPolicy: whenKey({ StringNotLike: { 'kms:EncryptionContext:Path': '/public/*' } }, 'Deny'),
    encryptionContext: { Path: '/public/x' },
    expect: 'allow by key-policy',
  },
  {
    name: 'StringNotLike on a Deny, absent key: negated operator matches, deny',
    principal: ALICE,
    keyPolicy: whenKey({ StringNotLike: { 'kms:EncryptionContext:Path': '/public/*' } }, 'Deny'),
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'Deny StringNotEquals on an absent key denies',
    principal: ALICE,
    keyPolicy: whenKey({ StringNotEquals: { 'kms:EncryptionContext:Stage': 'Prod' } }, 'Deny'),
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'Deny StringNotEqualsIfExists on an absent key denies (IfExists holds when the key is absent)',
    principal: ALICE,
    keyPolicy: whenKey({ StringNotEqualsIfExists: { 'kms:EncryptionContext:Stage': 'Prod' } }, 'Deny'),
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'Deny StringEqualsIfExists on an absent key denies too',
    principal: ALICE,
    keyPolicy: whenKey({ StringEqualsIfExists: { 'kms:EncryptionContext:Stage': 'Prod' } }, 'Deny'),
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'Deny StringEquals on an absent key does not deny',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:Stage': 'Prod' } }, 'Deny'),
    expect: 'allow by key-policy',
  },
  {
    name: 'Deny StringNotEqualsIfExists on a present wrong value denies',
    principal: ALICE,
    keyPolicy: whenKey({ StringNotEqualsIfExists: { 'kms:EncryptionContext:Stage': 'Prod' } }, 'Deny'),
    encryptionContext: { Stage: 'Test' },
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'StringEqualsIfExists on an absent key holds',
    principal: ALICE,
    keyPolicy: whenKey({ StringEqualsIfExists: { 'kms:EncryptionContext:Stage': 'Prod' } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'StringEqualsIfExists on a present wrong value fails',
    principal: ALICE,
    keyPolicy: whenKey({ StringEqualsIfExists: { 'kms:EncryptionContext:Stage': 'Prod' } }),
    encryptionContext: { Stage: 'Test' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'ForAnyValue kms:EncryptionContextKeys: one key matches',
    principal: ALICE,
    keyPolicy: whenKey({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'AppName' } }),
    encryptionContext: { AppName: 'Helper', Project: 'Alpha' },
    expect: 'allow by key-policy',
  },
  {
    name: 'ForAnyValue kms:EncryptionContextKeys: no key matches',
    principal: ALICE,
    keyPolicy: whenKey({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'AppName' } }),
    encryptionContext: { Project: 'Alpha' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'ForAnyValue kms:EncryptionContextKeys: absent key fails',
    principal: ALICE,
    keyPolicy: whenKey({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'AppName' } }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'ForAnyValue kms:EncryptionContextKeys: StringEquals is case-sensitive on keys',
    principal: ALICE,
    keyPolicy: whenKey({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'AppName' } }),
    encryptionContext: { appname: 'x' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'ForAllValues kms:EncryptionContextKeys: all keys listed',
    principal: ALICE,
    keyPolicy: whenKey({ 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['AppName', 'Project'] } }),
    encryptionContext: { AppName: 'a' },
    expect: 'allow by key-policy',
  },
  {
    name: 'ForAllValues kms:EncryptionContextKeys: an unlisted key',
    principal: ALICE,
    keyPolicy: whenKey({ 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['AppName', 'Project'] } }),
    encryptionContext: { AppName: 'a', Other: 'b' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'ForAllValues kms:EncryptionContextKeys: absent key holds',
    principal: ALICE,
    keyPolicy: whenKey({ 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['AppName'] } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'ForAllValues plus a required pair: the documented exact-context policy',
    principal: ALICE,
    keyPolicy: whenKey({
      StringEquals: { 'kms:EncryptionContext:AppName': 'ExampleApp' },
      'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['AppName'] },
    }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'ForAnyValue:StringLike over keys',
    principal: ALICE,
    keyPolicy: whenKey({ 'ForAnyValue:StringLike': { 'kms:EncryptionContextKeys': 'aws:*' } }),
    encryptionContext: { 'aws:s3:arn': 'x' },
    expect: 'allow by key-policy',
  },
  {
    name: 'Null false on kms:EncryptionContextKeys requires a context',
    principal: ALICE,
    keyPolicy: whenKey({ Null: { 'kms:EncryptionContextKeys': false } }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Null false on kms:EncryptionContextKeys with a context',
    principal: ALICE,
    keyPolicy: whenKey({ Null: { 'kms:EncryptionContextKeys': 'false' } }),
    encryptionContext: { a: 'b' },
    expect: 'allow by key-policy',
  },
  {
    name: 'Null true requires the key to be absent',
    principal: ALICE,
    keyPolicy: whenKey({ Null: { 'kms:EncryptionContextKeys': true } }),
    encryptionContext: { a: 'b' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'an empty encryption context counts as none',
    principal: ALICE,
    keyPolicy: whenKey({ Null: { 'kms:EncryptionContextKeys': true } }),
    encryptionContext: {},
    expect: 'allow by key-policy',
  },
])

runTable('conditions: other KMS and global keys', [
  {
    name: 'kms:CallerAccount (derived from the request)',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:CallerAccount': ACCOUNT } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:CallerAccount given by the context wins',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:CallerAccount': ACCOUNT } }),
    context: { 'kms:CallerAccount': '444455556666' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'condition key names ignore case',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'KMS:CALLERACCOUNT': ACCOUNT } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:KeySpec matches',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' } }),
    context: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:KeySpec differs',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' } }),
    context: { 'kms:KeySpec': 'RSA_2048' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'kms:KeyUsage StringLike',
    principal: ALICE,
    keyPolicy: whenKey({ StringLike: { 'kms:KeyUsage': 'ENCRYPT_*' } }),
    context: { 'kms:KeyUsage': 'ENCRYPT_DECRYPT' },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:KeyOrigin Deny on EXTERNAL',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:KeyOrigin': 'EXTERNAL' } }, 'Deny'),
    context: { 'kms:KeyOrigin': 'EXTERNAL' },
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'kms:RequestAlias StringLike matches',
    principal: ALICE,
    keyPolicy: whenKey({ StringLike: { 'kms:RequestAlias': 'alias/app-*' } }),
    context: { 'kms:RequestAlias': 'alias/app-prod' },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:RequestAlias StringLike does not match',
    principal: ALICE,
    keyPolicy: whenKey({ StringLike: { 'kms:RequestAlias': 'alias/app-*' } }),
    context: { 'kms:RequestAlias': 'alias/other' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'kms:RequestAlias absent (key ID used)',
    principal: ALICE,
    keyPolicy: whenKey({ StringLike: { 'kms:RequestAlias': 'alias/app-*' } }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'kms:GrantOperations ForAllValues: a subset',
    principal: ALICE,
    action: 'kms:CreateGrant',
    keyPolicy: whenKey({ 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Encrypt', 'Decrypt'] } }),
    context: { 'kms:GrantOperations': ['Encrypt'] },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:GrantOperations ForAllValues: one too many',
    principal: ALICE,
    action: 'kms:CreateGrant',
    keyPolicy: whenKey({ 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Encrypt', 'Decrypt'] } }),
    context: { 'kms:GrantOperations': ['Encrypt', 'CreateGrant'] },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'kms:GrantOperations ForAnyValue on a Deny',
    principal: ALICE,
    action: 'kms:CreateGrant',
    keyPolicy: whenKey({ 'ForAnyValue:StringEquals': { 'kms:GrantOperations': 'CreateGrant' } }, 'Deny'),
    context: { 'kms:GrantOperations': ['Decrypt', 'CreateGrant'] },
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'kms:GrantIsForAWSResource Bool true',
    principal: ALICE,
    action: 'kms:CreateGrant',
    keyPolicy: whenKey({ Bool: { 'kms:GrantIsForAWSResource': 'true' } }),
    context: { 'kms:GrantIsForAWSResource': true },
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:GrantIsForAWSResource Bool true vs false',
    principal: ALICE,
    action: 'kms:CreateGrant',
    keyPolicy: whenKey({ Bool: { 'kms:GrantIsForAWSResource': true } }),
    context: { 'kms:GrantIsForAWSResource': false },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Bool on an absent key fails',
    principal: ALICE,
    action: 'kms:CreateGrant',
    keyPolicy: whenKey({ Bool: { 'kms:GrantIsForAWSResource': true } }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'BoolIfExists on an absent key holds',
    principal: ALICE,
    action: 'kms:CreateGrant',
    keyPolicy: whenKey({ BoolIfExists: { 'kms:GrantIsForAWSResource': true } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'Bool accepts "TRUE" in the context',
    principal: ALICE,
    keyPolicy: whenKey({ Bool: { 'aws:SecureTransport': 'true' } }),
    context: { 'aws:SecureTransport': 'TRUE' },
    expect: 'allow by key-policy',
  },
  {
    name: 'aws:SecureTransport false denied',
    principal: ALICE,
    keyPolicy: whenKey({ Bool: { 'aws:SecureTransport': 'false' } }, 'Deny'),
    context: { 'aws:SecureTransport': false },
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'kms:ViaService absent',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'aws:PrincipalArn ArnLike user/* allows a user',
    principal: ALICE,
    keyPolicy: whenKey({ ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:user/*` } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'aws:PrincipalArn ArnLike user/* does not allow root',
    principal: ROOT,
    keyPolicy: whenKey({ ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:user/*` } }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'aws:PrincipalArn ArnEquals takes wildcards per component',
    principal: ALICE,
    keyPolicy: whenKey({ ArnEquals: { 'aws:PrincipalArn': 'arn:aws:iam::*:user/alice' } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'ArnLike: "*" alone matches any ARN',
    principal: ALICE,
    keyPolicy: whenKey({ ArnLike: { 'aws:PrincipalArn': '*' } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'ArnLike: a value that is not a six-part ARN matches nothing',
    principal: ALICE,
    keyPolicy: whenKey({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam:*:user/alice' } }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'ArnNotLike on a Deny excludes the named users',
    principal: ALICE,
    keyPolicy: whenKey({ ArnNotLike: { 'aws:PrincipalArn': [ALICE, ROOT] } }, 'Deny'),
    expect: 'allow by key-policy',
  },
  {
    name: 'ArnNotEquals on a Deny catches everyone else',
    principal: BOB,
    keyPolicy: whenKey({ ArnNotEquals: { 'aws:PrincipalArn': [ALICE, ROOT] } }, 'Deny'),
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'aws:PrincipalAccount derived',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'aws:PrincipalAccount': ACCOUNT } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'aws:PrincipalType of root is Account',
    principal: ROOT,
    keyPolicy: whenKey({ StringEquals: { 'aws:PrincipalType': 'Account' } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'NumericGreaterThanEquals holds',
    principal: ALICE,
    action: 'kms:ScheduleKeyDeletion',
    keyPolicy: whenKey({ NumericGreaterThanEquals: { 'kms:ScheduleKeyDeletionPendingWindowInDays': 7 } }),
    context: { 'kms:ScheduleKeyDeletionPendingWindowInDays': 7 },
    expect: 'allow by key-policy',
  },
  {
    name: 'NumericGreaterThanEquals fails',
    principal: ALICE,
    action: 'kms:ScheduleKeyDeletion',
    keyPolicy: whenKey({ NumericGreaterThanEquals: { 'kms:ScheduleKeyDeletionPendingWindowInDays': '7' } }),
    context: { 'kms:ScheduleKeyDeletionPendingWindowInDays': 3 },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'NumericLessThan with a string context value',
    principal: ALICE,
    keyPolicy: whenKey({ NumericLessThan: { 'kms:Custom': 10 } }),
    context: { 'kms:Custom': '9.5' },
    expect: 'allow by key-policy',
  },
  {
    name: 'NumericNotEquals on an absent key holds',
    principal: ALICE,
    keyPolicy: whenKey({ NumericNotEquals: { 'kms:Custom': 10 } }),
    expect: 'allow by key-policy',
  },
  {
    name: 'DateLessThan against aws:CurrentTime',
    principal: ALICE,
    keyPolicy: whenKey({ DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } }),
    context: { 'aws:CurrentTime': '2026-05-01T12:00:00Z' },
    expect: 'allow by key-policy',
  },
  {
    name: 'DateGreaterThan with epoch seconds',
    principal: ALICE,
    keyPolicy: whenKey({ DateGreaterThan: { 'aws:EpochTime': 1700000000 } }),
    context: { 'aws:EpochTime': 1600000000 },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'IpAddress inside the range',
    principal: ALICE,
    keyPolicy: whenKey({ IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8::/32'] } }),
    context: { 'aws:SourceIp': '203.0.113.7' },
    expect: 'allow by key-policy',
  },
  {
    name: 'IpAddress IPv6 inside the range',
    principal: ALICE,
    keyPolicy: whenKey({ IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8::/32'] } }),
    context: { 'aws:SourceIp': '2001:db8::1' },
    expect: 'allow by key-policy',
  },
  {
    name: 'NotIpAddress on a Deny outside the range',
    principal: ALICE,
    keyPolicy: whenKey({ NotIpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, 'Deny'),
    context: { 'aws:SourceIp': '198.51.100.1' },
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'all operators of a block must hold',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:CallerAccount': ACCOUNT }, Bool: { 'aws:SecureTransport': 'true' } }),
    context: { 'aws:SecureTransport': false },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'conditions in IAM policies',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:Encrypt', '*', { Condition: { StringEquals: { 'kms:EncryptionContext:Team': 'blue' } } }))],
    encryptionContext: { Team: 'blue' },
    expect: 'allow by identity-policy',
  },
  {
    name: 'conditions in IAM policies that fail',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:Encrypt', '*', { Condition: { StringEquals: { 'kms:EncryptionContext:Team': 'blue' } } }))],
    encryptionContext: { Team: 'red' },
    expect: 'deny: no identity-based allow',
  },
  {
    name: 'conditions on the delegating key policy statement',
    principal: ALICE,
    keyPolicy: keyPolicy({ ...ENABLE_IAM, Condition: { Bool: { 'aws:SecureTransport': 'true' } } }),
    identity: [IAM_ENCRYPT],
    expect: 'deny: no resource-based allow',
  },
])

runTable('policy variables', [
  {
    name: '${aws:username} resolves to the caller',
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:user': '${aws:username}' } }),
    encryptionContext: { user: 'alice' },
    expect: 'allow by key-policy',
  },
  {
    name: "${aws:username} does not match another user's context",
    principal: ALICE,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:user': '${aws:username}' } }),
    encryptionContext: { user: 'bob' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: '${aws:username} has no value for root: the statement is void',
    principal: ROOT,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:user': '${aws:username}' } }),
    encryptionContext: { user: '${aws:username}' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'a default value fills the gap',
    principal: ROOT,
    keyPolicy: whenKey({ StringEquals: { 'kms:EncryptionContext:user': "${aws:username, 'root'}" } }),
    encryptionContext: { user: 'root' },
    expect: 'allow by key-policy',
  },
  {
    name: 'a void Deny denies nothing',
    principal: ROOT,
    keyPolicy: whenKey({ StringNotEquals: { 'kms:EncryptionContext:user': '${aws:username}' } }, 'Deny'),
    expect: 'allow by key-policy',
  },
  {
    name: 'substituted text is literal in StringLike',
    principal: ALICE,
    keyPolicy: whenKey({ StringLike: { 'kms:EncryptionContext:path': '/home/${aws:username}/*' } }),
    encryptionContext: { path: '/home/alice/file' },
    expect: 'allow by key-policy',
  },
  {
    name: '${*} is a literal asterisk',
    principal: ALICE,
    keyPolicy: whenKey({ StringLike: { 'kms:EncryptionContext:tag': 'a${*}' } }),
    encryptionContext: { tag: 'abc' },
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'variables in Resource of an IAM policy',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:Encrypt', `arn:aws:kms:*:\${aws:PrincipalAccount}:key/*`))],
    expect: 'allow by identity-policy',
  },
  {
    name: 'Version 2008-10-17 has no variables: the text is literal',
    principal: ALICE,
    keyPolicy: {
      Version: '2008-10-17',
      Statement: [allowKey({ AWS: '*' }, 'kms:*', { Condition: { StringEquals: { 'kms:EncryptionContext:user': '${aws:username}' } } })],
    },
    encryptionContext: { user: '${aws:username}' },
    expect: 'allow by key-policy',
  },
  {
    name: 'a policy without Version is 2008-10-17',
    principal: ALICE,
    keyPolicy: {
      Statement: [allowKey({ AWS: '*' }, 'kms:*', { Condition: { StringEquals: { 'kms:EncryptionContext:user': '${aws:username}' } } })],
    },
    encryptionContext: { user: 'alice' },
    expect: 'deny: no resource-based allow',
  },
])

// ---------------------------------------------------------------------------------------
// Action, Resource and Principal forms

runTable('Action, NotAction, NotResource, NotPrincipal', [
  {
    name: 'action names ignore case',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'KMS:ENCRYPT')),
    action: 'kms:encrypt',
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:Generate* covers GenerateDataKey',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:Generate*')),
    action: 'kms:GenerateDataKey',
    expect: 'allow by key-policy',
  },
  {
    name: 'kms:Generate* does not cover Encrypt',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:Generate*')),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'kms:?ncrypt covers Encrypt',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:?ncrypt')),
    expect: 'allow by key-policy',
  },
  {
    name: 'Action "*" covers everything',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, '*')),
    action: 'kms:ScheduleKeyDeletion',
    expect: 'allow by key-policy',
  },
  {
    name: 'another service prefix does not cover kms',
    principal: ALICE,
    keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 's3:*')),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'NotAction allows what it does not name',
    principal: ALICE,
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: ALICE }, NotAction: 'kms:Decrypt', Resource: '*' }),
    expect: 'allow by key-policy',
  },
  {
    name: 'NotAction does not allow what it names',
    principal: ALICE,
    action: 'kms:Decrypt',
    keyPolicy: keyPolicy({ Effect: 'Allow', Principal: { AWS: ALICE }, NotAction: 'kms:Decrypt', Resource: '*' }),
    expect: 'deny: no resource-based allow',
  },
  {
    name: 'Deny NotAction denies everything else',
    principal: ALICE,
    action: 'kms:ScheduleKeyDeletion',
    keyPolicy: keyPolicy(ENABLE_IAM, {
      Effect: 'Deny',
      Principal: { AWS: ALICE },
      NotAction: ['kms:Encrypt', 'kms:Decrypt'],
      Resource: '*',
    }),
    identity: [iamPolicy(allowIam('kms:*'))],
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'NotResource in IAM excludes the named key',
    principal: ALICE,
    identity: [iamPolicy({ Effect: 'Allow', Action: 'kms:*', NotResource: KEY })],
    expect: 'deny: no identity-based allow',
  },
  {
    name: 'NotResource in IAM includes other keys',
    principal: ALICE,
    identity: [iamPolicy({ Effect: 'Allow', Action: 'kms:*', NotResource: OTHER_KEY })],
    expect: 'allow by identity-policy',
  },
  {
    name: 'IAM Deny with NotResource spares the named key',
    principal: ALICE,
    identity: [iamPolicy(allowIam('kms:*'), { Effect: 'Deny', Action: 'kms:*', NotResource: KEY })],
    expect: 'allow by identity-policy',
  },
  {
    name: 'Deny NotPrincipal spares the named user',
    principal: ALICE,
    keyPolicy: keyPolicy(ENABLE_IAM, { Effect: 'Deny', NotPrincipal: { AWS: [ALICE, ROOT] }, Action: 'kms:*', Resource: '*' }),
    identity: [IAM_ENCRYPT],
    expect: 'allow by identity-policy',
  },
  {
    name: 'Deny NotPrincipal catches other users',
    principal: BOB,
    keyPolicy: keyPolicy(ENABLE_IAM, { Effect: 'Deny', NotPrincipal: { AWS: [ALICE, ROOT] }, Action: 'kms:*', Resource: '*' }),
    identity: [IAM_ENCRYPT],
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'Deny NotPrincipal spares root when the account is named',
    principal: ROOT,
    keyPolicy: keyPolicy(ENABLE_IAM, { Effect: 'Deny', NotPrincipal: { AWS: [ALICE, ACCOUNT] }, Action: 'kms:*', Resource: '*' }),
    expect: 'allow by key-policy',
  },
  {
    name: 'Deny NotPrincipal naming only the account still catches its users',
    principal: ALICE,
    keyPolicy: keyPolicy(ENABLE_IAM, { Effect: 'Deny', NotPrincipal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' }),
    identity: [IAM_ENCRYPT],
    expect: 'deny: explicit in key policy',
  },
  {
    name: 'Allow NotPrincipal allows everyone else directly',
    principal: ALICE,
    keyPolicy: keyPolicy({ Effect: 'Allow', NotPrincipal: { AWS: BOB }, Action: 'kms:*', Resource: '*' }),
    expect: 'allow by key-policy',
  },
  {
    name: 'Allow NotPrincipal does not allow the named user',
    principal: BOB,
    keyPolicy: keyPolicy({ Effect: 'Allow', NotPrincipal: { AWS: BOB }, Action: 'kms:*', Resource: '*' }),
    expect: 'deny: no resource-based allow',
  },
])

runTable("actions on '*' (no key policy)", [
  {
    name: 'root may create keys without any policy',
    principal: ROOT,
    action: 'kms:CreateKey',
    keyPolicy: null,
    expect: 'allow by identity-policy',
  },
  {
    name: 'a user without IAM policies may not',
    principal: ALICE,
    action: 'kms:CreateKey',
    keyPolicy: null,
    expect: 'deny: no identity-based allow',
  },
  {
    name: 'a user with an IAM Allow on * may',
    principal: ALICE,
    action: 'kms:CreateKey',
    keyPolicy: null,
    identity: [iamPolicy(allowIam('kms:CreateKey'))],
    expect: 'allow by identity-policy',
  },
  {
    name: 'an IAM Allow on key ARNs does not cover *',
    principal: ALICE,
    action: 'kms:CreateKey',
    keyPolicy: null,
    identity: [iamPolicy(allowIam('kms:*', `arn:aws:kms:*:${ACCOUNT}:key/*`))],
    expect: 'deny: no identity-based allow',
  },
  {
    name: 'an IAM Deny stops a user',
    principal: ALICE,
    action: 'kms:ListKeys',
    keyPolicy: null,
    identity: [iamPolicy(allowIam('kms:*'), denyIam('kms:List*'))],
    expect: 'deny: explicit in identity policy',
  },
  {
    name: 'an IAM Deny does not stop root',
    principal: ROOT,
    action: 'kms:ListKeys',
    keyPolicy: null,
    identity: [iamPolicy(denyIam('kms:*'))],
    expect: 'allow by identity-policy',
  },
  {
    name: 'kms:KeySpec on CreateKey',
    principal: ALICE,
    action: 'kms:CreateKey',
    keyPolicy: null,
    identity: [iamPolicy(allowIam('kms:CreateKey', '*', { Condition: { StringEquals: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' } } }))],
    context: { 'kms:KeySpec': 'RSA_4096' },
    expect: 'deny: no identity-based allow',
  },
])

// ---------------------------------------------------------------------------------------
// Lockout safety check

describe('policy lockout safety check', () => {
  const check = (policy: Json, principal: string, identity: Json[] = []): boolean =>
    allowsFuturePolicyUpdate(
      parsePolicyValue(policy, 'key'),
      { partition: 'aws', account: ACCOUNT, principalArn: principal, resource: KEY },
      identity.map((p) => parsePolicyValue(p, 'identity')),
    )

  test('a policy that does not name the caller fails', () => assert.equal(check(keyPolicy(allowKey({ AWS: BOB }, 'kms:*')), ALICE), false))
  test('the default policy passes for root', () => assert.equal(check(DEFAULT_POLICY, ROOT), true))
  test('the default policy passes for a user whose IAM policy allows PutKeyPolicy', () =>
    assert.equal(check(DEFAULT_POLICY, ALICE, [iamPolicy(allowIam('kms:PutKeyPolicy'))]), true))
  test('the default policy fails for a user without IAM permission', () =>
    assert.equal(check(DEFAULT_POLICY, ALICE, [iamPolicy(allowIam('kms:Encrypt'))]), false))
  test('a policy naming the caller for PutKeyPolicy passes', () =>
    assert.equal(check(keyPolicy(allowKey({ AWS: ALICE }, 'kms:PutKeyPolicy')), ALICE), true))
  test('a policy allowing the caller everything but PutKeyPolicy fails', () =>
    assert.equal(check(keyPolicy(allowKey({ AWS: ALICE }, ['kms:Encrypt', 'kms:GetKeyPolicy'])), ALICE), false))
  test('a Deny of PutKeyPolicy fails even with the root statement', () =>
    assert.equal(check(keyPolicy(ENABLE_IAM, denyKey('*', 'kms:PutKeyPolicy')), ROOT), false))
  test('an IAM Deny of PutKeyPolicy fails a user', () =>
    assert.equal(check(DEFAULT_POLICY, ALICE, [iamPolicy(allowIam('kms:*'), denyIam('kms:PutKeyPolicy'))]), false))
  test('a condition the empty context cannot meet fails', () =>
    assert.equal(
      check(keyPolicy(allowKey({ AWS: ROOT }, 'kms:*', { Condition: { Bool: { 'aws:SecureTransport': 'true' } } })), ROOT),
      false,
    ))
  test('a condition on who the caller is holds', () =>
    assert.equal(
      check(keyPolicy(allowKey({ AWS: '*' }, 'kms:*', { Condition: { StringEquals: { 'aws:PrincipalArn': ALICE } } })), ALICE),
      true,
    ))
})

// ---------------------------------------------------------------------------------------
// AccessDeniedException messages

describe('AccessDeniedException messages', () => {
  const message = (row: Row): string => {
    const { request, decision } = decide(row)
    return accessDeniedMessage(request, decision)
  }
  test('no resource-based policy allows', () =>
    assert.equal(
      message({
        name: '',
        principal: ROOT,
        action: 'kms:Decrypt',
        keyPolicy: keyPolicy(allowKey({ AWS: ALICE }, 'kms:*')),
        expect: 'deny: no resource-based allow',
      }),
      `User: ${ROOT} is not authorized to perform: kms:Decrypt on resource: ${KEY} because no resource-based policy allows the kms:Decrypt action`,
    ))
  test('no identity-based policy allows', () =>
    assert.equal(
      message({ name: '', principal: ALICE, action: 'kms:DescribeKey', expect: 'deny: no identity-based allow' }),
      `User: ${ALICE} is not authorized to perform: kms:DescribeKey on resource: ${KEY} because no identity-based policy allows the kms:DescribeKey action`,
    ))
  test('no identity-based policy allows, on resource *', () =>
    assert.equal(
      message({ name: '', principal: ALICE, action: 'kms:CreateKey', keyPolicy: null, expect: 'deny: no identity-based allow' }),
      `User: ${ALICE} is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action`,
    ))
  test('explicit deny in a resource-based policy', () =>
    assert.equal(
      message({
        name: '',
        principal: ALICE,
        action: 'kms:Decrypt',
        keyPolicy: keyPolicy(denyKey('*', 'kms:Decrypt')),
        expect: 'deny: explicit in key policy',
      }),
      `User: ${ALICE} is not authorized to perform: kms:Decrypt on resource: ${KEY} with an explicit deny in a resource-based policy`,
    ))
  test('explicit deny in an identity-based policy', () =>
    assert.equal(
      message({ name: '', principal: ALICE, identity: [iamPolicy(denyIam('kms:*'))], expect: 'deny: explicit in identity policy' }),
      `User: ${ALICE} is not authorized to perform: kms:Encrypt on resource: ${KEY} with an explicit deny in an identity-based policy`,
    ))
  test('an allowed decision has no denial message', () => {
    const { request, decision } = decide({ name: '', principal: ROOT, expect: 'allow by key-policy' })
    assert.throws(() => accessDeniedMessage(request, decision))
  })
})

// ---------------------------------------------------------------------------------------
// Grant constraints on their own, and the decision details

describe('grantConstraintsSatisfied', () => {
  const g = (constraints: GrantForAuthorization['constraints']): GrantForAuthorization => ({
    grantId: 'g',
    granteePrincipal: ALICE,
    operations: ['Decrypt'],
    ...(constraints === undefined ? {} : { constraints }),
  })
  test('no constraints: anything goes', () => assert.equal(grantConstraintsSatisfied(g(undefined), { a: 'b' }), true))
  test('Equals: exact', () =>
    assert.equal(grantConstraintsSatisfied(g({ encryptionContextEquals: { a: 'b', c: 'd' } }), { c: 'd', a: 'b' }), true))
  test('Equals: key case ignored, value case kept', () => {
    assert.equal(grantConstraintsSatisfied(g({ encryptionContextEquals: { Aa: 'b' } }), { aA: 'b' }), true)
    assert.equal(grantConstraintsSatisfied(g({ encryptionContextEquals: { a: 'B' } }), { a: 'b' }), false)
  })
  test('Equals {} matches only the empty context', () => {
    assert.equal(grantConstraintsSatisfied(g({ encryptionContextEquals: {} }), undefined), true)
    assert.equal(grantConstraintsSatisfied(g({ encryptionContextEquals: {} }), { a: 'b' }), false)
  })
  test('both constraints must hold', () =>
    assert.equal(
      grantConstraintsSatisfied(g({ encryptionContextEquals: { a: 'b' }, encryptionContextSubset: { c: 'd' } }), { a: 'b' }),
      false,
    ))
})

describe('decision details', () => {
  test('the deciding statement is reported', () => {
    const { decision } = decide({
      name: '',
      principal: ALICE,
      keyPolicy: keyPolicy(ENABLE_IAM, { ...denyKey({ AWS: ALICE }, 'kms:*'), Sid: 'NoAlice' }),
      expect: 'deny: explicit in key policy',
    })
    assert.deepEqual(decision, {
      allowed: false,
      explicitDeny: true,
      deniedBy: 'key-policy',
      statement: { policy: 'key-policy', statementIndex: 1, sid: 'NoAlice' },
    })
  })
  test('the deciding IAM policy is reported by position', () => {
    const { decision } = decide({
      name: '',
      principal: ALICE,
      identity: [iamPolicy(allowIam('kms:Decrypt')), IAM_ENCRYPT],
      expect: 'allow by identity-policy',
    })
    assert.deepEqual(decision, {
      allowed: true,
      by: 'identity-policy',
      statement: { policy: 'identity-policy', policyIndex: 1, statementIndex: 0 },
    })
  })
  test('encryptionContextConditions derives the KMS condition keys', () => {
    assert.deepEqual(encryptionContextConditions({ Dept: 'IT', Project: 'A' }), {
      'kms:EncryptionContext:Dept': 'IT',
      'kms:EncryptionContext:Project': 'A',
      'kms:EncryptionContextKeys': ['Dept', 'Project'],
    })
    assert.deepEqual(encryptionContextConditions({}), {})
    assert.deepEqual(encryptionContextConditions(undefined), {})
  })
  test('identity policies given for root are ignored', () => {
    const policy: PolicyDocument = parsePolicyValue(DEFAULT_POLICY, 'key')
    const decision = authorize(
      { partition: 'aws', account: ACCOUNT, principalArn: ROOT, action: 'kms:Encrypt', resource: KEY, context: {} },
      { keyPolicy: policy, identityPolicies: [parsePolicyValue(iamPolicy(denyIam('*')), 'identity')], grants: [] },
    )
    assert.equal(decision.allowed, true)
  })
})
